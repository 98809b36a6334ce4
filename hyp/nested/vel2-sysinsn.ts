/**
 * System instructions a guest hypervisor executes at virtual EL2 (all of them reach the
 * system-instruction hook: the CPU runs it at EL1): EL2 register accesses against the virtual
 * EL2 register file, CurrentEL (reads EL2), SP_EL1 and its guest's EL1 context (L2's, kept
 * here while L1 runs), *_EL12/*_EL02 and EL3 registers (UNDEFINED: E2H reads as 0, no EL3),
 * its TLBIs (the shadow stage 2s and the model TLB) and ATs (at.ts). Arm ARM D19 register
 * descriptions; C5.5 TLBI and AT.
 */
import type { SysInsnAccess, SysInsnRoute } from '../../emulator/cpu/exits.js';
import type { GuestCpu } from '../../emulator/cpu/guest-cpu.js';
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';
import { logger } from '../log.js';
import { decodeTlbi, type TlbiOp } from './tlbi.js';
import { el2RegName, l2El1Index, KEY_CURRENT_EL, KEY_SP_EL1, type VirtualEl2 } from './vregs.js';

const E2H = 34n;
const HANDLED: SysInsnRoute = Object.freeze({ route: 'handled', reason: null });

export interface NestedStats {
  exitsToL1: Record<string, number>;
  erets: number;
  vel2Sysregs: number;
  vel2Undefined: number;
  unknownEl2: Record<string, number>;
}

/** What the emulation reads and changes of the nested model (nested.ts). */
export interface Vel2SysState {
  readonly vel2: VirtualEl2;
  /** L2's EL1 context, in L2_EL1_CONTEXT order. */
  readonly l2El1: bigint[];
  readonly stats: NestedStats;
  /** Unknown EL2 encodings already warned about. */
  readonly warned: Set<number>;
  spEl1(): bigint;
  setSpEl1(v: bigint): void;
  /** L1's TLBI on the shadow stage 2s and model-TLB entries of its current VMID. */
  tlbi(op: TlbiOp, xt: bigint): void;
  /** PAR_EL1 for an AT, or null when the encoding is not one. */
  at(v: GuestCpu, a: SysInsnAccess): bigint | null;
  /** UNDEFINED at virtual EL2: exception entry at VBAR_EL2. */
  undefinedAt(pc: number): void;
  /** SCTLR/TCR/TTBR0/MAIR_EL2 changed: L1's regime goes back onto the CPU. */
  regimeChanged(): void;
  charge(): void;
}

/** Emulated here ('handled', PC advanced), or null for the normal route. */
export function routeVel2SysInsn(n: Vel2SysState, v: GuestCpu, a: SysInsnAccess): SysInsnRoute | null {
  const key = sysregKey(a);
  const done = (value?: bigint): SysInsnRoute => {
    if (a.read) v.setX(a.rt, value ?? 0n);
    n.stats.vel2Sysregs++;
    n.charge();
    v.pc = a.pc + 4;
    return HANDLED;
  };
  if (a.op0 === 3) {
    if (key === KEY_CURRENT_EL) return a.read ? done(2n << 2n) : null;
    if (a.op1 === 4) {
      if (key === KEY_SP_EL1) {
        if (!a.read) n.setSpEl1(a.value);
        return done(n.spEl1());
      }
      const name = el2RegName(key);
      if (name === undefined) return unknownEl2(n, a, done);
      if (a.read) return done(n.vel2.get(name));
      writeEl2(n, name, a.value);
      return done();
    }
    if (a.op1 === 5 || a.op1 === 6) {
      // *_EL12/*_EL02 need E2H (reads as 0), EL3 registers do not exist: UNDEFINED at EL2
      n.stats.vel2Undefined++;
      n.undefinedAt(a.pc);
      return HANDLED;
    }
    if (a.op1 === 0) {
      const i = l2El1Index(key);
      if (i >= 0) {
        if (!a.read) n.l2El1[i] = a.value;
        return done(n.l2El1[i]);
      }
    }
    return null;
  }
  if (a.op0 === 1 && (a.crn === 8 || a.crn === 9)) {
    const op = decodeTlbi(a.op1, a.crn, a.crm, a.op2);
    if (op === undefined) return null;
    n.tlbi(op, a.value);
    // L1's own translations (EL2 regime, or L2 run without L1 stage 2) are our VMID's entries,
    // and Unicorn's TLB is not tagged: every TLBI flushes it whole
    v.flushTlb();
    return done();
  }
  if (a.op0 === 1 && a.crn === 7 && (a.crm === 8 || a.crm === 9)) {
    const par = n.at(v, a);
    if (par === null) return null;
    n.l2El1[l2El1Index(sysregKey(SR.PAR_EL1))] = par;
    return done();
  }
  return null;
}

function writeEl2(n: Vel2SysState, name: string, value: bigint): void {
  let val = value;
  if (name === 'HCR_EL2') val &= ~(1n << E2H); // non-VHE only: E2H is RES0 here
  n.vel2.set(name, val);
  if (name === 'SCTLR_EL2' || name === 'TCR_EL2' || name === 'TTBR0_EL2' || name === 'MAIR_EL2') n.regimeChanged();
}

function unknownEl2(n: Vel2SysState, a: SysInsnAccess, done: (v?: bigint) => SysInsnRoute): SysInsnRoute {
  const label = `S3_${a.op1}_C${a.crn}_C${a.crm}_${a.op2}`;
  n.stats.unknownEl2[label] = (n.stats.unknownEl2[label] ?? 0) + 1;
  const key = sysregKey(a);
  if (!n.warned.has(key)) {
    n.warned.add(key);
    logger.warn({ pc: '0x' + a.pc.toString(16) }, `virtual EL2: unknown EL2 register ${label} ${a.read ? 'read' : 'written'}: reads as zero, writes ignored`);
  }
  return done(0n);
}
