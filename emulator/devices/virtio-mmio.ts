/**
 * QEMU virt's 32 virtio-mmio transports at 0x0a00_0000 (0x200 bytes each), with no device behind
 * them: what `qemu-system-aarch64 -M virt` shows when no `-device virtio-*-device` is given.
 * Register layout: Virtual I/O Device (VIRTIO) Version 1.1, 4.2.2 "MMIO Device Register Layout"
 * (MagicValue 0x000, Version 0x004, DeviceID 0x008, VendorID 0x00c).
 *
 * An empty transport (QEMU 7.2 hw/virtio/virtio-mmio.c with no backend, measured with the QEMU
 * monitor's `xp /8wx 0x0a000000` on `-M virt -cpu max`): MagicValue 0x74726976 ("virt"), Version
 * 1 (QEMU's `force-legacy` property defaults to on), DeviceID 0 (virtio 4.2.3.1.1: "a device with
 * DeviceID 0x0 ... the driver MUST ignore" it), VendorID 0x554d4551 ("QEMU"); every other register
 * reads as zero and writes are ignored. A narrower read returns the low bytes of the register it
 * starts at (QEMU's memory core masks the value to the access size); an 8-byte access is two 4-byte ones.
 *
 * Stateless: one instance serves every vCPU's bus, and there is nothing to snapshot.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';
import { VIRT } from '../platform/memmap.js';

/** Transports QEMU virt creates (hw/arm/virt.c NUM_VIRTIO_TRANSPORTS) and the window of each. */
export const VIRTIO_MMIO_TRANSPORTS = 32;
export const VIRTIO_MMIO_STRIDE = 0x200;
/** The first transport's SPI (hw/arm/virt.c a15irqmap[VIRT_MMIO] = 16): transport i is SPI 16 + i. */
export const VIRTIO_MMIO_FIRST_SPI = 16;

export const VIRTIO_MMIO_MAGIC = 0x7472_6976;
export const VIRTIO_MMIO_VERSION_LEGACY = 1;
/** QEMU's VendorID ("QEMU" read as a little-endian word). */
export const VIRTIO_MMIO_VENDOR_QEMU = 0x554d_4551;

export class EmptyVirtioMmio implements MmioDevice {
  readonly name = 'virtio-mmio';
  readonly base = VIRT.VIRTIO_MMIO.base;
  readonly size = VIRTIO_MMIO_TRANSPORTS * VIRTIO_MMIO_STRIDE;
  /** Constant registers: kvm-unit-tests' micro-bench `mmio_read_user` reads transport 0's DeviceID. */
  readonly pureReads = true;

  /** The 32-bit register at `off` within one transport. */
  private register(off: number): number {
    switch (off) {
      case 0x000:
        return VIRTIO_MMIO_MAGIC;
      case 0x004:
        return VIRTIO_MMIO_VERSION_LEGACY;
      case 0x00c:
        return VIRTIO_MMIO_VENDOR_QEMU;
      default:
        return 0; // DeviceID 0 and every other register
    }
  }

  read(offset: number, size: AccessSize): number {
    const v = this.register(offset % VIRTIO_MMIO_STRIDE);
    return size >= 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  write(): void {}

  read64(offset: number): bigint {
    return BigInt(this.read(offset, 4)) | (BigInt(this.read(offset + 4, 4)) << 32n);
  }

  write64(): void {}
}
