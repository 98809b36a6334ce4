/**
 * Windows of QEMU virt's physical map where QEMU has a bus with nothing on it, so that an access
 * there completes as under `qemu-system-aarch64 -M virt` instead of taking the synchronous
 * external abort an unassigned address gets (measured with QEMU 7.2, -cpu max, no -bios, no
 * PCI devices):
 *  - the two 64 MiB CFI flash banks at 0 (no image given: erased contents read as zero in
 *    read-array mode; writes are flash commands, which this model ignores, so a guest that
 *    issues CFI query or program commands sees zeros where QEMU's pflash answers them);
 *  - the PCIe MMIO windows below 4 GiB and at 512 GiB and the PCIe I/O window: an access no
 *    device claims reads all ones and ignores writes, as PCI master aborts do.
 * Instruction fetches from them stay an external instruction abort (they are not RAM here).
 * Not modelled: the ECAM windows (QEMU has a host bridge there; the low one aborts in QEMU
 * too), fw_cfg, PL031, PL061. The empty virtio-mmio transports are virtio-mmio.ts.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';

export class UnclaimedWindow implements MmioDevice {
  constructor(
    readonly name: string,
    readonly base: number,
    readonly size: number,
    /** What a read returns: all zeros (flash) or all ones (a PCI master abort). */
    private readonly fill: 'zeros' | 'ones',
  ) {}

  read(_offset: number, size: AccessSize): number {
    if (this.fill === 'zeros') return 0;
    return size >= 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
  }

  write(): void {}

  read64(): bigint {
    return this.fill === 'zeros' ? 0n : 0xffff_ffff_ffff_ffffn;
  }

  write64(): void {}
}
