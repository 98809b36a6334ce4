/**
 * Keeps instruction words that Unicorn cannot translate away from its
 * decoder, without the guest being able to tell.
 *
 * Unicorn 2.1.1's A64 decoder (QEMU 5.0's translate-a64.c,
 * disas_simd_three_reg_same_fp16) reaches g_assert_not_reached() for eight
 * unallocated "Advanced SIMD three same (FP16)" encodings: the process dies
 * with SIGABRT while *translating*, before any hook runs. QEMU 7.2 makes them
 * UNDEFINED (Arm ARM C4.1.96: unallocated encodings are UNDEFINED). Found by
 * reading that function (its switch handles fpopcode 0x0-0x4, 0x6-0xa,
 * 0xe-0x10, 0x12-0x18, 0x1a, 0x1c-0x1e) and confirmed by
 * scripts/untranslatable-sweep.mjs (every word with any register fields:
 * exactly these, nothing else in the A64 space).
 *
 * How they are kept away: Unicorn only translates code it fetched through a
 * TLB entry our fill hook gave execute permission, so
 *  - a fetch fill scans the 1 KiB page (the vCPU's code-page scan); a page
 *    with such a word is answered with a private *shadow* copy in which each
 *    one is replaced by UDF #0 (0x00000000, permanently UNDEFINED: the same
 *    EC 0x00 syndrome), execute-only, so data reads of that page miss and
 *    are answered with the real page: the guest reads its own bytes;
 *  - no TLB entry is both writable and executable (fetch fills drop W, data
 *    fills drop X): after a write through an entry, code on that page is
 *    fetched through a new fill, and so scanned again, before Unicorn
 *    translates it;
 *  - a page writable through one entry and executable through another (an
 *    alias, or the EL0 and PAN TLBs) is executed from a shadow snapshot even
 *    when clean, so writes through the alias cannot reach the decoder. When
 *    the conflict appears on a write fill, the TLB is flushed once (the run
 *    loop stops the slice) and the page is remembered as aliased. A snapshot
 *    is refreshed at the next fetch fill whose page content changed, and IC
 *    invalidation by the guest flushes the TLB while snapshots exist, so
 *    written code is visible after the cache maintenance the Arm ARM requires
 *    for it (B2.4.4, "Concurrent modification and execution of instructions");
 *  - code translated from a real RAM page is dropped (by physical address)
 *    when a TLB entry that can write the page is made. QEMU's own check of
 *    writes to code pages (TLB_NOTDIRTY) only covers the first store through
 *    a new entry in Unicorn 2.1 (notdirty_write then marks the entry clean,
 *    and tb_gen_code re-arms only entries of the *same* VA): Linux patching
 *    two instructions of a page through the linear map or fixmap alias left
 *    the second one's old translation running (a run restored from a
 *    snapshot, which translates afresh, then took another path).
 * Pages are tracked per 1 KiB RAM page with epochs (a TLB flush is O(1)).
 * The shadow pool lives at SHADOW_PA, which no stage-2 mapping ever targets.
 */
import { Unicorn, Prot, type SharedBlock } from '../unicorn/uc.js';

/** Physical home of the shadow pool: top of the 48-bit PA space, never RAM, MMIO or a stage-2 output. */
export const SHADOW_PA = 0xffff_fff0_0000;
const SLOT = 0x400;
const SLOTS = 256;
/** UDF #0: permanently UNDEFINED (Arm ARM C6.2 "UDF"). */
const UDF0 = 0x0000_0000;

/**
 * Is this one of the words Unicorn 2.1.1 cannot translate?
 *  - "Advanced SIMD three same (FP16)" (0 Q U 01110 a 10 Rm 00 opcode 1 Rn Rd)
 *    with U:a:opcode one of the unallocated 0x05, 0x0b-0x0d, 0x11, 0x19, 0x1b, 0x1f
 *    (disas_simd_three_reg_same_fp16);
 *  - "Advanced SIMD (scalar) two-register miscellaneous (FP16)"
 *    (0 Q U S 1110 a 1111 00 opcode 10 Rn Rd, not S = 1 with Q = 0) with
 *    U:a:opcode not an allocated operation, and FRECPX in the vector form,
 *    FABS / FSQRT in the scalar form (disas_simd_two_reg_misc_fp16's two switches).
 */
export function isUntranslatable(w: number): boolean {
  if (((w & 0x9f60_c400) >>> 0) === 0x0e40_0400) {
    const fpop = ((w >>> 11) & 7) | (((w >>> 23) & 1) << 3) | (((w >>> 29) & 1) << 4);
    return (UNALLOCATED >>> fpop) & 1 ? true : false;
  }
  if (((w & 0x8f7e_0c00) >>> 0) === 0x0e78_0800) {
    const scalar = (w >>> 28) & 1;
    const q = (w >>> 30) & 1;
    if (scalar === 1 && q === 0) return false; // another group (FP data processing)
    const fpop = ((w >>> 12) & 0x1f) | (((w >>> 23) & 1) << 5) | (((w >>> 29) & 1) << 6);
    if (!MISC_ALLOCATED.has(fpop)) return true;
    return scalar === 0 ? fpop === 0x3f : fpop === 0x2f || fpop === 0x7f;
  }
  return false;
}
const UNALLOCATED = (1 << 0x05) | (1 << 0x0b) | (1 << 0x0c) | (1 << 0x0d) | (1 << 0x11) | (1 << 0x19) | (1 << 0x1b) | (1 << 0x1f);
/** fpop values disas_simd_two_reg_misc_fp16's first switch handles (opcode | a << 5 | U << 6). */
const MISC_ALLOCATED = new Set([
  0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x2c, 0x2d, 0x2e, 0x2f, 0x38, 0x39, 0x3a, 0x3b, 0x3d, 0x3f,
  0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x6c, 0x6d, 0x6f, 0x79, 0x7a, 0x7b, 0x7d, 0x7f,
]);

/** Sentinel for the holder arrays: more than one TLB entry may hold the right. */
const MANY = Infinity;
const CHUNK_SHIFT = 10;
const CHUNK_MASK = (1 << CHUNK_SHIFT) - 1;

/** Tracking for 1024 RAM pages (1 MiB). */
interface Chunk {
  xKey: Float64Array;
  xEpoch: Uint32Array;
  wKey: Float64Array;
  wEpoch: Uint32Array;
  /** Seen writable and executable through different entries: always executed from a snapshot. */
  aliased: Uint8Array;
  /** Epoch in which a TLB entry last received the page's snapshot. */
  sEpoch: Uint32Array;
  /** Code may have been translated from the real page since it was last dropped. */
  code: Uint8Array;
  /** Last epoch in which a TLB entry that can write the page was recorded (0: none yet). */
  wLast: Uint32Array;
  /** Epoch of the last code-page scan recorded with noteScan (0: none), and what it found (SCAN_*). */
  scanEpoch: Uint32Array;
  scanInfo: Uint8Array;
}
/** scanInfo bits: a word Unicorn cannot translate; a WFE. */
const SCAN_UNTRANSLATABLE = 1;
const SCAN_WFE = 2;
function newChunk(): Chunk {
  const n = 1 << CHUNK_SHIFT;
  return {
    xKey: new Float64Array(n), xEpoch: new Uint32Array(n), wKey: new Float64Array(n), wEpoch: new Uint32Array(n), aliased: new Uint8Array(n),
    sEpoch: new Uint32Array(n), code: new Uint8Array(n), wLast: new Uint32Array(n), scanEpoch: new Uint32Array(n), scanInfo: new Uint8Array(n),
  };
}
function hold(keys: Float64Array, epochs: Uint32Array, p: number, key: number, epoch: number): void {
  if (epochs[p] === epoch && keys[p] !== key) keys[p] = MANY;
  else keys[p] = key;
  epochs[p] = epoch;
}

export class CodeGuard {
  /** A full TLB flush must happen before the guest runs on (set from the fill hook). */
  flushNeeded = false;
  /** The shadow pool is full: flush translated code and the TLB, then retry the fetch. */
  poolExhausted = false;
  /**
   * Flush Unicorn's TLB now, from inside the fill or system-instruction hook that found the
   * need (and call tlbFlushed): no stop, so where a slice ends does not depend on which fills
   * QEMU asks for, which varies between runs (it resizes its TLB by host time). Without it
   * the guard stops the slice and sets flushNeeded for the run loop.
   */
  flushNow: (() => void) | null = null;
  /** Code must go and this libunicorn cannot drop it by address: flush all translated code (with the TLB flush asked for). */
  codeFlushNeeded = false;
  private epoch = 1;
  // Per RAM 1 KiB page, in 1 MiB chunks made on first touch (RAM may be a
  // terabyte): which TLB entry (key = VA page + MMU index) may execute it /
  // write it, valid only in the current epoch.
  private readonly chunks = new Map<number, Chunk>();
  private lastChunkIndex = -1;
  private lastChunk: Chunk | null = null;
  private liveEpoch = 0;
  /** Scan outcomes (noteScan) of epochs up to this one are forgotten; uc.tbFlushes when last compared. */
  private scanFloor = 0;
  private scanTbFlushes = 0;
  private readonly pool: SharedBlock;
  private readonly poolWords: Uint32Array;
  private nextSlot = 0;
  /** RAM page index -> shadow slot, and the slot's source words at the time it was made. */
  private readonly shadowOf = new Map<number, number>();
  private readonly slotSource = new Uint32Array(SLOTS * (SLOT >>> 2));
  /** Statistics: pages shadowed, words replaced, flushes asked for, code pages dropped before a write. */
  readonly stats = { shadowPages: 0, patchedWords: 0, wxFlushes: 0, codeDrops: 0 };

  constructor(
    private readonly uc: Unicorn,
    private readonly ramBase: number,
    private readonly ramSize: number,
    private readonly ram: { wordsAt(pa: number): { words: Uint32Array; index: number }; readonly block: SharedBlock },
  ) {
    this.scanTbFlushes = uc.tbFlushes;
    this.pool = Unicorn.allocShared(SLOTS * SLOT);
    this.poolWords = new Uint32Array(this.pool.bytes.buffer, this.pool.bytes.byteOffset, (SLOTS * SLOT) >>> 2);
    uc.mapShared(SHADOW_PA, this.pool, Prot.READ | Prot.EXEC);
  }

  private chunk(p: number): Chunk {
    const i = p >>> CHUNK_SHIFT;
    if (i === this.lastChunkIndex) return this.lastChunk!;
    let c = this.chunks.get(i);
    if (c === undefined) {
      c = newChunk();
      this.chunks.set(i, c);
    }
    this.lastChunkIndex = i;
    this.lastChunk = c;
    return c;
  }

  /**
   * The fill handler's code-page scan of RAM page `pa` (1 KiB aligned) found nothing that depends
   * on the VA it is executed at (no LDTR/STTR, no site the EL2 model hooks, no WFE it hooks):
   * remember its outcome (`untranslatable`, `wfe`: such words on the page) for as long as the
   * page cannot have changed, so that later fetch fills of it (after flushes and TLBIs, at any VA)
   * skip the scan (cachedScan). Guest writes reach RAM only through TLB entries this guard records
   * (fill, prefillSiblings, and the native fill cache repeating them within their epoch): the
   * outcome holds while no entry that can write the page has been recorded since the scan's
   * epoch began. Not recorded while such an entry may be live. Writes from outside the CPU
   * (the debugger, Machine writes) are followed by a TB flush (Unicorn.flushTb), which forgets
   * every outcome.
   */
  noteScan(pa: number, untranslatable: boolean, wfe: boolean): void {
    const page = Math.floor((pa - this.ramBase) / SLOT);
    const c = this.chunk(page);
    const p = page & CHUNK_MASK;
    if (c.wLast[p] === this.epoch) return;
    c.scanEpoch[p] = this.epoch;
    c.scanInfo[p] = (untranslatable ? SCAN_UNTRANSLATABLE : 0) | (wfe ? SCAN_WFE : 0);
  }

  /**
   * The outcome noteScan recorded for RAM page `pa` while it still holds: 1 a word Unicorn cannot
   * translate, 0 none; -1 scan the page (none recorded, the page may have been written since, or
   * it has a WFE and WFE is hooked now: `wfeHooked`).
   */
  cachedScan(pa: number, wfeHooked: boolean): number {
    if (this.uc.tbFlushes !== this.scanTbFlushes) {
      this.scanTbFlushes = this.uc.tbFlushes;
      this.scanFloor = this.epoch;
    }
    const page = Math.floor((pa - this.ramBase) / SLOT);
    const c = this.chunk(page);
    const p = page & CHUNK_MASK;
    const s = c.scanEpoch[p]!;
    if (s <= this.scanFloor || c.wLast[p]! >= s) return -1;
    const info = c.scanInfo[p]!;
    if (wfeHooked && (info & SCAN_WFE) !== 0) return -1;
    return info & SCAN_UNTRANSLATABLE;
  }

  /** Every TLB entry is gone (Unicorn's TLB was flushed). */
  tlbFlushed(): void {
    // Also when QEMU flushed by itself (a native TLBI VMALLE1): the native fill cache repeats
    // entries of Unicorn's TLB and must not outlive them.
    this.uc.dropFillCache();
    this.uc.tlbiFront?.clearIcPages();
    this.epoch++;
    this.flushNeeded = false;
  }

  /** Translated code was dropped too: shadow slots can be reused. */
  codeFlushed(): void {
    for (const c of this.chunks.values()) c.code.fill(0);
    this.shadowOf.clear();
    this.nextSlot = 0;
    this.poolExhausted = false;
    this.codeFlushNeeded = false;
  }

  /**
   * Adjust a successful fill of RAM page `out.pa` (1 KiB aligned) for TLB
   * entry `key`. Returns the permissions to install; `out.pa` may be
   * redirected to a shadow page. Returns -1 to refuse the fill (pool full).
   * `untranslatable`: for a fetch, whether the page holds a word isUntranslatable finds, when the
   * caller has just scanned it (the fill handler's code-page scan); absent: scanned here.
   */
  fill(out: { pa: number; perms: number }, key: number, fetch: boolean, untranslatable?: boolean): number {
    const page = Math.floor((out.pa - this.ramBase) / SLOT);
    const c = this.chunk(page);
    const p = page & CHUNK_MASK;
    const e = this.epoch;
    // This fill replaces whatever the same entry held.
    if (c.xEpoch[p] === e && c.xKey[p] === key) c.xEpoch[p] = 0;
    if (c.wEpoch[p] === e && c.wKey[p] === key) c.wEpoch[p] = 0;
    let perms = out.perms;
    if (fetch) {
      perms &= ~Prot.WRITE;
      if ((perms & Prot.EXEC) === 0) return perms;
      // Writable through another entry: execute a snapshot, out of that entry's reach.
      const alias = c.aliased[p] === 1 || c.wEpoch[p] === e;
      const shadow = this.shadowFor(page, out.pa, alias, untranslatable);
      if (shadow === -1) return -1;
      if (shadow !== null) {
        if (alias) c.aliased[p] = 1;
        // The native IC IVAU gate sends an IC IVAU of this page to icInvalidate from now on.
        if (c.sEpoch[p] !== e) this.uc.tlbiFront?.addIcPage(out.pa);
        c.sEpoch[p] = e;
        this.liveEpoch = e;
        out.pa = shadow;
        return Prot.EXEC;
      }
      c.code[p] = 1;
      hold(c.xKey, c.xEpoch, p, key, e);
    } else {
      perms &= ~Prot.EXEC;
      if ((perms & Prot.WRITE) !== 0) {
        // Another entry executes the real page: it must go before this one writes.
        if (c.xEpoch[p] === e) {
          c.aliased[p] = 1;
          this.askFlush();
        }
        if (c.code[p] === 1) this.dropCode(c, p, page, e);
        // (A flush just now started a new epoch: this entry is in it.)
        hold(c.wKey, c.wEpoch, p, key, this.epoch);
        c.wLast[p] = this.epoch;
      }
    }
    return perms;
  }

  /**
   * What fill() would record for data fills of the other 1 KiB pages of a 4 KiB page, recorded
   * now, before Unicorn asks for them (the native fill cache will answer those fills:
   * fill-handler.ts dataSiblings): page `own` (0-3) of the 4 KiB page at RAM address `pa4k` was
   * just filled by entry `key` (VA page + MMU index) and answered `perms` (EXEC already dropped);
   * sibling j is entry key + (j - own) * 1 KiB at pa4k + j * 1 KiB. A sibling is recorded only
   * when that is all fill() would do: no entry of this epoch executes or writes it (nothing to
   * replace, no alias to flush) and, for a writable answer, no code was translated from it (no
   * code to drop). Returns bit j set for each sibling recorded. The four pages share a tracking
   * chunk (chunks are 1 MiB of RAM from its 4 KiB-aligned base).
   */
  prefillSiblings(pa4k: number, own: number, key: number, perms: number): number {
    const first = Math.floor((pa4k - this.ramBase) / SLOT);
    const c = this.chunk(first);
    const p0 = first & CHUNK_MASK;
    const e = this.epoch;
    const w = (perms & Prot.WRITE) !== 0;
    let mask = 0;
    for (let j = 0; j < 4; j++) {
      const p = p0 + j;
      if (j === own || c.xEpoch[p] === e || c.wEpoch[p] === e) continue;
      if (w) {
        if (c.code[p] === 1) continue;
        hold(c.wKey, c.wEpoch, p, key + (j - own) * SLOT, e);
        c.wLast[p] = e;
      }
      mask |= 1 << j;
    }
    return mask;
  }

  /**
   * A TLB entry that can write RAM page `page` is being made, and code was translated from it:
   * drop that code now, before the first store (QEMU checks only that one, see above). Code
   * translated from the page later comes through a fetch fill: while this entry lives, one that
   * executes a snapshot (the alias rule); after the next TLB flush, one that sets `code` again.
   * An entry executing the real page in this epoch keeps it set (the flush it asked for follows).
   */
  private dropCode(c: Chunk, p: number, page: number, e: number): void {
    if (this.uc.invalidateCode(this.ram.block, page * SLOT, SLOT)) {
      this.stats.codeDrops++;
      // Kept while an entry executing the real page lives (no flush has ended this epoch yet).
      if (c.xEpoch[p] !== e || this.epoch !== e) c.code[p] = 0;
      return;
    }
    // No way to drop it by address in this libunicorn: all translated code goes (run loop).
    this.codeFlushNeeded = true;
    this.askFlush();
    this.uc.emuStop();
  }

  /**
   * Another core invalidated all instruction caches (IC IALLUIS, broadcast: Arm ARM C5.3): drop
   * every piece of code translated from RAM, by physical range over the pages marked `code`
   * (runs of them, one call each), and retake the snapshots in use (a TLB flush). Called while
   * this core is not running. Without invalidation by address in this libunicorn, all
   * translated code goes (a TB flush) and the TLB with it.
   */
  dropAllCode(): void {
    this.icInvalidate(null);
    const e = this.epoch;
    let runStart = -1;
    let runEnd = -1;
    const flushRun = (): boolean => {
      if (runStart < 0) return true;
      const ok = this.uc.invalidateCode(this.ram.block, runStart * SLOT, (runEnd - runStart) * SLOT);
      runStart = -1;
      return ok;
    };
    const indices = [...this.chunks.keys()].sort((a, b) => a - b);
    for (const i of indices) {
      const c = this.chunks.get(i)!;
      for (let p = 0; p <= CHUNK_MASK; p++) {
        if (c.code[p] !== 1) continue;
        const page = (i << CHUNK_SHIFT) | p;
        if (page !== runEnd) {
          if (!flushRun()) return this.askCodeFlush();
          runStart = page;
        }
        runEnd = page + 1;
        // Kept while an entry executing the real page lives (its next translation needs no fill).
        if (c.xEpoch[p] !== e) c.code[p] = 0;
      }
    }
    if (!flushRun()) this.askCodeFlush();
  }

  /** dropAllCode without invalidation by address: all translated code and the TLB go now (this core is not running). */
  private askCodeFlush(): void {
    this.uc.flushTb();
    this.codeFlushed();
    this.askFlush();
  }

  /** Does some TLB entry execute a snapshot? */
  get snapshotsLive(): boolean {
    return this.liveEpoch === this.epoch;
  }

  /**
   * The guest invalidated instruction caches (all of them, or the line at
   * physical address `pa`): snapshots in use there are retaken, after a TLB
   * flush, at the next fetch fills.
   */
  icInvalidate(pa: number | null): void {
    if (!this.snapshotsLive) return;
    if (pa !== null) {
      if (pa < this.ramBase || pa >= this.ramBase + this.ramSize) return;
      const page = Math.floor((pa - this.ramBase) / SLOT);
      if (this.chunk(page).sEpoch[page & CHUNK_MASK] !== this.epoch) return;
    }
    this.askFlush();
  }

  private askFlush(): void {
    if (this.flushNow !== null) {
      this.stats.wxFlushes++;
      this.flushNow();
      return;
    }
    if (this.flushNeeded) return;
    this.flushNeeded = true;
    this.stats.wxFlushes++;
    this.uc.emuStop();
  }

  /**
   * The shadow PA for RAM page p (at `pa`), null when it needs none, -1 when the pool is full.
   * `untranslatable`: whether the page holds such a word, when the caller knows (else scanned here).
   */
  private shadowFor(p: number, pa: number, always: boolean, untranslatable?: boolean): number | null {
    const { words, index: first } = this.ram.wordsAt(pa);
    const slot = this.shadowOf.get(p);
    if (slot !== undefined) {
      // Still the same content? Then the shadow (and code translated from it) stands.
      const src = this.slotSource;
      let same = true;
      for (let i = 0, s = slot * (SLOT >>> 2); i < SLOT >>> 2; i++) {
        if (src[s + i] !== words[first + i]) {
          same = false;
          break;
        }
      }
      if (same) return SHADOW_PA + slot * SLOT;
      this.shadowOf.delete(p);
    }
    let bad = always || untranslatable === true;
    for (let i = 0; i < SLOT >>> 2 && !bad && untranslatable === undefined; i++) {
      if (isUntranslatable(words[first + i]!)) bad = true;
    }
    if (!bad) return null;
    if (this.nextSlot === SLOTS) {
      this.poolExhausted = true;
      return -1;
    }
    // A fresh slot each time: code translated from an older copy is never
    // found again (QEMU looks blocks up by physical address), so nothing stale runs.
    const s = this.nextSlot++;
    const dst = this.poolWords;
    for (let i = 0, d = s * (SLOT >>> 2); i < SLOT >>> 2; i++) {
      const w = words[first + i]!;
      this.slotSource[d + i] = w;
      if (isUntranslatable(w)) {
        dst[d + i] = UDF0;
        this.stats.patchedWords++;
      } else {
        dst[d + i] = w;
      }
    }
    this.shadowOf.set(p, s);
    this.stats.shadowPages++;
    return SHADOW_PA + s * SLOT;
  }
}
