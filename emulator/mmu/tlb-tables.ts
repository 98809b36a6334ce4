/**
 * The TLB model's storage (tlb.ts): the entry record, an integer-keyed hash table of entries
 * that keeps its storage when cleared, and the per-VMID space (global, flat and per-ASID tables,
 * and the index of entries larger than 4 KiB by region). What an entry means and when one is
 * removed is tlb.ts; this module only stores them without allocating on refill.
 */
import type { EffectiveAttributes } from './attributes.js';

const TWO36 = 2 ** 36;

export interface TlbEntry {
  /** 4 KiB key: VA[55] * 2^36 + VA[47:12] */
  key: number;
  /** VA[63:48] of the VA that created the entry (a different top is a miss: the walk decides) */
  vaTop: number;
  ttbr: 0 | 1;
  /** VA[47:0] of the first byte of the region */
  regionBase: number;
  sizeLog2: number;
  ipaBase: number;
  paBase: number;
  permsEl1: number;
  permsEl0: number;
  s1Level: number;
  s1SizeLog2: number;
  s2Level: number;
  s2SizeLog2: number;
  /** IPA of the start of the stage-2 leaf used (for IPA invalidation); -1 when stage 2 is off */
  s2LeafIpa: number;
  asid: number;
  global: boolean;
  /** the translation was made with stage 1 disabled (flat VA = IPA) */
  flat: boolean;
  vmid: number;
  attrs: EffectiveAttributes;
  // bookkeeping
  map: EntryTable | null;
  groupKey: number;
}

/** A blank entry (fields are overwritten on every (re)use; see TlbModel.insert). */
export function blankEntry(attrs: EffectiveAttributes): TlbEntry {
  return {
    key: 0, vaTop: 0, ttbr: 0, regionBase: 0, sizeLog2: 12, ipaBase: 0, paBase: 0, permsEl1: 0, permsEl0: 0,
    s1Level: 0, s1SizeLog2: 0, s2Level: 0, s2SizeLog2: 0, s2LeafIpa: 0, asid: 0, global: false, flat: false,
    vmid: 0, attrs, map: null, groupKey: -1,
  };
}

const EMPTY_KEY = -1;

/**
 * Integer-keyed hash table of entries (keys are non-negative integers below 2^53):
 * open addressing with linear probing and backward-shift deletion, keys in a
 * Float64Array. Unlike a Map it keeps its storage when cleared, so refilling it after a
 * TLBI allocates nothing.
 */
export class EntryTable {
  private keys: Float64Array;
  private vals: (TlbEntry | null)[];
  private mask: number;
  private shift: number;
  size = 0;

  constructor(log2 = 6) {
    this.keys = new Float64Array(1 << log2).fill(EMPTY_KEY);
    this.vals = new Array<TlbEntry | null>(1 << log2).fill(null);
    this.mask = (1 << log2) - 1;
    this.shift = 32 - log2;
  }

  /**
   * Home slot: runs of 16 consecutive keys (pages) hash to one random base and occupy
   * consecutive slots from it, so a sequential sweep touches the table sequentially.
   */
  private slot(key: number): number {
    const h = Math.imul(((key / 16) >>> 0) ^ Math.imul((key / TWO36) >>> 0, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
    return (h + (key & 15)) & this.mask;
  }

  get(key: number): TlbEntry | undefined {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (;;) {
      const k = keys[i]!;
      if (k === key) return this.vals[i]!;
      if (k === EMPTY_KEY) return undefined;
      i = (i + 1) & mask;
    }
  }

  /** Insert or replace; returns the entry that was replaced. */
  set(key: number, e: TlbEntry): TlbEntry | undefined {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (;;) {
      const k = keys[i]!;
      if (k === key) {
        const old = this.vals[i]!;
        this.vals[i] = e;
        return old;
      }
      if (k === EMPTY_KEY) {
        keys[i] = key;
        this.vals[i] = e;
        this.size++;
        return undefined;
      }
      i = (i + 1) & mask;
    }
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let i = this.slot(key);
    for (;;) {
      const k = keys[i]!;
      if (k === EMPTY_KEY) return false;
      if (k === key) break;
      i = (i + 1) & mask;
    }
    // backward-shift deletion: move later members of the probe run into the hole
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const k = keys[j]!;
      if (k === EMPTY_KEY) break;
      const home = this.slot(k);
      // move k to i when its home is not in the cyclic range (i, j]
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = k;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = EMPTY_KEY;
    vals[i] = null;
    this.size--;
    return true;
  }

  /** Call fn on every entry (the table must not be modified meanwhile). */
  forEach(fn: (e: TlbEntry) => void): void {
    const keys = this.keys;
    const vals = this.vals;
    for (let i = 0; i <= this.mask; i++) if (keys[i] !== EMPTY_KEY) fn(vals[i]!);
  }

  /** A snapshot of the entries. */
  values(): TlbEntry[] {
    const out: TlbEntry[] = [];
    this.forEach((e) => out.push(e));
    return out;
  }

  /** Remove everything, keeping the storage; recycled entries go to `free`. */
  clear(free: TlbEntry[] | null): void {
    if (this.size === 0) return;
    if (free !== null) {
      const keys = this.keys;
      const vals = this.vals;
      for (let i = 0; i <= this.mask; i++) {
        if (keys[i] !== EMPTY_KEY) {
          const e = vals[i]!;
          e.map = null;
          free.push(e);
        }
      }
    }
    this.keys.fill(EMPTY_KEY);
    this.vals.fill(null);
    this.size = 0;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const log2 = 32 - this.shift + 1;
    this.keys = new Float64Array(1 << log2).fill(EMPTY_KEY);
    this.vals = new Array<TlbEntry | null>(1 << log2).fill(null);
    this.mask = (1 << log2) - 1;
    this.shift = 32 - log2;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY_KEY) this.set(oldKeys[i]!, oldVals[i]!);
  }
}

/** ASID tables kept (empty) across a VMID invalidation, so refills reuse their storage */
const KEEP_ASID_TABLES = 64;

export class VmidSpace {
  readonly global = new EntryTable();
  readonly flat = new EntryTable();
  readonly asids = new Map<number, EntryTable>();
  /** entries larger than 4 KiB by region: sizeLog2 * 2^38 + ttbr * 2^37 + region index */
  readonly groups = new Map<number, Set<TlbEntry>>();
  readonly sizes = new Set<number>();
  count = 0;

  asidMap(asid: number): EntryTable {
    let m = this.asids.get(asid);
    if (m === undefined) {
      m = new EntryTable();
      this.asids.set(asid, m);
    }
    return m;
  }

  maps(): EntryTable[] {
    return [this.flat, this.global, ...this.asids.values()];
  }

  /** Drop every entry (recycled into `free`), keeping the tables' storage. */
  reset(free: TlbEntry[]): void {
    this.flat.clear(free);
    this.global.clear(free);
    for (const m of this.asids.values()) m.clear(free);
    if (this.asids.size > KEEP_ASID_TABLES) this.asids.clear();
    this.groups.clear();
    this.sizes.clear();
    this.count = 0;
  }
}
