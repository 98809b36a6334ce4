/**
 * The empty virtio-mmio transports of QEMU virt (emulator/devices/virtio-mmio.ts): virtio 1.1
 * 4.2.2 "MMIO Device Register Layout", the values QEMU 7.2 returns with no backend (measured
 * with its monitor: `xp /8wx 0x0a000000` -> 74726976 00000001 00000000 554d4551 0...), and the
 * board's bus routing of the whole 32 x 0x200 window to it.
 */
import { describe, expect, it } from 'vitest';
import { EmptyVirtioMmio, VIRTIO_MMIO_STRIDE, VIRTIO_MMIO_TRANSPORTS } from '../../emulator/devices/virtio-mmio.js';
import { MmioBus } from '../../emulator/memory/bus.js';
import { VIRT } from '../../emulator/platform/memmap.js';

describe('empty virtio-mmio transports', () => {
  const bus = new MmioBus();
  bus.add(new EmptyVirtioMmio());
  const at = (i: number, off: number): number => VIRT.VIRTIO_MMIO.base + i * VIRTIO_MMIO_STRIDE + off;

  it('every transport: MagicValue "virt", Version 1 (legacy), DeviceID 0, VendorID "QEMU", the rest zero', () => {
    for (const i of [0, 1, 17, VIRTIO_MMIO_TRANSPORTS - 1]) {
      expect([0, 4, 8, 0xc, 0x10, 0x70, 0x100, 0x1fc].map((o) => Number(bus.read(at(i, o), 4)))).toEqual([0x7472_6976, 1, 0, 0x554d_4551, 0, 0, 0, 0]);
    }
  });
  it('narrow reads take the low bytes of the register; 8-byte reads are two words', () => {
    expect(bus.read(at(3, 0), 1)).toBe(0x76n);
    expect(bus.read(at(3, 0), 2)).toBe(0x6976n);
    expect(bus.read(at(3, 1), 1)).toBe(0n);
    expect(bus.read(at(3, 0), 8)).toBe(0x1_7472_6976n);
    expect(bus.read(at(3, 8), 8)).toBe(0x554d_4551_0000_0000n);
  });
  it('writes are ignored (Status, QueueSel, DeviceFeaturesSel read back zero)', () => {
    for (const o of [0x70, 0x30, 0x14, 0]) expect(bus.write(at(5, o), 4, 0xffn)).toBe(true);
    expect(bus.read(at(5, 0x70), 4)).toBe(0n);
    expect(bus.read(at(5, 0), 4)).toBe(0x7472_6976n);
  });
  it('covers exactly QEMU virt\'s window: 32 transports from 0x0a000000', () => {
    expect(bus.find(VIRT.VIRTIO_MMIO.base - 1)).toBeUndefined();
    expect(bus.find(VIRT.VIRTIO_MMIO.base + VIRTIO_MMIO_TRANSPORTS * VIRTIO_MMIO_STRIDE)).toBeUndefined();
    expect(bus.find(VIRT.VIRTIO_MMIO.base + VIRTIO_MMIO_TRANSPORTS * VIRTIO_MMIO_STRIDE - 4)?.name).toBe('virtio-mmio');
  });
});
