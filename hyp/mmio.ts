/**
 * MMIO emulation from a stage-2 data abort syndrome, as KVM's io_mem_abort
 * does: with ISV = 1 the ESR_EL2 ISS gives the access size (SAS), the
 * register (SRT), sign extension (SSE) and width of the destination (SF), so
 * the hypervisor performs the access on the device model and skips the
 * instruction without decoding it.
 */
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import type { Stage2AbortExit } from '../emulator/cpu/exits.js';
import { EC, esr, FSC, issDataAbort } from '../emulator/cpu/esr.js';

export type MmioOutcome = 'emulated' | 'external-abort' | 'no-syndrome';

export function emulateMmio(vcpu: Vcpu, exit: Stage2AbortExit): MmioOutcome {
  const a = exit.access;
  if (a === null) return 'no-syndrome';
  const bus = vcpu.bus;
  if (a.write) {
    const v = a.rt === 31 ? 0n : BigInt.asUintN(a.size * 8, vcpu.x(a.rt));
    if (!bus.write(exit.ipa, a.size, v)) return injectExternalAbort(vcpu, exit);
  } else {
    const raw = bus.read(exit.ipa, a.size);
    if (raw === null) return injectExternalAbort(vcpu, exit);
    let v = BigInt.asUintN(a.size * 8, raw);
    if (a.signExtend) v = BigInt.asIntN(a.size * 8, v);
    vcpu.setX(a.rt, a.sf ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v));
  }
  vcpu.skipInstruction();
  return 'emulated';
}

/**
 * Nothing decodes the address: a synchronous external abort, as QEMU's virt
 * board raises for an access to an unassigned physical address.
 */
function injectExternalAbort(vcpu: Vcpu, exit: Stage2AbortExit): MmioOutcome {
  const lower = vcpu.el === 0;
  const wnr = exit.access?.write ?? false;
  vcpu.takeException('sync', esr(lower ? EC.DABT_LOW : EC.DABT_CUR, issDataAbort({ fsc: FSC.external(), wnr })), exit.pc, exit.far);
  return 'external-abort';
}
