/**
 * The "virt" board: one vCPU, RAM at 0x4000_0000, a PL011 at 0x0900_0000,
 * laid out as QEMU's -M virt so that guests built for it run unchanged. The
 * board knows nothing of the hypervisor: the caller plugs an El2Handler into
 * `vcpu.el2`.
 */
import { Vcpu } from '../cpu/vcpu.js';
import { Pl011 } from '../devices/pl011.js';
import { ScratchDevice } from '../devices/scratch.js';
import { Unicorn, type SharedBlock } from '../unicorn/uc.js';
import { DEFAULT_RAM_SIZE, VIRT } from './memmap.js';
import { linuxBootRegisters, writeSegments, type LoadedImage } from './loader.js';

export interface VirtOptions {
  ramSize?: number;
  sliceInsns?: number;
  /** Where the UART's transmitted bytes go. */
  uartOut: (byte: number) => void;
}

export class VirtMachine {
  readonly vcpu: Vcpu;
  readonly uart: Pl011;
  /** Backing memory of the passthrough-style device region (what a VFIO BAR mmap would be). */
  readonly passthrough: SharedBlock;
  /** The emulated device next to it, reached only through stage-2 faults. */
  readonly trapdev: ScratchDevice;

  constructor(opts: VirtOptions) {
    const ramSize = opts.ramSize ?? DEFAULT_RAM_SIZE;
    this.vcpu = new Vcpu({ ramBase: VIRT.RAM.base, ramSize, ...(opts.sliceInsns ? { sliceInsns: opts.sliceInsns } : {}) });
    this.uart = new Pl011(opts.uartOut);
    this.vcpu.bus.add(this.uart);
    this.passthrough = Unicorn.allocShared(VIRT.PASSTHROUGH.size);
    this.vcpu.uc.mapShared(VIRT.PASSTHROUGH.base, this.passthrough);
    this.trapdev = new ScratchDevice('trapdev', VIRT.TRAPDEV.base, VIRT.TRAPDEV.size);
    this.vcpu.bus.add(this.trapdev);
  }

  get ramBase(): number {
    return this.vcpu.ram.base;
  }
  get ramSize(): number {
    return this.vcpu.ram.size;
  }

  /**
   * Place a loaded image in RAM and set the boot state: PC = entry, EL1h with
   * DAIF masked and the MMU off; for a Linux Image, x0 = DTB address and
   * x1..x3 = 0 (Documentation/arch/arm64/booting.rst).
   */
  boot(image: LoadedImage): void {
    writeSegments(image, this.vcpu.ram.base, this.vcpu.ram.bytes);
    const v = this.vcpu;
    v.pc = image.entry;
    for (let i = 0; i < 4; i++) v.setX(i, 0);
    if (image.format === 'linux') v.setX(0, linuxBootRegisters(image).x0);
  }

  close(): void {
    this.vcpu.close();
  }
}
