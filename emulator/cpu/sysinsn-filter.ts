/**
 * Which system instructions need no JavaScript at all (issue 10: a Linux boot makes ~3.25M
 * MRS/MSR/SYS/SYSL hook calls, almost all for instructions Unicorn then runs natively:
 * `mrs SP_EL0` for `current`, DC ZVA, TPIDR_EL1, DAIF, CTR_EL0...).
 *
 * One bitmap per hook kind (MRS, MSR, SYS, SYSL), indexed by the packed encoding
 * (sysregKey: op0:op1:CRn:CRm:op2, 16 bits). A bit is set only when the instruction, at EL0
 * *and* at EL1 (the hook does not know the EL without an FFI call, so the filter decides for
 * both), is routed 'native' by the very route the hook would ask (the EL2 model's, or the
 * catalogue's own rules with no EL2 model) and the hook would do nothing else for it:
 *  - a write to a register the MMU model reads (SR_FLAG.MMU_INPUT: SCTLR, TCR, TTBRx, MAIR)
 *    marks the regime dirty: never filtered;
 *  - TLBI (the model TLB must forget) and IC IALLU/IALLUIS/IVAU (the code guard retakes its
 *    snapshots, emulator/cpu/code-guard.ts): never filtered;
 *  - a device's row (counters, GIC CPU interface), a trap, UNDEFINED (EL2/EL3 registers below
 *    EL2), an encoding the catalogue does not know: routed otherwise, so never filtered.
 * The route depends only on the trap controls (HCR_EL2 | a guest hypervisor's trap bits,
 * MDCR_EL2) and the catalogue, so bitmaps are cached per such state; an EL2 model that cannot
 * promise that (a guest hypervisor at virtual EL2) gets no filter at all.
 */
import { SysInsn, type SysInsnKind, type Unicorn } from '../unicorn/uc.js';
import { SR_FLAG, type SysregCatalogue, type SysregEntry } from './sysreg-catalogue.js';
import type { El2Handler, SysInsnAccess, SysInsnRoute, SysRoutingInputs } from './exits.js';
import type { GuestCpu } from './guest-cpu.js';

/** Bytes in one bitmap: one bit per 16-bit packed encoding. */
export const FILTER_BYTES = 65536 / 8;

/** The four hook kinds in SysInsn order (1..4), and whether each reads (Rt is a destination). */
const KINDS: readonly { kind: SysInsnKind; read: boolean }[] = [
  { kind: SysInsn.MRS, read: true },
  { kind: SysInsn.MSR, read: false },
  { kind: SysInsn.SYS, read: false },
  { kind: SysInsn.SYSL, read: true },
];

export interface FilterHost extends GuestCpu {
  readonly el2: El2Handler | null;
  readonly sysregs: SysregCatalogue;
}

/** The routing function the hook uses with no EL2 model (sysinsn-hook.ts). */
export type BareRoute = (entry: SysregEntry | undefined, el: number) => SysInsnRoute;

interface CacheLine {
  lo: number;
  hi: number;
  mdcr: number;
  readonly maps: Uint8Array[];
}

const CACHE_LINES = 8;

/** IC IALLUIS (op1 0, CRm 1, op2 0), IC IALLU (op1 0, CRm 5, op2 0), IC IVAU (op1 3, CRm 5, op2 1). */
function isIcMaintenance(e: SysregEntry): boolean {
  return e.op0 === 1 && e.crn === 7 && (e.crm === 1 || e.crm === 5) && (e.op2 === 0 || e.op2 === 1);
}

export class SysInsnFilter {
  /** The bitmaps in force, by SysInsn kind - 1 (null: no filter, everything goes to JavaScript). */
  current: Uint8Array[] | null = null;
  /** Bumped when `current` changes (the native filter copies the bitmaps then). */
  version = 0;
  private readonly inputs: SysRoutingInputs = { lo: 0, hi: 0, mdcr: 0 };
  private readonly cache: CacheLine[] = [];
  private generation = -1;
  private el2: El2Handler | null | undefined = undefined;
  private readonly access: { -readonly [K in keyof SysInsnAccess]: SysInsnAccess[K] } = { op0: 0, op1: 0, crn: 0, crm: 0, op2: 0, rt: 0, read: true, value: 0n, pc: 0, el: 1 };

  constructor(
    private readonly cpu: FilterHost,
    private readonly bareRoute: BareRoute,
  ) {}

  /**
   * Bring `current` in line with the trap controls now in force. Cheap when nothing changed
   * (a few comparisons, no allocation); called at every slice start, after every exit, and by
   * the hook itself before it trusts a bit.
   */
  refresh(): void {
    const el2 = this.cpu.el2;
    const cat = this.cpu.sysregs;
    if (el2 !== this.el2 || cat.generation !== this.generation) {
      this.el2 = el2;
      this.generation = cat.generation;
      this.cache.length = 0;
      this.set(null);
    }
    const inp = this.inputs;
    if (el2 !== null) {
      if (el2.sysInsnRoutingInputs === undefined || !el2.sysInsnRoutingInputs(inp)) {
        this.set(null);
        return;
      }
    } else {
      inp.lo = inp.hi = inp.mdcr = 0;
    }
    const cur = this.cache[0];
    if (cur !== undefined && this.current === cur.maps && cur.lo === inp.lo && cur.hi === inp.hi && cur.mdcr === inp.mdcr) return;
    let line = this.cache.find((c) => c.lo === inp.lo && c.hi === inp.hi && c.mdcr === inp.mdcr);
    if (line === undefined) {
      line = { lo: inp.lo, hi: inp.hi, mdcr: inp.mdcr, maps: this.compute() };
      if (this.cache.length >= CACHE_LINES) this.cache.pop();
    } else {
      this.cache.splice(this.cache.indexOf(line), 1);
    }
    this.cache.unshift(line);
    this.set(line.maps);
  }

  /** Is the instruction (hook kind, packed key) one the hook may leave to the CPU at once? */
  /** The version Unicorn's native hook has (pushTo). */
  private pushed = -1;

  /** Refresh (cheap when the trap controls did not change) and hand a changed filter to Unicorn's native hook. */
  pushTo(uc: Unicorn): this {
    this.refresh();
    if (this.version !== this.pushed) {
      this.pushed = this.version;
      const maps = this.current;
      uc.setSysInsnFilter(SysInsn.MRS, maps?.[0] ?? null);
      uc.setSysInsnFilter(SysInsn.MSR, maps?.[1] ?? null);
      uc.setSysInsnFilter(SysInsn.SYS, maps?.[2] ?? null);
      uc.setSysInsnFilter(SysInsn.SYSL, maps?.[3] ?? null);
    }
    return this;
  }

  passes(kind: number, key: number): boolean {
    const m = this.current;
    return m !== null && (m[kind - 1]![key >>> 3]! & (1 << (key & 7))) !== 0;
  }

  private set(maps: Uint8Array[] | null): void {
    if (this.current === maps) return;
    this.current = maps;
    this.version++;
  }

  /** Ask the route, for every catalogue row, each hook kind, at EL0 and EL1. */
  private compute(): Uint8Array[] {
    const maps = KINDS.map(() => new Uint8Array(FILTER_BYTES));
    for (const e of this.cpu.sysregs.entries()) {
      if (e.group === 'TLB' || isIcMaintenance(e)) continue;
      for (const { kind, read } of KINDS) {
        if (!read && (e.flags & SR_FLAG.MMU_INPUT) !== 0) continue;
        if (this.nativeAt(e, read, 0) && this.nativeAt(e, read, 1)) maps[kind - 1]![e.key >>> 3]! |= 1 << (e.key & 7);
      }
    }
    return maps;
  }

  private nativeAt(e: SysregEntry, read: boolean, el: number): boolean {
    const a = this.access;
    a.op0 = e.op0;
    a.op1 = e.op1;
    a.crn = e.crn;
    a.crm = e.crm;
    a.op2 = e.op2;
    a.read = read;
    a.el = el;
    const el2 = this.cpu.el2;
    const r = el2 !== null ? el2.routeSysInsn(this.cpu, a, e) : this.bareRoute(e, el);
    return r.route === 'native';
  }
}
