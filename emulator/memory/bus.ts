/**
 * The MMIO bus: devices occupy guest-physical ranges that are not RAM. The CPU
 * never maps these pages; an access faults at stage 2 and the hypervisor
 * emulates it from the syndrome (as KVM does), calling into the bus.
 */

/** Access sizes an A64 load/store to a device can have. */
export type AccessSize = 1 | 2 | 4 | 8;

export interface MmioDevice {
  readonly name: string;
  /** Guest-physical base and size of the register window. */
  readonly base: number;
  readonly size: number;
  /** Read `size` bytes at `offset` (offset < size). 8-byte values are bigint-safe through readWide. */
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  /**
   * May a write of `size` bytes at `offset` be deferred (coalesced MMIO, as KVM's
   * KVM_REGISTER_COALESCED_MMIO zones)? Only when performing it later, before the
   * next access to this device is handled, changes nothing the guest could observe
   * meanwhile: no interrupt line moves. Absent: never.
   */
  coalescable?(offset: number, size: AccessSize): boolean;
  /**
   * No read of this device changes anything (no state, no interrupt line, no time it depends
   * on) and every offset in its window answers one (none is an external abort): a read may be
   * answered from inside the CPU core's load, at the same instruction an exit would have been
   * (emulator/cpu/read-window.ts). Absent: false.
   */
  readonly pureReads?: boolean;
  /** Optional 64-bit access; the bus splits into two 32-bit accesses when absent. */
  read64?(offset: number): bigint;
  write64?(offset: number, value: bigint): void;
}

export class MmioBus {
  private readonly devices: MmioDevice[] = [];

  add(dev: MmioDevice): void {
    for (const d of this.devices) {
      if (dev.base < d.base + d.size && d.base < dev.base + dev.size) {
        throw new Error(`MMIO device ${dev.name} at 0x${dev.base.toString(16)} overlaps ${d.name}`);
      }
    }
    this.devices.push(dev);
    this.devices.sort((a, b) => a.base - b.base);
  }

  find(pa: number): MmioDevice | undefined {
    for (const d of this.devices) if (pa >= d.base && pa < d.base + d.size) return d;
    return undefined;
  }

  list(): readonly MmioDevice[] {
    return this.devices;
  }

  /** Returns null when no device claims the address (the access is an external abort). */
  read(pa: number, size: AccessSize): bigint | null {
    const d = this.find(pa);
    if (!d) return null;
    const off = pa - d.base;
    if (size === 8) {
      if (d.read64) return d.read64(off);
      return BigInt(d.read(off, 4) >>> 0) | (BigInt(d.read(off + 4, 4) >>> 0) << 32n);
    }
    return BigInt(d.read(off, size) >>> 0);
  }

  /** May this write be deferred (see MmioDevice.coalescable)? */
  coalescable(pa: number, size: AccessSize): boolean {
    const d = this.find(pa);
    return d?.coalescable?.(pa - d.base, size) ?? false;
  }

  /** The device at `pa` when its reads are pure (MmioDevice.pureReads), else null. */
  pureReader(pa: number): MmioDevice | null {
    const d = this.find(pa);
    return d?.pureReads === true ? d : null;
  }

  write(pa: number, size: AccessSize, value: bigint): boolean {
    const d = this.find(pa);
    if (!d) return false;
    const off = pa - d.base;
    if (size === 8) {
      if (d.write64) d.write64(off, value);
      else {
        d.write(off, 4, Number(value & 0xffff_ffffn));
        d.write(off + 4, 4, Number((value >> 32n) & 0xffff_ffffn));
      }
    } else {
      d.write(off, size, Number(value & 0xffff_ffffn));
    }
    return true;
  }
}
