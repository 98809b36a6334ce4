/**
 * One generic VMSAv8-64 table walker, shaped like KVM's kvm_pgtable_walk()
 * (arch/arm64/kvm/hyp/pgtable.c): a visitor `{ flags, visit }` is called on leaf
 * entries (LEAF: blocks, pages and invalid entries), before descending into a
 * table (TABLE_PRE) and after returning from it (TABLE_POST), over every entry
 * that maps part of an input-address range.
 *
 * Used by stage-1 and stage-2 translation (single-address ranges), the stage-2
 * builder (map/unmap visitors that install tables through `ctx.setDescriptor`)
 * and the debugger (range dumps).
 *
 * Differences from KVM, on purpose:
 * - results are small status codes, not overloaded errnos;
 * - the memory behind tables is reached through a DescriptorMemory (mm_ops), and
 *   table *addresses* through an optional TableResolver: a stage-1 walk under
 *   stage 2 passes every table address through stage 2 (S1PTW) there;
 * - the walker itself detects the walk-level faults that do not depend on the
 *   regime: table address above the output size (Address size fault) and
 *   descriptors in unbacked memory (Synchronous External abort on walk).
 *
 * Allocation: a Walker owns one VisitContext that it reuses for every callback
 * (the visitor must copy what it keeps). A single-address walk allocates nothing.
 *
 * One step per descriptor, as KVM's __kvm_pgtable_visit(): load (resolve the descriptor's
 * address, read it from backed memory, classify it) and visitEntry (the visitor's callback, then
 * whether and where to descend), shared by walkTable (a range, recursive, with TABLE_POST) and
 * walkOne (one address, iterative: the stage-1 hot path). walkLeaf (one address, leaf only, no
 * resolver: the stage-2 hot path) is the same checks inlined for speed, and must change with them.
 */
import type { DescriptorMemory } from './memory.js';
import type { Geometry } from './config.js';
import {
  classify,
  levelShift,
  oaExceeds,
  tableAddress,
  KIND_TABLE,
  POW2,
  type DescriptorKind,
} from './descriptors.js';

export const LEAF = 1;
export const TABLE_PRE = 2;
export const TABLE_POST = 4;

/** Visitor return values. */
export const CONTINUE = 0;
/** stop the whole walk (status WALK_STOPPED) */
export const STOP = 1;
/** from TABLE_PRE: do not descend into this table */
export const SKIP = 2;

/** Walk status codes. */
export const WALK_OK = 0;
export const WALK_STOPPED = 1;
/** a table address (TTBR base or table descriptor) has bits above Geometry.oaBits */
export const WALK_ADDRESS_SIZE = 2;
/** a descriptor lies in memory that DescriptorMemory.isBacked refuses */
export const WALK_EXTERNAL_ABORT = 3;
/** the TableResolver refused a table address (for stage 1: a stage-2 fault during S1PTW) */
export const WALK_RESOLVER_FAULT = 4;
export type WalkStatus = 0 | 1 | 2 | 3 | 4;

export interface VisitContext {
  level: number;
  /** physical address of the table holding this descriptor */
  tableAddr: number;
  /** the same table as named by its parent (TTBR or table descriptor): an IPA for stage-1 tables under stage 2 */
  tableName: number;
  index: number;
  /** physical address of this descriptor */
  descAddr: number;
  lo: number;
  hi: number;
  kind: DescriptorKind;
  /** first input address mapped by this descriptor */
  ia: number;
  /** bytes mapped by this descriptor */
  size: number;
  /** the walk this context belongs to (geometry, memory) */
  readonly walker: Walker;
}

export interface WalkVisitor {
  /** which callbacks to receive: LEAF | TABLE_PRE | TABLE_POST */
  flags: number;
  /** return CONTINUE, STOP or (TABLE_PRE only) SKIP */
  visit(ctx: VisitContext, flag: number): number;
}

/**
 * Translates the address of a descriptor, as named by the table address in the parent
 * descriptor or TTBR plus index * 8, into a physical address. Per descriptor rather than
 * per table, because a stage-1 table (up to 64 KiB) may span several stage-2 pages.
 */
export interface TableResolver {
  /** return the PA, or -1 to abort the walk with WALK_RESOLVER_FAULT (the resolver records why) */
  resolveDescriptor(name: number, level: number): number;
}

export interface WalkParams {
  geometry: Geometry;
  mem: DescriptorMemory;
  /** start-level table as named by TTBR/VTTBR */
  root: number;
  /** bits [47:32] of the root as written in the register, for the address size check (default: from root) */
  rootHi?: number;
  resolver?: TableResolver | null;
  /**
   * walkOne only: start at this level's table, named `fromName`, instead of the root (a walk
   * cache's answer for the levels above: the caller vouches for them). Absent or not below the
   * start level: from the root.
   */
  fromLevel?: number;
  fromName?: number;
}

const TWO32 = 4294967296;
/** visitEntry: the walk goes on into the next-level table (not a WalkStatus). */
const DESCEND = -1 as const;
/** ctx.kind read again after a callback (a visitor may rewrite the entry), as a number TypeScript does not narrow. */
const kindOf = (c: VisitContext): number => c.kind;

export class Walker {
  readonly ctx: VisitContext;
  /** level at which the walk ended with a non-OK status */
  faultLevel = 0;
  /** table address (as named) that caused WALK_ADDRESS_SIZE/WALK_EXTERNAL_ABORT/WALK_RESOLVER_FAULT */
  faultAddr = 0;
  geometry!: Geometry;
  mem!: DescriptorMemory;
  private resolver: TableResolver | null = null;
  /** this.mem has readPair (checked once per walk, not per descriptor) */
  private pair = false;
  private visitor!: WalkVisitor;

  constructor() {
    this.ctx = { level: 0, tableAddr: 0, tableName: 0, index: 0, descAddr: 0, lo: 0, hi: 0, kind: 0, ia: 0, size: 0, walker: this };
  }

  /**
   * Walk every descriptor that maps part of [start, end] (inclusive input addresses,
   * 0 <= start <= end < 2^inputBits). Returns a WalkStatus; on failure faultLevel
   * and faultAddr say where.
   */
  walk(p: WalkParams, start: number, end: number, visitor: WalkVisitor): WalkStatus {
    if (!this.begin(p, p.resolver ?? null, visitor)) return WALK_ADDRESS_SIZE;
    const g = p.geometry;
    return this.walkTable(p.root, g.startLevel, g.startBits, start, end, 0);
  }

  /**
   * Take on a walk's parameters; false (faultLevel 0, faultAddr the root) when the root table
   * address is above the OA size: Arm ARM D8.15 (J.a D5.10.x), TTBR base above the OA size ->
   * Address size fault, level 0.
   */
  private begin(p: WalkParams, resolver: TableResolver | null, visitor: WalkVisitor | null): boolean {
    const g = p.geometry;
    this.geometry = g;
    this.mem = p.mem;
    this.pair = p.mem.readPair !== undefined;
    this.resolver = resolver;
    if (visitor !== null) this.visitor = visitor;
    const rootHi = p.rootHi ?? Math.floor(p.root / TWO32);
    if (oaExceeds(rootHi, g.oaBits)) {
      this.faultLevel = 0;
      this.faultAddr = p.root;
      return false;
    }
    return true;
  }

  /**
   * Walk the descriptors that translate the single input address `ia`: the same
   * visitor protocol as walk(ia, ia) (LEAF and TABLE_PRE; a visitor that asks for
   * TABLE_POST is handed to the general range walk), as a loop without recursion.
   * This is the translation hot path.
   */
  walkOne(p: WalkParams, ia: number, visitor: WalkVisitor): WalkStatus {
    if ((visitor.flags & TABLE_POST) !== 0) return this.walk(p, ia, ia, visitor);
    if (!this.begin(p, p.resolver ?? null, visitor)) return WALK_ADDRESS_SIZE;
    const g = p.geometry;
    const stride = g.stride;
    const ctx = this.ctx;
    let name = p.root;
    let level = g.startLevel;
    let entries = POW2[g.startBits]!;
    const from = p.fromLevel ?? -1;
    if (from > level) {
      name = p.fromName!;
      level = from;
      entries = POW2[stride]!;
    }
    let shift = g.granuleBits + stride * (3 - level);
    for (;;) {
      const size = POW2[shift]!;
      const q = Math.floor(ia / size);
      const index = q - Math.floor(q / entries) * entries; // q % entries without a float modulo
      const st = this.load(name, index, level);
      if (st !== WALK_OK) return st;
      ctx.ia = q * size;
      ctx.size = size;
      const next = this.visitEntry(level);
      if (next !== DESCEND) return next;
      name = this.nextTable;
      level++;
      shift -= stride;
      entries = POW2[stride]!;
    }
  }

  /**
   * walkOne for a visitor that wants only the leaf and stops there (flags = LEAF,
   * visit returns STOP), without a resolver and without calling anything: returns
   * WALK_STOPPED with the leaf (or invalid entry) in `ctx` (level, descAddr, lo, hi,
   * kind, ia, size; tableAddr, tableName and index too), or the same failure
   * statuses as walkOne. The stage-2 hot path.
   */
  walkLeaf(p: WalkParams, ia: number): WalkStatus {
    if (!this.begin(p, null, null)) return WALK_ADDRESS_SIZE;
    const g = p.geometry;
    const mem = p.mem;
    const gb = g.granuleBits;
    const stride = g.stride;
    const pair = mem.readPair !== undefined;
    const ctx = this.ctx;
    let name = p.root;
    let level = g.startLevel;
    let shift = gb + stride * (3 - level);
    let entries = POW2[g.startBits]!;
    for (;;) {
      const size = POW2[shift]!;
      const q = Math.floor(ia / size);
      const index = q - Math.floor(q / entries) * entries;
      const descAddr = name + index * 8;
      let lo: number;
      let hi: number;
      if (pair) {
        if (!mem.readPair!(descAddr, ctx)) {
          this.faultLevel = level;
          this.faultAddr = descAddr;
          return WALK_EXTERNAL_ABORT;
        }
        lo = ctx.lo;
        hi = ctx.hi;
      } else {
        if (!mem.isBacked(descAddr, 8)) {
          this.faultLevel = level;
          this.faultAddr = descAddr;
          return WALK_EXTERNAL_ABORT;
        }
        lo = mem.read32(descAddr);
        hi = mem.read32(descAddr + 4);
      }
      const kind = classify(lo, level, gb);
      if (kind !== KIND_TABLE) {
        ctx.level = level;
        ctx.tableAddr = name;
        ctx.tableName = name;
        ctx.index = index;
        ctx.descAddr = descAddr;
        ctx.lo = lo;
        ctx.hi = hi;
        ctx.kind = kind;
        ctx.ia = q * size;
        ctx.size = size;
        this.faultLevel = level;
        return WALK_STOPPED;
      }
      if (oaExceeds(hi, g.oaBits)) {
        this.faultLevel = level;
        this.faultAddr = tableAddress(lo, hi, gb);
        return WALK_ADDRESS_SIZE;
      }
      name = tableAddress(lo, hi, gb);
      level++;
      shift -= stride;
      entries = POW2[stride]!;
    }
  }

  /** Write a new descriptor at ctx.descAddr (builder visitors); the walker re-reads it before descending. */
  setDescriptor(lo: number, hi: number): void {
    const c = this.ctx;
    this.mem.write32(c.descAddr, lo >>> 0);
    this.mem.write32(c.descAddr + 4, hi >>> 0);
    c.lo = lo >>> 0;
    c.hi = hi >>> 0;
    c.kind = classify(c.lo, c.level, this.geometry.granuleBits);
  }

  private walkTable(name: number, level: number, bits: number, start: number, end: number, iaBase: number): WalkStatus {
    const g = this.geometry;
    const size = 2 ** levelShift(g.granuleBits, level);
    const entries = 2 ** bits;
    // indices of start and end relative to this table's input-address base
    const first = Math.floor((start - iaBase) / size);
    const last = Math.min(entries - 1, Math.floor((end - iaBase) / size));
    const ctx = this.ctx;
    for (let i = first < 0 ? 0 : first; i <= last; i++) {
      const st = this.load(name, i, level);
      if (st !== WALK_OK) return st;
      const ia = iaBase + i * size;
      ctx.ia = ia;
      ctx.size = size;
      const descAddr = ctx.descAddr;
      const next = this.visitEntry(level);
      if (next === WALK_OK) continue;
      if (next !== DESCEND) return next;
      const below = this.walkTable(this.nextTable, level + 1, g.stride, start, end, ia);
      if (below !== WALK_OK) return below;
      if ((this.visitor.flags & TABLE_POST) !== 0 && this.visitPost(name, i, level, descAddr, ia, size) === STOP) {
        this.faultLevel = level;
        return WALK_STOPPED;
      }
    }
    return WALK_OK;
  }

  /**
   * Read entry `index` of the table named `name` at `level` into ctx (level, tableAddr,
   * tableName, index, descAddr, lo, hi, kind; the caller sets ia and size): the descriptor
   * address through the resolver (S1PTW), then the descriptor from backed memory.
   */
  private load(name: number, index: number, level: number): WalkStatus {
    const mem = this.mem;
    const ctx = this.ctx;
    let descAddr = name + index * 8;
    if (this.resolver !== null) {
      descAddr = this.resolver.resolveDescriptor(descAddr, level);
      if (descAddr < 0) {
        this.faultLevel = level;
        this.faultAddr = name + index * 8;
        return WALK_RESOLVER_FAULT;
      }
    }
    if (this.pair) {
      if (!mem.readPair!(descAddr, ctx)) {
        this.faultLevel = level;
        this.faultAddr = descAddr;
        return WALK_EXTERNAL_ABORT;
      }
    } else {
      if (!mem.isBacked(descAddr, 8)) {
        this.faultLevel = level;
        this.faultAddr = descAddr;
        return WALK_EXTERNAL_ABORT;
      }
      ctx.lo = mem.read32(descAddr);
      ctx.hi = mem.read32(descAddr + 4);
    }
    ctx.level = level;
    ctx.tableAddr = descAddr - index * 8;
    ctx.tableName = name;
    ctx.index = index;
    ctx.descAddr = descAddr;
    ctx.kind = classify(ctx.lo, level, this.geometry.granuleBits);
    return WALK_OK;
  }

  /**
   * The visitor on the entry in ctx (LEAF or TABLE_PRE, as its flags ask), then whether the walk
   * goes below it: DESCEND (nextTable set), WALK_OK (nothing below: a leaf, or a table the
   * visitor skipped or replaced), WALK_STOPPED, or WALK_ADDRESS_SIZE for a next-level table
   * address above the OA size. KVM's rule: a LEAF callback may install a table (re-read it).
   */
  private visitEntry(level: number): WalkStatus | typeof DESCEND {
    const ctx = this.ctx;
    const visitor = this.visitor;
    const flags = visitor.flags;
    if (kindOf(ctx) !== KIND_TABLE) {
      if ((flags & LEAF) === 0) return WALK_OK;
      const descAddr = ctx.descAddr;
      if (visitor.visit(ctx, LEAF) === STOP) {
        this.faultLevel = level;
        return WALK_STOPPED;
      }
      if (ctx.descAddr !== descAddr || kindOf(ctx) !== KIND_TABLE) return WALK_OK;
    } else if ((flags & TABLE_PRE) !== 0) {
      const r = visitor.visit(ctx, TABLE_PRE);
      if (r === STOP) {
        this.faultLevel = level;
        return WALK_STOPPED;
      }
      if (r === SKIP || kindOf(ctx) !== KIND_TABLE) return WALK_OK;
    }
    const gb = this.geometry.granuleBits;
    if (oaExceeds(ctx.hi, this.geometry.oaBits)) {
      // next-level table address above the OA size: Address size fault at this level
      this.faultLevel = level;
      this.faultAddr = tableAddress(ctx.lo, ctx.hi, gb);
      return WALK_ADDRESS_SIZE;
    }
    this.nextTable = tableAddress(ctx.lo, ctx.hi, gb);
    return DESCEND;
  }
  /** The next-level table address visitEntry found (valid when it returned DESCEND). */
  private nextTable = 0;

  /** TABLE_POST on entry `index` after its subtree: the descriptor re-read as the subtree's visitors left it. */
  private visitPost(name: number, index: number, level: number, descAddr: number, ia: number, size: number): number {
    const ctx = this.ctx;
    const mem = this.mem;
    ctx.level = level;
    ctx.tableAddr = descAddr - index * 8;
    ctx.tableName = name;
    ctx.index = index;
    ctx.descAddr = descAddr;
    ctx.lo = mem.read32(descAddr);
    ctx.hi = mem.read32(descAddr + 4);
    ctx.kind = classify(ctx.lo, level, this.geometry.granuleBits);
    ctx.ia = ia;
    ctx.size = size;
    return this.visitor.visit(ctx, TABLE_POST);
  }
}

/** One leaf (or invalid entry) found by `collectLeaves`: debugger listings. */
export interface LeafInfo {
  level: number;
  ia: number;
  size: number;
  descAddr: number;
  lo: number;
  hi: number;
  kind: DescriptorKind;
}

/**
 * Debugger helper: every valid leaf mapping in [start, end] (invalid entries are
 * skipped). Allocates; not for hot paths.
 */
export function collectLeaves(p: WalkParams, start: number, end: number, includeInvalid = false): { status: WalkStatus; leaves: LeafInfo[]; faultLevel: number } {
  const w = new Walker();
  const leaves: LeafInfo[] = [];
  const status = w.walk(p, start, end, {
    flags: LEAF,
    visit(c) {
      if (c.kind !== 0 || includeInvalid) leaves.push({ level: c.level, ia: c.ia, size: c.size, descAddr: c.descAddr, lo: c.lo, hi: c.hi, kind: c.kind });
      return CONTINUE;
    },
  });
  return { status, leaves, faultLevel: w.faultLevel };
}
