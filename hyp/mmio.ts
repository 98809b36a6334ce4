/**
 * MMIO emulation from a stage-2 data abort syndrome, as KVM's io_mem_abort
 * does: with ISV = 1 the ESR_EL2 ISS gives the access size (SAS), the
 * register (SRT), sign extension (SSE) and width of the destination (SF), so
 * the hypervisor performs the access on the device model and skips the
 * instruction without decoding it.
 */
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import type { Stage2AbortExit } from '../emulator/cpu/exits.js';
import type { MmioBus } from '../emulator/memory/bus.js';
import { EC, esr, FSC, issDataAbort } from '../emulator/cpu/esr.js';

export type MmioOutcome = 'emulated' | 'external-abort' | 'no-syndrome';

/** Where the guest's registers are during the emulation: live on the CPU or saved by a world switch. */
export interface GuestRegs {
  x(n: number): bigint;
  setX(n: number, v: bigint): void;
  skipInstruction(): void;
}

export function emulateMmio(bus: MmioBus, regs: GuestRegs, exit: Stage2AbortExit): MmioOutcome {
  const a = exit.access;
  if (a === null) return 'no-syndrome';
  if (a.write) {
    const v = a.rt === 31 ? 0n : BigInt.asUintN(a.size * 8, regs.x(a.rt));
    if (!bus.write(exit.ipa, a.size, v)) return 'external-abort';
  } else {
    const raw = bus.read(exit.ipa, a.size);
    if (raw === null) return 'external-abort';
    let v = BigInt.asUintN(a.size * 8, raw);
    if (a.signExtend) v = BigInt.asIntN(a.size * 8, v);
    regs.setX(a.rt, a.sf ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v));
  }
  regs.skipInstruction();
  return 'emulated';
}

/**
 * Nothing decodes the address: inject a synchronous external abort, as
 * QEMU's virt board raises for an access to an unassigned physical address.
 * Called once the guest context is back on the CPU (KVM's kvm_inject_dabt
 * likewise only marks the exception pending for the next entry).
 */
export function injectExternalAbort(vcpu: GuestCpu, exit: Stage2AbortExit): void {
  const lower = vcpu.el === 0;
  const wnr = exit.access?.write ?? false;
  vcpu.takeException('sync', esr(lower ? EC.DABT_LOW : EC.DABT_CUR, issDataAbort({ fsc: FSC.external(), wnr })), exit.pc, exit.far);
}
