/**
 * A vCPU's CPU core (a Unicorn instance) made ready to run guest EL1/EL0 code: QEMU's own EL2/EL3
 * registers, and the core's callbacks into the vCPU (TLB fill, exceptions, system instructions).
 *
 * Unicorn's CPU has EL2 and EL3 that nothing runs at (the EL2 model in hyp/ decides traps), but
 * QEMU's access checks still read them before our hooks run: they must say "let EL1 through,
 * Non-secure", or QEMU traps to an EL it cannot enter.
 */
import { SysInsn, type CpRegView, type SysInsnKind, type Unicorn } from '../unicorn/uc.js';
import { onCpuException } from './exception-entry.js';
import type { FillHandler } from './fill-handler.js';
import { onSysInsn } from './sysinsn-hook.js';
import type { VcpuInternals } from './vcpu-internals.js';

export function openCoreToEl1(uc: Unicorn): void {
  // QEMU's own access checks run before our system-instruction hook: with
  // its (unused) CNTHCTL_EL2 at reset 0 an EL1 access to the physical
  // timer/counter "traps to EL2", which asserts in Unicorn's Secure-only
  // CPU. Let EL1 through (EL1PCTEN | EL1PCEN); the timer is ours anyway.
  uc.sysregWrite({ op0: 3, op1: 4, crn: 14, crm: 1, op2: 0 }, 3n);
  // Likewise pointer authentication: QEMU checks its own HCR_EL2.APK/API
  // (keys, PAC instructions). Only those two bits: any trap bit set there
  // would make QEMU itself trap to an EL2 it cannot enter. The EL2 model's
  // HCR_EL2 (hyp/) is what decides traps.
  uc.sysregWrite({ op0: 3, op1: 4, crn: 1, crm: 1, op2: 0 }, (1n << 40n) | (1n << 41n));
  // QEMU 5.0 (Unicorn 2.1) reads HCR_EL2 as 0 in Secure state, where its CPU
  // starts: make EL1 Non-secure, as on a hypervisor host (SCR_EL3.NS, RW, and
  // APK/API so the pointer-authentication checks at EL3 pass too).
  uc.sysregWrite({ op0: 3, op1: 6, crn: 1, crm: 1, op2: 0 }, 1n | (1n << 10n) | (1n << 16n) | (1n << 17n));
}

/** Every TLB miss to the fill handler, every exception Unicorn raises and every system instruction to their hooks. */
export function installCoreHooks(v: VcpuInternals, fill: FillHandler): void {
  const uc = v.uc;
  uc.onTlbFill((va, type) => fill.onFill(va, type));
  uc.onInterrupt((intno) => onCpuException(v, intno));
  const sys = (kind: SysInsnKind, read: boolean) => (rt: number, cp: CpRegView) => onSysInsn(v, kind, rt, cp, read);
  uc.onSysInsn(SysInsn.MRS, sys(SysInsn.MRS, true));
  uc.onSysInsn(SysInsn.MSR, sys(SysInsn.MSR, false));
  uc.onSysInsn(SysInsn.SYS, sys(SysInsn.SYS, false));
  uc.onSysInsn(SysInsn.SYSL, sys(SysInsn.SYSL, true));
}
