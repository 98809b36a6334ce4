/**
 * Exception entry to EL1, which Unicorn does not perform itself (DESIGN.md):
 * the architectural state change of AArch64.TakeException, and the mapping of
 * Unicorn's interrupt numbers (SVC, BRK, UNDEFINED, and HVC/SMC arriving as
 * UNDEFINED) to the exception or the EL2 exit each one is.
 */
import { Reg, type Unicorn } from '../unicorn/uc.js';
import { EC, esr, FSC, issDataAbort, issWfx } from './esr.js';
import { decodeMemoryAccess } from './access.js';
import { PSTATE, pstateEl } from './pstate.js';
import { SR } from './sysregs.js';
import type { ExceptionKind } from './guest-cpu.js';
import type { Exit, HaltReason } from './exits.js';
import type { SysregEncoding } from './sysreg-catalogue.js';
import { hexVa } from '../types.js';

const VECTOR_KIND_OFFSET: Record<ExceptionKind, number> = { sync: 0x000, irq: 0x080, fiq: 0x100, serror: 0x180 };

/** WFI (HINT #3), Arm ARM C6.2 "WFI". */
const WFI_WORD = 0xd503207f;

/** Unicorn's interrupt numbers (QEMU's EXCP_* in target/arm/cpu.h). */
const EXCP_UDEF = 1;
const EXCP_SWI = 2;
const EXCP_BKPT = 7;
const EXCP_DATA_ABORT = 4;
/** SMC at EL1 when Unicorn's own SCR_EL3.SMD is 0: reported with PC after the SMC. */
const EXCP_SMC = 13;

interface EntryCpu {
  readonly uc: Unicorn;
  readonly pstate: number;
  sysreg(e: SysregEncoding): bigint;
  setSysreg(e: SysregEncoding, v: bigint): boolean;
}

/**
 * Take an exception to EL1 (Arm ARM D1.10.2 "Exception entry",
 * AArch64.TakeException): SPSR_EL1 = PSTATE, ELR_EL1 = preferred return
 * address, PSTATE.{D,A,I,F} = 1, EL1h, SS = IL = 0, PAN = !SCTLR_EL1.SPAN,
 * UAO = 0, BTYPE = 0, SSBS = SCTLR_EL1.DSSBS; PC = VBAR_EL1 + offset, where the
 * offset is 0x000 (current EL, SP_EL0), 0x200 (current EL, SP_ELx) or 0x400
 * (lower EL, AArch64) plus 0x80/0x100/0x180 for IRQ/FIQ/SError.
 */
export function enterException(cpu: EntryCpu, kind: ExceptionKind, esrValue: number, preferredReturn: number, far?: number): void {
  const uc = cpu.uc;
  // Unicorn 2.1.1 shows PSTATE.IL = 1 to the interrupt hook for BRK and UDF
  // (QEMU itself saves IL = 0 for them, as the Arm ARM requires: IL is set
  // only by an illegal exception return, which hypemu never produces).
  const old = cpu.pstate & ~PSTATE.IL;
  const oldEl = pstateEl(old);
  const base = oldEl === 0 ? 0x400 : old & PSTATE.SP ? 0x200 : 0x000;
  const sctlr = cpu.sysreg(SR.SCTLR_EL1);
  // Unicorn does not bank SP when PSTATE changes: save the live SP to the
  // bank it belongs to, then load SP_EL1 (DESIGN.md).
  const sp = uc.regRead(Reg.SP);
  const spEl1 = oldEl === 0 || (old & PSTATE.SP) === 0 ? uc.regRead(Reg.SP_EL1) : sp;
  if (oldEl === 0 || (old & PSTATE.SP) === 0) uc.regWrite(Reg.SP_EL0, sp);
  let next = (old & 0xf000_0000) | PSTATE.DAIF | 0x5; // NZCV kept, DAIF masked, EL1h
  if ((sctlr & (1n << 23n)) === 0n) next |= PSTATE.PAN; // SCTLR_EL1.SPAN == 0 sets PAN
  else next |= old & PSTATE.PAN;
  if (sctlr & (1n << 44n)) next |= PSTATE.SSBS; // SCTLR_EL1.DSSBS
  // PSTATE first, then the CP_REG writes, which rebuild QEMU's cached flags (DESIGN.md).
  uc.regWrite(Reg.PSTATE, next >>> 0);
  uc.regWrite(Reg.SP, spEl1);
  cpu.setSysreg(SR.SPSR_EL1, BigInt(old >>> 0));
  cpu.setSysreg(SR.ELR_EL1, BigInt(preferredReturn));
  cpu.setSysreg(SR.ESR_EL1, BigInt(esrValue >>> 0));
  if (far !== undefined) cpu.setSysreg(SR.FAR_EL1, BigInt.asUintN(64, BigInt(far)));
  const vbarReg = cpu.sysreg(SR.VBAR_EL1);
  const vbar = Number(vbarReg & 0xffff_ffff_f800n);
  const target = BigInt(vbar + base + VECTOR_KIND_OFFSET[kind]) | ((vbarReg >> 48n) << 48n);
  uc.regWrite(Reg.PC, target);
}

export interface TrapCpu {
  pc: number;
  readonly el: number;
  readInsn(va: number): number | null;
  /** Xn for address generation (31 = SP). */
  readBase(n: number): bigint;
  takeException(kind: ExceptionKind, esr: number, preferredReturn: number, far?: number): void;
  /** A debug exception: to EL1, or routed to EL2 (Vcpu.debugException). */
  debugException(esr: number, preferredReturn: number, far: number | undefined, guestTakes: boolean, guestEsr?: number): void;
  dispatchExit(exit: Exit): void;
  halt(reason: HaltReason): void;
  /** SMC at the current EL exits to EL2 (HCR_EL2.TSC at EL1), as the EL2 model says (hyp/traps.ts). */
  trapsSmc(): boolean;
  /** HVC at the current EL goes to EL2 (not EL0, not under HCR_EL2.HCD), as the EL2 model says. */
  takesHvc(): boolean;
}

/** An exception Unicorn raised (its interrupt hook): SVC, BRK, or an UNDEFINED instruction. */
export function onCpuException(cpu: TrapCpu, intno: number): void {
  const pc = cpu.pc;
  switch (intno) {
    case EXCP_SWI: {
      // SVC: Unicorn reports it with PC already after the instruction.
      const insn = cpu.readInsn(pc - 4) ?? 0;
      cpu.takeException('sync', esr(EC.SVC64, (insn >>> 5) & 0xffff), pc);
      return;
    }
    case EXCP_BKPT: {
      // BRK: always generated (D2.8 "Breakpoint instruction exceptions"), routed like the other
      // debug exceptions (to EL2 under MDCR_EL2.TDE/HCR_EL2.TGE).
      const insn = cpu.readInsn(pc) ?? 0;
      cpu.debugException(esr(EC.BRK64, (insn >>> 5) & 0xffff), pc, undefined, true);
      return;
    }
    case EXCP_UDEF:
      onUndefined(cpu, pc);
      return;
    case EXCP_SMC:
      // The same decision as an SMC that arrives UNDEFINED: trapped (exit) or UNDEFINED at EL1.
      cpu.pc = pc - 4;
      onUndefined(cpu, pc - 4);
      return;
    case EXCP_DATA_ABORT: {
      // QEMU's own data aborts, with no TLB fill refused: alignment faults
      // (exclusives, load-acquire/store-release, atomics to an unaligned
      // address). Data Abort, DFSC 0b100001, FAR = the access (Arm ARM D8.14.2).
      const insn = cpu.readInsn(pc);
      const acc = insn === null ? null : decodeMemoryAccess(insn, (n: number) => cpu.readBase(n), pc);
      const ec = cpu.el === 0 ? EC.DABT_LOW : EC.DABT_CUR;
      cpu.takeException('sync', esr(ec, issDataAbort({ fsc: FSC.alignment(), wnr: acc?.write ?? false })), pc, acc?.address ?? 0);
      return;
    }
    default:
      cpu.halt({ kind: 'fault', message: `unhandled CPU exception ${intno} at PC ${hexVa(pc)}` });
  }
}

/**
 * HVC and SMC at EL1 arrive as UNDEFINED instructions (DESIGN.md), as do the really undefined
 * ones, and so does an EL0 WFI that SCTLR_EL1.nTWI = 0 traps to EL1 (QEMU raises it with the
 * WFx syndrome, which the interrupt hook does not show).
 */
function onUndefined(cpu: TrapCpu, pc: number): void {
  const insn = cpu.readInsn(pc);
  if (insn === WFI_WORD && cpu.el === 0) {
    // Trapped WFI (ESR_ELx EC 0x01, CV = 1, COND = 0b1110, TI = 00), ELR = the WFI.
    cpu.takeException('sync', esr(EC.WFX, issWfx(false)), pc);
    return;
  }
  if (insn !== null && (insn & 0xffe0_001f) >>> 0 === 0xd400_0002 && cpu.takesHvc()) {
    // HVC at EL1: to EL2; the preferred return address is the next instruction.
    const imm = (insn >>> 5) & 0xffff;
    cpu.pc = pc + 4;
    cpu.dispatchExit({ reason: 'hvc', esr: esr(EC.HVC64, imm), pc, imm });
    return;
  }
  if (insn !== null && (insn & 0xffe0_001f) >>> 0 === 0xd400_0003 && cpu.trapsSmc()) {
    // SMC trapped by HCR_EL2.TSC: the preferred return address is the SMC itself (the handler skips it).
    const imm = (insn >>> 5) & 0xffff;
    cpu.dispatchExit({ reason: 'smc', esr: esr(EC.SMC64, imm), pc, imm });
    return;
  }
  cpu.takeException('sync', esr(EC.UNKNOWN, 0), pc);
}
