/**
 * The system-instruction hook: every MRS/MSR/SYS/SYSL the guest executes
 * (UC_HOOK_INSN, DESIGN.md). One catalogue lookup, then the EL2 model's route
 * (or, with no EL2 model, the catalogue's own rules) decides: native, the
 * row's device, an exit carrying the row and the trap reason, or UNDEFINED.
 */
import { Reg, type CpRegView, type SysInsnKind } from '../unicorn/uc.js';
import type { SysInsnFilter } from './sysinsn-filter.js';
import { EC, esr, issSysreg } from './esr.js';
import { SR_FLAG, sysregKey, type SysregEntry } from './sysreg-catalogue.js';
import type { GuestCpu } from './guest-cpu.js';
import type { El2Handler, Exit, SysInsnAccess, SysInsnRoute } from './exits.js';

export interface SysInsnCpu extends GuestCpu {
  readonly el2: El2Handler | null;
  dispatchExit(exit: Exit): void;
  /** A native write changed a register the MMU model reads. */
  regimeChanged(): void;
  /** The CPU runs a TLBI itself (no trap applies): the model TLB drops what it names too. */
  nativeTlbi(entry: SysregEntry, xt: bigint): void;
  /** Code snapshots are in use (code-guard.ts) or other vCPUs translate code: IC maintenance has work (maintenance.ts). */
  readonly icMaintenanceNeeded: boolean;
  icMaintenance(cp: CpRegView): void;
  /** Which instructions need nothing from us (sysinsn-filter.ts), brought up to date. */
  syncSysFilter(): SysInsnFilter;
  /** Exception entries so far (bumped by takeException). */
  readonly exceptionSeq: number;
  /** An exception was taken from this hook: make Unicorn honour the new PC (vcpu.ts). */
  hookRedirect(target: number, started?: boolean): void;
}

/** Unicorn register id → architectural register number (31 = XZR/SP). */
function rtFromUc(regId: number): number {
  if (regId >= Reg.X0 && regId <= Reg.X0 + 28) return regId - Reg.X0;
  if (regId === Reg.X29) return 29;
  if (regId === Reg.X30) return 30;
  return 31;
}

/** Returns true when the instruction was dealt with (Unicorn skips it), false to run it natively. */
export function onSysInsn(cpu: SysInsnCpu, kind: SysInsnKind, rtId: number, cp: CpRegView, read: boolean): boolean {
  // Early exit before any FFI read or allocation: routed native, nothing for us to do
  // (the native filter, when built, already kept most of these out of JavaScript).
  if (cpu.syncSysFilter().passes(kind, sysregKey(cp))) return false;
  // IC IALLUIS / IC IALLU / IC IVAU: code snapshots in use are retaken (code-guard.ts), other vCPUs' code dropped.
  if (cp.op0 === 1 && cp.crn === 7 && cpu.icMaintenanceNeeded) cpu.icMaintenance(cp);
  const pc = cpu.pc;
  const rt = rtFromUc(rtId);
  const el = cpu.el;
  const entry = cpu.sysregs.get(sysregKey(cp));
  const access: SysInsnAccess = {
    op0: cp.op0,
    op1: cp.op1,
    crn: cp.crn,
    crm: cp.crm,
    op2: cp.op2,
    rt,
    read,
    value: read ? 0n : rt === 31 ? 0n : cp.val,
    pc,
    el,
  };
  const seq = cpu.exceptionSeq;
  const r = cpu.el2 ? cpu.el2.routeSysInsn(cpu, access, entry) : bareRoute(entry, el);
  switch (r.route) {
    case 'handled':
      if (cpu.exceptionSeq !== seq) cpu.hookRedirect(cpu.pc);
      return true;
    case 'device': {
      const d = entry!.device!;
      if (read) cpu.setX(rt, d.read(entry!));
      else d.write(entry!, access.value);
      cpu.pc = pc + 4;
      return true;
    }
    case 'undefined':
      cpu.takeException('sync', esr(EC.UNKNOWN, 0), pc);
      cpu.hookRedirect(cpu.pc);
      return true;
    case 'el1-trap':
      // A system access trap to EL1 (EC 0x18 with the MRS/MSR ISS), ELR = the instruction.
      cpu.takeException('sync', esr(EC.SYS64, issSysreg(access)), pc);
      cpu.hookRedirect(cpu.pc);
      return true;
    case 'trap':
      cpu.dispatchExit({
        reason: 'sysreg',
        esr: esr(EC.SYS64, issSysreg(access)),
        pc,
        op0: access.op0,
        op1: access.op1,
        crn: access.crn,
        crm: access.crm,
        op2: access.op2,
        rt,
        read,
        value: access.value,
        row: entry ?? null,
        trap: r.reason,
      });
      // The EL2 model injected an exception (an UNDEFINED for an encoding it does not know).
      if (cpu.exceptionSeq !== seq) cpu.hookRedirect(cpu.pc);
      return true;
    case 'native':
      // A native write to a register the MMU model reads: re-read the regime at the next fill.
      if (!read && entry !== undefined && (entry.flags & SR_FLAG.MMU_INPUT) !== 0) cpu.regimeChanged();
      else if (entry !== undefined && entry.group === 'TLB') cpu.nativeTlbi(entry, access.value);
      return false;
  }
}

const BARE_NATIVE: SysInsnRoute = Object.freeze({ route: 'native', reason: null });
const BARE_DEVICE: SysInsnRoute = Object.freeze({ route: 'device', reason: null });
const BARE_UNDEF: SysInsnRoute = Object.freeze({ route: 'undefined', reason: null });

/** With no EL2 model attached: the catalogue's own rules (a device answers its rows; EL2/EL3 rows are UNDEFINED). */
export function bareRoute(entry: SysregEntry | undefined, el: number): SysInsnRoute {
  if (entry === undefined) return BARE_NATIVE;
  if (entry.minEl > 1 && entry.minEl > el) return BARE_UNDEF;
  return entry.device !== null ? BARE_DEVICE : BARE_NATIVE;
}
