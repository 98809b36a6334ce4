/**
 * Trap routing: given HCR_EL2 (and optionally MDCR_EL2 and SCTLR_EL1), does a
 * guest system-instruction access run natively or trap to EL2?
 *
 * The rules are the HCR_EL2 field descriptions of the Arm ARM (DDI0487)
 * D19.2.48 "HCR_EL2": TVM/TRVM (VM group), TID1/TID2/TID3 (ID groups), TACR
 * (ACTLR_EL1), TSW (DC by set/way), TPCP (DC to the PoC/PoP), TPU (IC, DC CVAU),
 * TTLB (TLBI), TDZ (DC ZVA), TIDCP (IMPLEMENTATION DEFINED space), TLOR, TERR,
 * APK (traps while clear); D19.2 "MDCR_EL2": TDA/TDOSA/TDRA/TPM/TPMCR. TSC
 * (SMC) and TWI/TWE (WFI/WFE) have their own helpers below.
 *
 * EL0: an EL0 access to a register that is UNDEFINED at EL0, or that an EL1
 * control (SCTLR_EL1.UCT/DZE/UCI) disables, takes its exception to EL1, and
 * that has priority over any trap to EL2 (Arm ARM D1, "Synchronous exception
 * prioritization": "Trapped to EL1" before "Trapped to EL2"); the route is then
 * 'native' so that the core raises it. The HCR traps that reach EL0 accesses:
 * TID2 (CTR_EL0), TPU (IC IVAU, DC CVAU), TPCP (DC CVAC/CIVAC/CVAP/CVADP), TDZ
 * (DC ZVA). TVM/TRVM/TID1/TID3/TACR/TSW/TTLB never matter at EL0: their
 * registers and operations are UNDEFINED there.
 *
 * Hot path: routeAccess allocates nothing and uses no BigInt when given
 * HcrWords; it returns one of a fixed set of frozen Route objects.
 */
import { HCR, type HcrBitName, type HcrWords } from './hcr.js';
import { MDCR, type MdcrBitName, type SysregRow } from './sysreg-table.js';
import { encodingMinEl, sysregKey } from '../emulator/cpu/sysreg-catalogue.js';
import type { SysInsnRoute } from '../emulator/cpu/exits.js';

export type TrapReason =
  | HcrBitName
  | `MDCR.${MdcrBitName}`
  /** no row: unknown register, trapped so the EL2 model reports it once and injects UNDEFINED (or RAZ/WI, bring-up) (seed 004) */
  | 'unknown'
  /** no trap bit applies, but hypemu must handle it (SysregRow.cpu === 'emulate') */
  | 'emulate';

export interface Route extends SysInsnRoute {
  readonly reason: TrapReason | null;
}

/** Trap controls as the runtime keeps them: HCR_EL2 halves plus optional MDCR_EL2 and SCTLR_EL1 (low 32 bits). */
export interface TrapControls extends HcrWords {
  /** MDCR_EL2 bits [31:0]; undefined = 0 (no debug/PMU traps) */
  mdcr?: number;
  /** SCTLR_EL1 bits [31:0] (UCT, DZE, UCI, nTWI, nTWE); undefined = every EL0 access enabled */
  sctlrEl1?: number;
  /** PMSELR_EL0.SEL, for PMXEVCNTR_EL0/PMXEVTYPER_EL0 against MDCR_EL2.HPMN; undefined = not checked */
  pmsel?: number;
}

export interface AccessInfo {
  readonly read: boolean;
  readonly el: number;
  readonly op0: number;
  readonly op1: number;
  readonly crn: number;
  readonly crm: number;
  readonly op2: number;
}

export const NATIVE: Route = Object.freeze({ route: 'native', reason: null });
/** The device that registered the row answers (no trap applies). */
export const DEVICE: Route = Object.freeze({ route: 'device', reason: null });
/**
 * UNDEFINED at the accessing EL: an EL2/EL3 register or instruction from EL1
 * or EL0, or an EL1 one from EL0 (Arm ARM D1 "Synchronous exception
 * prioritization": UNDEFINED, to EL1, before any trap to EL2).
 */
export const UNDEF: Route = Object.freeze({ route: 'undefined', reason: null });

/**
 * Trapped to EL1 by an EL1 control, before any trap to EL2 (D1 "Synchronous exception
 * prioritization"): an EL0 PMU access PMUSERENR_EL0 does not enable (routePmuEl0).
 */
export const TRAP_EL1: Route = Object.freeze({ route: 'el1-trap', reason: null });

const TRAPS = new Map<TrapReason, Route>();
function trapFor(reason: TrapReason): Route {
  let r = TRAPS.get(reason);
  if (!r) {
    r = Object.freeze({ route: 'trap', reason });
    TRAPS.set(reason, r);
  }
  return r;
}
for (const n of Object.keys(HCR) as HcrBitName[]) trapFor(n);
for (const n of Object.keys(MDCR) as MdcrBitName[]) trapFor(`MDCR.${n}`);
export const TRAP_UNKNOWN: Route = trapFor('unknown');
export const TRAP_EMULATE: Route = trapFor('emulate');
const TRAP_TIDCP = trapFor('TIDCP');

// Route objects indexed by HCR bit number / MDCR bit number, so the hot path does an array load.
const BY_HCR_BIT: Route[] = [];
for (const n of Object.keys(HCR) as HcrBitName[]) BY_HCR_BIT[HCR[n]] = trapFor(n);
const BY_MDCR_MASK = new Map<number, Route>();
for (const n of Object.keys(MDCR) as MdcrBitName[]) BY_MDCR_MASK.set(1 << MDCR[n], trapFor(`MDCR.${n}`));
const TPMCR_MASK = 1 << MDCR.TPMCR;
/**
 * MDCR_EL2.TDE: "MDCR_EL2.{TDRA,TDOSA,TDA} are treated as being 1 for all purposes other than
 * a direct read of MDCR_EL2" (the MDCR_EL2 register description, TDE; Arm ARM D2 "Routing
 * debug exceptions": TDE also routes debug exceptions to EL2, which this model never asks for).
 */
const TDE_MASK = 1 << MDCR.TDE;
const TDE_IMPLIES = (1 << MDCR.TDA) | (1 << MDCR.TDOSA) | (1 << MDCR.TDRA);
const PMCR_KEY = (3 << 14) | (3 << 11) | (9 << 7) | (12 << 3) | 0;

function bitIndex(word: number, mask: number): number {
  return word * 32 + (31 - Math.clz32(mask));
}

const scratch: TrapControls = { lo: 0, hi: 0 };

/**
 * Route one access. `row` is findSysreg(access) (undefined when the table has
 * no row). Returns NATIVE or a trap Route naming the bit responsible.
 */
export function routeAccess(hcr: TrapControls | bigint, row: SysregRow | undefined, access: AccessInfo): Route {
  let c: TrapControls;
  if (typeof hcr === 'bigint') {
    // Convenience path (tests, setup): not allocation-free.
    const v = BigInt.asUintN(64, hcr);
    scratch.lo = Number(v & 0xffff_ffffn) >>> 0;
    scratch.hi = Number(v >> 32n) >>> 0;
    c = scratch;
  } else {
    c = hcr;
  }

  if (row === undefined) {
    if (encodingMinEl(access) > access.el && encodingMinEl(access) > 1) return UNDEF;
    // D19.2.48 TIDCP: op0 = 3, CRn = 11 or 15 is the IMPLEMENTATION DEFINED space.
    // (At EL0 it is IMPLEMENTATION DEFINED whether TIDCP traps or the access UNDEFs; we trap.)
    if (access.op0 === 3 && (access.crn === 11 || access.crn === 15) && (c.lo & (1 << HCR.TIDCP)) !== 0) return TRAP_TIDCP;
    return TRAP_UNKNOWN;
  }

  // EL2/EL3 rows below their EL (EL0 access to EL1 rows is the el0 rule's business).
  if (row.minEl > 1 && row.minEl > access.el) return UNDEF;
  // An MSR to a read-only debug or PMU register, an MRS of a write-only one (OSLAR_EL1), is an
  // unallocated encoding: UNDEFINED before the MDCR_EL2 TDA/TDOSA/TDRA/TPM traps (D19 register
  // descriptions: those encodings have no access pseudocode).
  if (row.mdcrMask !== 0 && (access.read ? row.access === 'wo' : row.access === 'ro')) return UNDEF;
  if (access.el === 0) {
    const ctl = row.el0Ctl;
    if (ctl < 0) return row.storage === 'device' ? UNDEF : NATIVE; // UNDEFINED at EL0: the exception goes to EL1 (the CPU raises it for its own registers)
    if (ctl > 0 && c.sctlrEl1 !== undefined && (c.sctlrEl1 & ctl) === 0) return NATIVE; // disabled by SCTLR_EL1: trap to EL1
  }

  if (access.read) {
    if (row.rdWord >= 0) {
      const set = ((row.rdWord === 0 ? c.lo : c.hi) & row.rdMask) !== 0;
      if (set !== (row.rdInv === 1)) return BY_HCR_BIT[bitIndex(row.rdWord, row.rdMask)]!;
    }
  } else if (row.wrWord >= 0) {
    const set = ((row.wrWord === 0 ? c.lo : c.hi) & row.wrMask) !== 0;
    if (set !== (row.wrInv === 1)) return BY_HCR_BIT[bitIndex(row.wrWord, row.wrMask)]!;
  }

  // The row's second condition, both directions (TID4 on the cache-geometry registers, sysreg-table.ts).
  if (row.alsoWord >= 0) {
    const set = ((row.alsoWord === 0 ? c.lo : c.hi) & row.alsoMask) !== 0;
    if (set !== (row.alsoInv === 1)) return BY_HCR_BIT[bitIndex(row.alsoWord, row.alsoMask)]!;
  }

  if (row.mdcrMask !== 0 && c.mdcr !== undefined) {
    const mdcr = (c.mdcr & TDE_MASK) !== 0 ? c.mdcr | TDE_IMPLIES : c.mdcr;
    if ((mdcr & row.mdcrMask) !== 0) return BY_MDCR_MASK.get(row.mdcrMask)!;
    // D19.2 "MDCR_EL2", TPMCR: traps PMCR_EL0 alone.
    if (row.key === PMCR_KEY && (mdcr & TPMCR_MASK) !== 0) return BY_MDCR_MASK.get(TPMCR_MASK)!;
    // HPMN: after TPM/TPMCR, as the PMU registers' access pseudocode orders them.
    if (access.el < 2 && pmuCounterBeyondHpmn(row.key, c.mdcr, c.pmsel)) return UNDEF;
  }

  return row.cpu === 'emulate' ? TRAP_EMULATE : NATIVE;
}

// ---------------------------------------------------------------- MDCR_EL2.HPMN

/** MDCR_EL2.HPMN, bits [4:0]: event counters 0..HPMN-1 belong to EL1/EL0, HPMN..N-1 to EL2. */
export const MDCR_HPMN_MASK = 0x1f;
/** PMEVCNTR<n>_EL0 and PMEVTYPER<n>_EL0: op0 3, op1 3, CRn 14 (key bits [15:7]). */
const PMEV_KEY_HI = (3 << 7) | (3 << 4) | 14;

/**
 * The event counter a register names: n of PMEVCNTR<n>_EL0 (CRm 8..11) and PMEVTYPER<n>_EL0
 * (CRm 12..15, n = CRm<1:0>:op2), or -1 (PMCCFILTR_EL0 is CRm 15 op2 7, "n = 31": not a counter).
 */
export function pmuEventCounterIndex(key: number): number {
  if (key >>> 7 !== PMEV_KEY_HI) return -1;
  const crm = (key >>> 3) & 15;
  if (crm < 8) return -1;
  const n = ((crm & 3) << 3) | (key & 7);
  return n === 31 ? -1 : n;
}

/** PMXEVCNTR_EL0 or PMXEVTYPER_EL0 (the counter is PMSELR_EL0.SEL). */
export function isPmuSelectedCounterReg(key: number): boolean {
  return key === KEY_PMXEVCNTR || key === KEY_PMXEVTYPER;
}

/**
 * Is this an EL1/EL0 access to an event counter reserved for EL2 by MDCR_EL2.HPMN? Arm ARM D13.3
 * ("Performance Monitors: the counters reserved for EL2", MDCR_EL2.HPMN) and the access
 * pseudocode of PMEVCNTR<n>_EL0 / PMEVTYPER<n>_EL0: "if n >= AArch64.GetNumEventCountersAccessible()
 * then UNDEFINED" after the TPM trap (HPMN is that number at EL1 and EL0). For PMXEVCNTR_EL0 /
 * PMXEVTYPER_EL0 with PMSELR_EL0.SEL >= HPMN (and not 31, the cycle counter's filter) the access is
 * CONSTRAINED UNPREDICTABLE; KVM's pmu_counter_idx_valid() makes it UNDEFINED, and so do we. The
 * other PMU registers hide those counters' bits instead (RAZ/WI: the PMU model's visible mask).
 */
export function pmuCounterBeyondHpmn(key: number, mdcr: number, pmsel: number | undefined): boolean {
  const hpmn = mdcr & MDCR_HPMN_MASK;
  const n = pmuEventCounterIndex(key);
  if (n >= 0) return n >= hpmn;
  if (pmsel !== undefined && isPmuSelectedCounterReg(key)) return pmsel !== 31 && pmsel >= hpmn;
  return false;
}

// ---------------------------------------------------------------- SMC, HVC, WFI/WFE
// The one set of rules for these instructions: the hypervisor's El2Handler answers the vCPU
// with them (hyp/hypervisor.ts), and the unit tests check them.

/**
 * D19.2.48 TSC: SMC executed at EL1 traps to EL2 (EC 0x17) when HCR_EL2.TSC = 1.
 * SMC at EL0 is always UNDEFINED (to EL1), never trapped to EL2 (C6.2 "SMC":
 * "UNDEFINED in EL0"); at EL1 with TSC = 0 it is UNDEFINED too, as this board has
 * no EL3 (C6.2 "SMC": EL3 not implemented).
 */
export function trapsSmc(hcrLo: number, el: number): boolean {
  return el === 1 && (hcrLo & (1 << HCR.TSC)) !== 0;
}

/**
 * HVC (C6.2 "HVC"): UNDEFINED at EL0; at EL1 it is UNDEFINED when HCR_EL2.HCD
 * = 1 (D19.2.48 HCD: "HVC instructions are UNDEFINED at EL2 and EL1", EL3 not
 * implemented, so SCR_EL3.HCE does not apply); otherwise it is taken to EL2
 * (EC 0x16, preferred return address the next instruction).
 */
export function routeHvc(hcrLo: number, el: number): 'el2' | 'undefined' {
  if (el === 0) return 'undefined';
  return (hcrLo & (1 << HCR.HCD)) !== 0 ? 'undefined' : 'el2';
}

/** SCTLR_EL1.nTWI (bit 16) / nTWE (bit 18): 0 traps EL0 WFI/WFE to EL1 (D19.2 "SCTLR_EL1"). */
export const SCTLR_NTWI = 1 << 16;
export const SCTLR_NTWE = 1 << 18;

/**
 * Where a WFI/WFE that would wait goes: D19.2.48 TWI/TWE trap WFI/WFE at EL0
 * and EL1 to EL2 (EC 0x01), but an EL0 WFx that SCTLR_EL1.nTWI/nTWE = 0 traps
 * to EL1 goes there first (Arm ARM D1 "Synchronous exception prioritization":
 * the EL1 trap has priority; the ESR_ELx EC 0x01 description: "Trapped WFI or
 * WFE instruction execution", ISS CV = 1, COND = 0b1110, TI). Both traps apply
 * only "if the instruction would otherwise have caused the PE to enter a
 * low-power state": a WFI with an interrupt pending completes.
 * `sctlrEl1Lo` undefined = nTWI and nTWE set (no EL1 trap).
 */
export function routeWfx(hcrLo: number, wfe: boolean, el: number, sctlrEl1Lo?: number): 'native' | 'el1' | 'el2' {
  if (el === 0 && sctlrEl1Lo !== undefined && (sctlrEl1Lo & (wfe ? SCTLR_NTWE : SCTLR_NTWI)) === 0) return 'el1';
  return (hcrLo & (1 << (wfe ? HCR.TWE : HCR.TWI))) !== 0 ? 'el2' : 'native';
}

// ---------------------------------------------------------------- EL0 PMU access

/** PMUSERENR_EL0 fields (its register description): EN 0, SW 1 (PMSWINC), CR 2 (PMCCNTR read), ER 3 (event counter read, PMSELR). */
export const PMUSERENR = { EN: 1, SW: 2, CR: 4, ER: 8 } as const;

const pmuKey = (crn: number, crm: number, op2: number) => sysregKey({ op0: 3, op1: 3, crn, crm, op2 });
const KEY_PMUSERENR = pmuKey(9, 14, 0);
const KEY_PMSWINC = pmuKey(9, 12, 4);
const KEY_PMSELR = pmuKey(9, 12, 5);
const KEY_PMCCNTR = pmuKey(9, 13, 0);
const KEY_PMXEVTYPER = pmuKey(9, 13, 1);
const KEY_PMXEVCNTR = pmuKey(9, 13, 2);
/** PMEVCNTR<n>_EL0: op0 3, op1 3, CRn 14, CRm 8..11. */
const isEventCounter = (key: number) => key === KEY_PMXEVCNTR || (key >> 3 >= pmuKey(14, 8, 0) >> 3 && key >> 3 <= pmuKey(14, 11, 0) >> 3);

/**
 * An EL0 access to a PMU register (a row whose el0 rule is 'PMUSERENR', or PMUSERENR_EL0
 * itself), as the PMU registers' access pseudocode decides it before any EL2 trap: enabled by
 * PMUSERENR_EL0.EN, or for PMSWINC_EL0 writes by SW, PMCCNTR_EL0 reads by CR, event counter
 * reads and PMSELR_EL0 by ER; otherwise a system access trap to EL1 (EC 0x18; QEMU 7.2
 * agrees, guest unknown-sysreg). PMUSERENR_EL0 is read-only at EL0: a write is UNDEFINED.
 */
export function routePmuEl0(key: number, read: boolean, pmuserenr: number): 'ok' | 'el1' | 'undefined' {
  if (key === KEY_PMUSERENR) return read ? 'ok' : 'undefined';
  if ((pmuserenr & PMUSERENR.EN) !== 0) return 'ok';
  let allow = 0;
  if (key === KEY_PMSWINC) allow = read ? 0 : PMUSERENR.SW;
  else if (key === KEY_PMCCNTR) allow = read ? PMUSERENR.CR : 0;
  else if (key === KEY_PMSELR) allow = PMUSERENR.ER;
  else if (isEventCounter(key)) allow = read ? PMUSERENR.ER : 0;
  return (pmuserenr & allow) !== 0 ? 'ok' : 'el1';
}
