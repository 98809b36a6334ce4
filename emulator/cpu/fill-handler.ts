/**
 * TLB fills and the faults they reveal. Every Unicorn TLB miss asks the MMU
 * model (UC_HOOK_TLB_FILL, DESIGN.md); a refused fill stops the slice, and the
 * run loop hands it back here to become a stage-1 abort for the guest or a
 * stage-2 abort exit for the hypervisor, with the exact FAR and syndrome
 * decoded from the instruction. Code pages are scanned at their fetch fill for
 * the sites the fill hook cannot see otherwise (LDTR/STTR, WFE under TWE).
 */
import { MemAccess, Prot, Reg, xreg, type Unicorn } from '../unicorn/uc.js';
import type { GuestRam } from '../memory/ram.js';
import { EC, esr, issDataAbort, issInstructionAbort, issWfx } from './esr.js';
import { Access, type AccessKind, type Translation, type TranslationFault } from './translator.js';
import type { MmuTranslator } from './mmu-translator.js';
import type { DataAccess, DecodedAccess, Exit, HaltReason, WfxRoute } from './exits.js';
import { isUntranslatable, type CodeGuard } from './code-guard.js';
import { PSTATE, pstateEl } from './pstate.js';
import type { ExceptionKind } from './guest-cpu.js';
import { decodeMemoryAccess } from './access.js';
import { isUnprivilegedLoadStore } from './decode.js';
import { hexVa } from '../types.js';

/** WFE (HINT #2), Arm ARM C6.2 "WFE". */
export const WFE = 0xd503205f;

export interface FillCpu {
  readonly uc: Unicorn;
  readonly ram: GuestRam;
  readonly translator: MmuTranslator;
  readonly codeGuard: CodeGuard;
  pc: number;
  readonly pstate: number;
  readonly el: number;
  readInsn(va: number): number | null;
  takeException(kind: ExceptionKind, esr: number, preferredReturn: number, far?: number): void;
  dispatchExit(exit: Exit): void;
  halt(reason: HaltReason): void;
  /** Where a WFE at the current EL goes (HCR_EL2.TWE, SCTLR_EL1.nTWE at EL0), as the EL2 model says. */
  routeWfe(): WfxRoute;
  /** End the slice: the run loop acts after uc_emu_start returns. */
  requestStop(): void;
  /** Does the EL2 model want a code hook on this instruction word (a guest hypervisor's sites)? */
  hooksCodeSite(word: number): boolean;
  /** The hooked site is about to execute. */
  onCodeSite(address: number, word: number): void;
  /** Can the EL2 model want code hooks at all (hooksCodeSite true for some word)? */
  readonly codeSiteHooks: boolean;
  /** Device ranges mapped to native callbacks in the core (the console window, pure-read windows), while allowed. */
  readonly nativeMmio: readonly NativeMmioWindow[];
}

/** An IPA range whose stage-2 faults the fill hook answers with the core's native MMIO region at that address. */
export interface NativeMmioWindow {
  readonly base: number;
  readonly size: number;
  /** Reads only (read-window.ts): a write still faults at stage 2 and is an exit. Absent: reads and writes. */
  readonly readOnly?: boolean;
  /**
   * Its accesses may ask the CPU to stop right after them (the console window: an access that
   * moves the UART's interrupt line): usable only while the core can stop there (Unicorn.exactIoStops).
   */
  readonly exactStops?: boolean;
  /** Decided by the EL2 model (the range stands for accesses it completes without an exit). */
  allowed(): boolean;
}

/** May the fill hook map this window now? */
export function windowUsable(w: NativeMmioWindow, uc: Unicorn): boolean {
  return w.allowed() && (w.exactStops !== true || uc.exactIoStops);
}

/** The window over `ipa` that may answer an access of this kind now, or null. */
function windowAt(ws: readonly NativeMmioWindow[], ipa: number, write: boolean, uc: Unicorn): NativeMmioWindow | null {
  for (const w of ws) if (ipa >= w.base && ipa < w.base + w.size) return (write && w.readOnly === true) || !windowUsable(w, uc) ? null : w;
  return null;
}

export interface RefusedFill {
  va: number;
  access: AccessKind;
}

export class FillHandler {
  /** Unicorn TLB-fill hook calls that reached this handler, and refused ones. */
  private jsFills = 0;
  refusedFills = 0;
  /**
   * What a repeated code-page scan depends on besides the page (sliceStart): 0 nothing (WFE runs
   * natively, no code-site hooks), 1 WFE sites are hooked (HCR_EL2.TWE), 2 the EL2 model hooks
   * code sites. Fetch answers are handed to the native fill cache only in state 0.
   */
  private scanState = -1;
  /** First TLB fill refused in the current slice (the guest fault, see DESIGN.md). */
  private refused: RefusedFill | null = null;
  /** VAs where the code-page scan saw an LDTR/STTR-family instruction. */
  private readonly unprivilegedSites = new Set<number>();
  private readonly wfeHooks = new Set<number>();
  private readonly siteHooks = new Set<number>();
  /** Code hooks to install from the run loop: a WFE site, or a handler's code site (hooksCodeSite) encoded as -1 - va. */
  private readonly pendingWfeHooks: number[] = [];

  constructor(private readonly cpu: FillCpu) {}

  /** Unicorn TLB-fill hook calls: those answered here, and those the native fill cache answered. */
  get fills(): number {
    return this.jsFills + this.cpu.uc.fillCacheHits;
  }
  /** A snapshot's count, restored. */
  set fills(n: number) {
    this.jsFills = n - this.cpu.uc.fillCacheHits;
  }

  /**
   * At every slice start: the native fill cache's fetch answers skip the code-page scan, which
   * also depends on whether WFE is trapped and on the EL2 model's code-site hooks, so the cache
   * forgets everything when those changed (they change in exit handlers, between slices).
   */
  sliceStart(): void {
    const cpu = this.cpu;
    const state = cpu.codeSiteHooks ? 2 : cpu.routeWfe() !== 'native' ? 1 : 0;
    if (state !== this.scanState) {
      this.scanState = state;
      cpu.uc.dropFillCache();
    }
  }

  /** The fill hook: a translation for Unicorn, or null to refuse (a fault the run loop handles). */
  onFill(va: number, type: number): Extract<Translation, { ok: true }> | null {
    this.jsFills++;
    const t0 = this.cpu.translator;
    const access: AccessKind = type === MemAccess.FETCH ? Access.FETCH : type === MemAccess.WRITE ? Access.WRITE : Access.READ;
    const cpu = this.cpu;
    const pstate = cpu.uc.fillPstate();
    const mmuEl = this.fillEl(access, pstateEl(pstate));
    const t = t0.translate(va, access, t0.stage1Enabled ? mmuEl : 1);
    if (t.ok) {
      // The code-page scan also tells the code guard whether the page holds a word Unicorn cannot translate.
      const untranslatable = access === Access.FETCH ? this.scanCodePage(va, t.pa) : false;
      if (cpu.ram.contains(t.pa, 0x400)) {
        // The TLB entry this fill makes: QEMU's MMU index is EL0, EL1 or EL1 with PAN.
        const key = va + (mmuEl === 0 ? 0 : pstate & PSTATE.PAN ? 2 : 1);
        const pa = t.pa;
        const perms = cpu.codeGuard.fill(t, key, access === Access.FETCH, untranslatable);
        if (perms < 0) return null; // shadow pool full: the run loop flushes code and retries
        t.perms = perms;
        // The same TLB entry asked for again gets the same answer from the native cache, with
        // nothing else to do here: the model TLB would answer it without a walk, the code guard
        // would record the same entry again (its bookkeeping is per entry and idempotent; any
        // fill that changes what it answers for this page either is itself a fill of this entry,
        // which replaces the cached answer, or flushes Unicorn's TLB), and the code-page scan
        // would find the sites it already found (sliceStart). Not a shadow page (its snapshot is
        // checked against the page at each fetch fill) and not with code-site hooks or WFE traps.
        if (t.pa === pa && access !== Access.FETCH) cpu.uc.cacheFill(key, this.dataSiblings(va, pa, key, perms, t.sizeLog2));
        else if (t.pa === pa && this.scanState === 0) cpu.uc.cacheFill(key);
      }
      // Unicorn's entries from a translation larger than 4 KiB: a TLBI of any page it covers goes
      // to JavaScript (the native TLBI front flushes only the 4 KiB page it names). Last: the code
      // guard may have flushed Unicorn's TLB whole above, which forgets the regions.
      if (t.sizeLog2 !== 12) cpu.uc.tlbiFront?.noteBlock(va, t.sizeLog2 ?? 64);
      return t;
    }
    const f = t.fault;
    // A stage-2 translation fault (FSC 0b0001LL) on one of the EL2 model's native windows: not a fault.
    const w = access !== Access.FETCH && f.stage === 2 && !f.s1ptw && (f.fsc & 0x3c) === 0x04 ? windowAt(cpu.nativeMmio, f.ipa, access === Access.WRITE, cpu.uc) : null;
    if (w !== null) {
      const level = f.level;
      const native = this.nativeFill(va, f.ipa, w, mmuEl, t0.stage1Enabled);
      if (native !== null) {
        t0.tlb.forgetFault('translation', 2, level);
        return native;
      }
    }
    this.refusedFills++;
    if (this.refused === null) this.refused = { va, access };
    return null;
  }

  /**
   * The other 1 KiB pages of a data fill's 4 KiB page that the native fill cache may answer as
   * this fill (a bit per page, fill-cache.c `siblings`): Unicorn's TLB works at 1 KiB
   * (DESIGN.md) and asks for each of them on first touch, and each is the same model-TLB entry
   * (a leaf of 4 KiB or more), hence the same perms and the PA moved alike. The code guard records
   * each entry now, as their fills would (CodeGuard.prefillSiblings), or the page is left to its fill.
   */
  private dataSiblings(va: number, pa: number, key: number, perms: number, sizeLog2: number | undefined): number {
    if (sizeLog2 === undefined || sizeLog2 < 12) return 0;
    const own = Math.floor(va / 0x400) & 3;
    // A leaf of 4 KiB or more: VA and PA agree modulo 4 KiB, and RAM's base is 4 KiB aligned.
    const pa4k = pa - own * 0x400;
    if (!this.cpu.ram.contains(pa4k, 0x1000)) return 0;
    return this.cpu.codeGuard.prefillSiblings(pa4k, own, key, perms);
  }

  /**
   * The page of a native MMIO window: stage 1 still decides permissions (a page stage 1 makes
   * read-only stays so: both kinds are probed, and each must reach the same stage-2 fault),
   * stage 2 is the EL2 model's window. Never executable; a read-only window's entry is not
   * writable either, so a write misses, its fill is refused and it exits as before.
   */
  private nativeFill(va: number, ipa: number, w: NativeMmioWindow, mmuEl: number, s1: boolean): Extract<Translation, { ok: true }> | null {
    const tr = this.cpu.translator;
    const page = ipa - (ipa % 0x400);
    let perms = 0;
    for (const [kind, bit] of [[Access.READ, Prot.READ], [Access.WRITE, Prot.WRITE]] as const) {
      if (bit === Prot.WRITE && w.readOnly === true) continue;
      const p = tr.probe(va, kind, s1 ? mmuEl : 1);
      if (!p.ok && p.fault.stage === 2 && p.fault.ipa - (p.fault.ipa % 0x400) === page && page >= w.base) perms |= bit;
    }
    if (perms === 0) return null;
    return { ok: true, pa: page, ipa: page, perms };
  }

  /** The refused fill of the slice that just ended (and forget it). */
  takeRefused(): RefusedFill | null {
    const r = this.refused;
    this.refused = null;
    return r;
  }

  /** Did the refused fill concern the fetch of the instruction at PC (not a data access)? */
  isFetchOfPc(ref: RefusedFill): boolean {
    const pc = this.cpu.pc;
    return ref.access === Access.FETCH && pc >= ref.va && pc < ref.va + 0x400;
  }

  /**
   * The exception level whose permissions a fill must use. The hook is not
   * told Unicorn's MMU index, so an EL1 LDTR/STTR (checked with EL0
   * permissions, and filled into QEMU's EL0 TLB) is recognised by its PC: the
   * code-page scan records every LDTR/STTR site, and only a fill whose PC is
   * one of them decodes the instruction to be sure. A guest with no such
   * instruction pays one PSTATE read per fill.
   */
  private fillEl(access: AccessKind, el: number): number {
    const cpu = this.cpu;
    if (el === 0 || access === Access.FETCH || this.unprivilegedSites.size === 0) return el;
    const pc = cpu.uc.fillPc();
    if (!this.unprivilegedSites.has(pc)) return el;
    const insn = cpu.readInsn(pc);
    return insn !== null && isUnprivilegedLoadStore(insn) ? 0 : el;
  }

  /**
   * Scan a code page at its fetch fill (a code page is always filled for
   * fetch before QEMU translates code on it). LDTR/STTR sites are recorded for
   * fillEl. WFI needs nothing: QEMU halts on it and Unicorn returns from the
   * slice with PC just past it, where the run loop sees it. WFE runs on as a
   * NOP, so while HCR_EL2.TWE is set each WFE gets a one-address code hook
   * (installed from the run loop: adding a hook inside a Unicorn callback
   * re-enters it). TWE is off by default, as KVM clears it for a vCPU alone on
   * its CPU: Linux has WFE in every spin-wait, and hooks slow all translation.
   * The same pass looks for the words Unicorn cannot translate (code-guard.ts
   * isUntranslatable), so the code guard does not read the page a second time:
   * returns whether there is one. One loop of mask tests per word; the EL2
   * model is asked about a word only when it hooks code sites at all. A page
   * whose scan found nothing tied to the VA it runs at is not scanned again
   * while it cannot have changed (CodeGuard.noteScan/cachedScan): a Linux boot
   * fetch-fills the same code pages again after every flush and TLBI.
   */
  private scanCodePage(vaPage: number, paPage: number): boolean {
    const cpu = this.cpu;
    if (!cpu.ram.contains(paPage, 0x400)) return false;
    const guard = cpu.codeGuard;
    // Scan state 0 (sliceStart: HCR_EL2.TWE clear, so WFE runs natively at every EL, and no
    // code-site hooks; both change only between slices): nothing to ask the EL2 model.
    const quiet = this.scanState === 0;
    if (quiet) {
      const known = guard.cachedScan(paPage, false);
      if (known >= 0) return known === 1;
    }
    // Scanned at the page's fetch fill, at the EL that fetches it (an EL0 page under nTWE = 0 too).
    const twe = quiet ? false : cpu.routeWfe() !== 'native';
    const siteHooks = quiet ? false : cpu.codeSiteHooks;
    if (!quiet && !siteHooks) {
      const known = guard.cachedScan(paPage, twe);
      if (known >= 0) return known === 1;
    }
    const { words, index } = cpu.ram.wordsAt(paPage);
    let untranslatable = false;
    let wfe = false;
    let sites = false;
    for (let i = index, end = index + 0x100; i < end; i++) {
      const w = words[i]!;
      if (isUnprivilegedLoadStore(w)) {
        sites = true;
        const va = vaPage + (i - index) * 4;
        if (!this.unprivilegedSites.has(va)) {
          this.unprivilegedSites.add(va);
          cpu.uc.addUnprivilegedSite(va);
        }
      } else if (siteHooks && cpu.hooksCodeSite(w)) {
        sites = true;
        const va = vaPage + (i - index) * 4;
        if (this.siteHooks.has(va)) continue;
        this.siteHooks.add(va);
        this.pendingWfeHooks.push(-1 - va);
        cpu.requestStop();
      } else if (w === WFE) {
        wfe = true;
        if (!twe) continue;
        const va = vaPage + (i - index) * 4;
        if (this.wfeHooks.has(va)) continue;
        this.wfeHooks.add(va);
        this.pendingWfeHooks.push(va);
        cpu.requestStop();
      } else if (!untranslatable && isUntranslatable(w)) {
        // (Disjoint from the words above: LDTR/STTR, system instructions and ERET, WFE.)
        untranslatable = true;
      }
    }
    if (!sites && !siteHooks && !(wfe && twe)) guard.noteScan(paPage, untranslatable, wfe);
    return untranslatable;
  }

  get hasPendingWfeHooks(): boolean {
    return this.pendingWfeHooks.length > 0;
  }

  /** Install the WFE and code-site hooks found in the last slice; retranslate just the blocks holding them. */
  installWfeHooks(): void {
    const uc = this.cpu.uc;
    for (const site of this.pendingWfeHooks) {
      const va = site < 0 ? -1 - site : site;
      if (site < 0) uc.onCode(va, va, (address) => this.onCodeSite(address));
      else uc.onCode(va, va, (address) => this.onWfe(address));
      uc.removeTbCache(va, va + 4);
    }
    this.pendingWfeHooks.length = 0;
  }

  private onCodeSite(address: number): void {
    const cpu = this.cpu;
    const w = cpu.readInsn(address);
    if (w === null || !cpu.hooksCodeSite(w)) return;
    cpu.onCodeSite(address, w);
  }

  private onWfe(address: number): void {
    const cpu = this.cpu;
    if (cpu.readInsn(address) !== WFE) return;
    const route = cpu.routeWfe();
    if (route === 'el2') cpu.dispatchExit({ reason: 'wfx', esr: esr(EC.WFX, issWfx(true)), pc: address, wfe: true });
    // An EL0 WFE that SCTLR_EL1.nTWE = 0 traps to EL1 (EC 0x01, TI = 01, ELR = the WFE).
    else if (route === 'el1') cpu.takeException('sync', esr(EC.WFX, issWfx(true)), address);
  }

  /** A refused fill: a stage-1 fault for the guest, or a stage-2 fault for the hypervisor. */
  handleRefused(ref: RefusedFill, fetch: boolean): void {
    const cpu = this.cpu;
    const pc = cpu.pc;
    const el = cpu.el;
    if (fetch) {
      const t = cpu.translator.probe(pc, Access.FETCH, el);
      if (t.ok) return; // translation changed since the fill: just retry
      this.abort(t.fault, pc, pc, true, false, null);
      return;
    }
    const insn = cpu.readInsn(pc);
    if (insn === null) {
      cpu.halt({ kind: 'fault', message: `data fault at ${hexVa(ref.va)} but the instruction at PC ${hexVa(pc)} cannot be read` });
      return;
    }
    let acc = decodeMemoryAccess(insn, (n: number) => this.readBase(n), pc);
    // The decoder must agree with what Unicorn did: the refused page lies in
    // the decoded access (a word the decoder reads as another instruction,
    // e.g. one with non-default should-be-one fields, must not send the fault elsewhere).
    if (acc !== null && (acc.address + Math.max(1, acc.totalSize) <= ref.va || acc.address >= ref.va + 0x400)) acc = null;
    if (acc === null) {
      // Not decodable here (LD1-4 single structure, LDRAA/LDRAB, ...): the
      // refused fill's page is what is known. A stage-2 fault on RAM is mapped
      // and retried all the same (no syndrome needed); a stage-1 fault reports
      // the page's first byte as FAR; MMIO gets an external abort from EL2.
      const t = cpu.translator.probe(ref.va, ref.access, el);
      if (t.ok) return;
      this.abort(t.fault, pc, ref.va, false, ref.access === Access.WRITE, null);
      return;
    }
    const accessEl = acc.unprivileged && el === 1 ? 0 : el;
    const kind = acc.write ? Access.WRITE : Access.READ;
    // The exact FAR: the first byte of the access that faults. An access may
    // start in a mapped page and cross into the faulting one (4 KiB is the
    // smallest translation granule).
    let faultVa = acc.address;
    let t = cpu.translator.probe(faultVa, kind, accessEl);
    for (let page = Math.floor(acc.address / 0x1000 + 1) * 0x1000; t.ok && page < acc.address + acc.totalSize; page += 0x1000) {
      faultVa = page;
      t = cpu.translator.probe(faultVa, kind, accessEl);
    }
    if (t.ok) return; // the mapping appeared (e.g. break-before-make completed): retry
    const single: DataAccess | null = acc.isv
      ? { size: acc.size as 1 | 2 | 4 | 8, write: acc.write, rt: acc.rt, signExtend: acc.signExtend, sf: acc.sf, acqRel: acc.acqRel }
      : null;
    this.abort(t.fault, pc, faultVa, false, acc.write, single, acc.cacheMaintenance, acc.decoded);
  }

  private readBase(n: number): bigint {
    const uc = this.cpu.uc;
    return n === 31 ? uc.regRead(Reg.SP) : uc.regRead(xreg(n));
  }

  private abort(f: TranslationFault, pc: number, va: number, fetch: boolean, write: boolean, single: DataAccess | null, cm = false, decoded: DecodedAccess | null = null): void {
    const cpu = this.cpu;
    const lower = cpu.el === 0;
    if (f.stage === 1) {
      const ec = fetch ? (lower ? EC.IABT_LOW : EC.IABT_CUR) : lower ? EC.DABT_LOW : EC.DABT_CUR;
      const iss = fetch ? issInstructionAbort({ fsc: f.fsc }) : issDataAbort({ fsc: f.fsc, wnr: write && !cm, cm });
      cpu.takeException('sync', esr(ec, iss), pc, va);
      return;
    }
    // Stage 2: exit to the hypervisor. From EL1/EL0 it is always a "lower EL" abort.
    const sas = single ? ([1, 2, 4, 8].indexOf(single.size) as 0 | 1 | 2 | 3) : 0;
    const iss = fetch
      ? issInstructionAbort({ fsc: f.fsc, s1ptw: f.s1ptw })
      : issDataAbort({
          fsc: f.fsc,
          wnr: (write && !cm) || f.s1ptw,
          s1ptw: f.s1ptw,
          cm,
          ...(single && !f.s1ptw ? { isv: { sas, sse: single.signExtend, srt: single.rt, sf: single.sf, ar: single.acqRel } } : {}),
        });
    const ipa = f.ipa;
    cpu.dispatchExit({
      reason: fetch ? 'iabt_s2' : 'dabt_s2',
      esr: esr(fetch ? EC.IABT_LOW : EC.DABT_LOW, iss),
      pc,
      far: va,
      ipa,
      // HPFAR_EL2.FIPA holds IPA[51:12] in bits [43:4] (Arm ARM D17.2.51).
      hpfar: Math.floor(ipa / 0x1000) * 16,
      access: single && !f.s1ptw ? single : null,
      decoded: f.s1ptw ? null : decoded,
    });
  }
}
