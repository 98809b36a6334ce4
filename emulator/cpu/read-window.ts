/**
 * Pure-read windows (issue 13: kvm-unit-tests' micro-bench `mmio_read_vgic` and `mmio_read_user`,
 * 65,536 reads each of GICD_IIDR and of a virtio-mmio DeviceID, were a full exit each: the core
 * stopped at a refused fill, JavaScript decoded the load, switched worlds, resumed; ~11 us of host
 * CPU per read).
 *
 * A device whose reads are pure (MmioDevice.pureReads: no read changes anything, every offset
 * answers) is mapped in the vCPU's CPU core as an MMIO region (uc_mmio_map) whose read callback
 * performs the read on the device model from inside the load, at the instruction where the exit
 * would have been taken: nothing the read returns depends on where the slice ends, and nothing
 * it does can move an interrupt line, so the guest sees the same values at the same instruction
 * counts. The fill hook maps such a page only for reads (fill-handler.ts NativeMmioWindow
 * `readOnly`): a write misses the entry, its fill is refused, and it is an exit as before.
 *
 * Whether the windows are used is the EL2 model's decision (`allowed`, as for the console window):
 * only when nobody observes exits (an exit listener, --trace, the debugger see every read as an
 * exit). Each read is still accounted as the exit it stands for (the `read` callback: the EL2
 * model's statistics of a stage-2 data abort handled on its fast path, and here the vCPU's count
 * of exceptions taken to EL2 and its event sequence), so the statistics of a run are the same
 * with or without the windows (HYPEMU_READ_WINDOWS=off), except the TLB's refused-fill and fault
 * counters, which count what the MMU model really did. One difference a guest could see: a load
 * the syndrome does not describe (ISV = 0: a pair, writeback, SIMD&FP, an exclusive) is done by
 * the core through the window, where the exit path emulates pairs, writeback and SIMD from the
 * decoded instruction and makes exclusives an external abort; each such access counts as one exit.
 */
import type { Unicorn } from '../unicorn/uc.js';
import type { AccessSize, MmioBus } from '../memory/bus.js';
import type { NativeMmioWindow } from './fill-handler.js';
import type { ExceptionCounters } from './vcpu-types.js';

export interface ReadWindowCpu {
  readonly uc: Unicorn;
  readonly bus: MmioBus;
  readonly nativeMmio: NativeMmioWindow[];
  readonly exceptions: ExceptionCounters;
  eventSeq: number;
  /** Instructions retired so far (exact inside an MMIO callback: the core restores PC first). */
  readonly currentInstructions: number;
}

/**
 * Map every pure-read device of `cpu`'s bus as a read window. `read` performs one read at an IPA
 * (and, when `first`, accounts for the exit the load stands for); `allowed` says when the fill hook may use the windows. Returns how many
 * were mapped (0 with HYPEMU_READ_WINDOWS=off).
 */
export function mapReadWindows(cpu: ReadWindowCpu, read: (ipa: number, size: AccessSize, first: boolean) => bigint, allowed: () => boolean): number {
  if (process.env.HYPEMU_READ_WINDOWS === 'off') return 0;
  let n = 0;
  // QEMU's memory core hands an MMIO region accesses of at most 4 bytes (Unicorn's region has no
  // impl.max_access_size): an 8-byte load arrives as two reads, a pair or a Q register as more.
  // They are one exit: a callback at the instruction count of the one before adds no exit.
  let lastAt = -1;
  for (const dev of cpu.bus.list()) {
    if (dev.pureReads !== true) continue;
    const base = dev.base;
    cpu.uc.mapMmio(
      base,
      dev.size,
      (off, size) => {
        const at = cpu.currentInstructions;
        const first = at !== lastAt;
        lastAt = at;
        if (first) {
          // The exit this read stands for (exit-dispatch.ts dispatchExit): EC 0x24 taken to EL2.
          cpu.eventSeq++;
          cpu.exceptions.total++;
          const m = (cpu.exceptions.byTarget.EL2 ??= {});
          m.dabt_low = (m.dabt_low ?? 0) + 1;
        }
        return read(base + off, size as AccessSize, first);
      },
      // Never reached: the window's TLB entries are read-only (a write's fill is refused and exits).
      (off, size, value) => {
        cpu.bus.write(base + off, size as AccessSize, value);
      },
    );
    cpu.nativeMmio.push({ base, size: dev.size, readOnly: true, allowed });
    n++;
  }
  return n;
}
