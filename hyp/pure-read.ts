/**
 * Reads of devices whose reads are pure (MmioDevice.pureReads: the GIC's distributor,
 * redistributors and ITS, the empty virtio-mmio transports) are answered at EL2 on the fast path,
 * without a world switch or a return to user space (issue 13: kvm-unit-tests' micro-bench
 * `mmio_read_vgic` and `mmio_read_user`). Nothing of the guest context is needed beyond the
 * syndrome (ISV: size, Rt, sign extension, SF) and Xt on the live vCPU, and the device model
 * answers without side effects, so nothing has to move to memory first. KVM itself handles a
 * GIC distributor read in the kernel (vgic-mmio) but only after a full exit, and a virtio-mmio
 * read in user space: this is the model's choice, and its cost model charges trap + fastPath.
 *
 * Two ways in, counted alike:
 *  - pureReadFastPath, the EC 0x24 fast-path handler (hypervisor.ts), for an exit that reached
 *    the EL2 model (exits observed: --trace, an exit listener, the debugger);
 *  - windowRead, from the CPU core's own load through a read window (emulator/cpu/read-window.ts),
 *    when nobody observes exits: the exit is not taken, and is accounted here as handleExit
 *    would have accounted it on the fast path.
 */
import type { Stage2AbortExit } from '../emulator/cpu/exits.js';
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import type { AccessSize, MmioBus } from '../emulator/memory/bus.js';
import type { CostModel } from './cost.js';
import type { HypStats } from './stats.js';

/** ESR_EL2.ISS.S1PTW (bit 7): a stage-1 walk faulted at stage 2, not the access itself. */
const S1PTW = 1 << 7;

/** The fast path of a stage-2 data abort that reads a pure device with a valid syndrome; false: not one (world switch). */
export function pureReadFastPath(stats: HypStats, vcpu: GuestCpu, exit: Stage2AbortExit): boolean {
  const a = exit.access;
  if (exit.reason !== 'dabt_s2' || a === null || a.write || (exit.esr & S1PTW) !== 0) return false;
  if (vcpu.bus.pureReader(exit.ipa) === null) return false;
  const raw = vcpu.bus.read(exit.ipa, a.size);
  if (raw === null) return false;
  // As hyp/mmio.ts emulateMmio: SSE sign-extends to the access size, SF says 64 or 32 bits.
  let v = BigInt.asUintN(a.size * 8, raw);
  if (a.signExtend) v = BigInt.asIntN(a.size * 8, v);
  vcpu.setX(a.rt, a.sf ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v));
  vcpu.skipInstruction();
  stats.stage2.faults++;
  stats.mmio.syndrome++;
  return true;
}

/** A read through a read window: the device's answer, and (`first` access of the load) the accounting of the exit it stands for. */
export function windowRead(stats: HypStats, cost: CostModel, bus: MmioBus, ipa: number, size: AccessSize, first: boolean): bigint {
  if (!first) return bus.read(ipa, size) ?? 0n; // the rest of a load split by the core (read-window.ts)
  const e = stats.exits;
  e.total++;
  e.byReason.dabt_s2 = (e.byReason.dabt_s2 ?? 0) + 1;
  e.fastPath++;
  const cycles = cost.trap + cost.fastPath;
  stats.cost.modelCycles += cycles;
  stats.cost.byReason.dabt_s2 = (stats.cost.byReason.dabt_s2 ?? 0) + cycles;
  stats.stage2.faults++;
  stats.mmio.syndrome++;
  return bus.read(ipa, size) ?? 0n;
}
