/**
 * The "virt" board: one vCPU, RAM at 0x4000_0000, a PL011 at 0x0900_0000,
 * laid out as QEMU's -M virt so that guests built for it run unchanged. The
 * board knows nothing of the hypervisor: the caller plugs an El2Handler into
 * `vcpu.el2`.
 */
import { Vcpu, CNTFRQ_HZ } from '../cpu/vcpu.js';
import { Pl011 } from '../devices/pl011.js';
import { ScratchDevice } from '../devices/scratch.js';
import { GicV3 } from '../devices/gicv3.js';
import { GicV2 } from '../devices/gicv2.js';
import { GenericTimer, registerTimer } from '../devices/generic-timer.js';
import { registerIcc } from '../devices/icc.js';
import { Pmu, PMU_PPI, registerPmu } from '../devices/pmu.js';
import { DebugRegs, registerDebugRegs, type DebugCpu } from '../devices/debug-regs.js';
import { Unicorn, MemAccess, Reg, type SharedBlock } from '../unicorn/uc.js';
import { DEFAULT_SEED, SeededRandom, registerRng } from '../devices/rng.js';
import { ARCH_SYSREGS } from '../cpu/sysreg-rows.js';
import { DEFAULT_RAM_SIZE, VIRT } from './memmap.js';
import { linuxBootRegisters, writeSegments, type LoadedImage } from './loader.js';

export interface VirtOptions {
  ramSize?: number;
  sliceInsns?: number;
  /** Where the UART's transmitted bytes go. */
  uartOut: (byte: number) => void;
  /** Interrupt controller: GICv3 (default) or GICv2 (memory-mapped CPU interface). */
  gic?: 'v2' | 'v3';
  /** `--seed`: seeds FEAT_RNG (RNDR/RNDRRS). Default DEFAULT_SEED. */
  seed?: bigint;
}

export class VirtMachine {
  readonly vcpu: Vcpu;
  readonly uart: Pl011;
  /** Backing memory of the passthrough-style device region (what a VFIO BAR mmap would be). */
  readonly passthrough: SharedBlock;
  /** The emulated device next to it, reached only through stage-2 faults. */
  readonly trapdev: ScratchDevice;
  readonly gic: GicV3 | GicV2;
  readonly timer: GenericTimer;
  readonly pmu: Pmu;
  /** Breakpoint/watchpoint registers, kept out of the core (a DBGBCR write with E = 1 crashes Unicorn 2.1.1). */
  readonly debugRegs = new DebugRegs();
  /** FEAT_RNG's generator: RNDR/RNDRRS, deterministic from `--seed` (emulator/devices/rng.ts). */
  readonly rng: SeededRandom;
  /** CNTVOFF_EL2, which the hypervisor owns: the board asks for it. */
  virtualOffset: () => bigint = () => 0n;
  /** MDCR_EL2 (HPMN, TPM, TPMCR for the PMU), which the hypervisor owns. */
  debugControl: () => bigint | undefined = () => undefined;

  constructor(opts: VirtOptions) {
    const ramSize = opts.ramSize ?? DEFAULT_RAM_SIZE;
    this.vcpu = new Vcpu({ ramBase: VIRT.RAM.base, ramSize, ...(opts.sliceInsns ? { sliceInsns: opts.sliceInsns } : {}) });
    this.uart = new Pl011(opts.uartOut);
    this.vcpu.bus.add(this.uart);
    this.passthrough = Unicorn.allocShared(VIRT.PASSTHROUGH.size);
    this.vcpu.uc.mapShared(VIRT.PASSTHROUGH.base, this.passthrough);
    this.trapdev = new ScratchDevice('trapdev', VIRT.TRAPDEV.base, VIRT.TRAPDEV.size);
    this.vcpu.bus.add(this.trapdev);

    // GICv3 (distributor + redistributor on the bus, CPU interface as system
    // registers) or GICv2 (distributor + CPU interface on the bus), the generic timer on
    // PPIs 27 (virtual) and 30 (physical), the PMU on PPI 23, the UART on SPI 1 (INTID 33),
    // as QEMU virt's device tree says.
    const v = this.vcpu;
    let gic3: GicV3 | null = null;
    if (opts.gic === 'v2') {
      const g = new GicV2({ distBase: VIRT.GIC_DIST.base, cpuBase: VIRT.GIC_CPU.base });
      v.bus.add(g.distributor);
      v.bus.add(g.cpuInterface);
      this.gic = g;
    } else {
      gic3 = new GicV3({ distBase: VIRT.GIC_DIST.base, redistBase: VIRT.GIC_REDIST.base });
      v.bus.add(gic3.distributor);
      v.bus.add(gic3.redistributor);
      this.gic = gic3;
    }
    this.timer = new GenericTimer({
      physicalCount: () => v.counter,
      virtualOffset: () => this.virtualOffset(),
      setLine: (ppi, level) => this.gic.setLevel(ppi, level),
    });
    this.uart.onIrqChange = (level: boolean) => this.gic.setLevel(33, level);
    this.pmu = new Pmu({
      instructions: () => v.currentInstructions,
      el: () => v.el,
      setIrq: (level) => this.gic.setLevel(PMU_PPI, level),
      mdcr: () => this.debugControl(),
    });
    v.irqSource = this.gic;
    const timer = this.timer;
    const pmu = this.pmu;
    // The slice bound is the earlier of the next timer deadline and the next PMU overflow
    // (instructions -> counter ticks: 1 ns per instruction, 16 ns per tick; rounded up, so
    // the overflow interrupt is seen at most one tick after the overflowing instruction).
    v.timerSource = {
      update: () => {
        timer.update();
        pmu.sync();
      },
      nextDeadline: () => {
        const dl = timer.nextDeadline();
        const left = pmu.instructionsToOverflow();
        if (left === null) return dl;
        const at = BigInt(Math.ceil(((v.virtualTimeNs + Math.max(1, left)) * CNTFRQ_HZ) / 1e9));
        return dl === null || at < dl ? at : dl;
      },
    };
    // The timer, the GICv3 CPU interface and the PMU answer their own system registers.
    registerTimer(v.sysregs, this.timer);
    if (gic3 !== null) registerIcc(v.sysregs, gic3);
    registerPmu(v.sysregs, this.pmu);
    registerDebugRegs(v.sysregs, this.debugRegs);
    this.rng = new SeededRandom(opts.seed ?? DEFAULT_SEED, 'rndr');
    registerRng(v.sysregs, ARCH_SYSREGS, this.rng, { setNzcv: (nzcv) => v.uc.regWrite(Reg.NZCV, nzcv) });
    const dbgCpu: DebugCpu = {
      get el() { return v.el; },
      get pstate() { return v.pstate; },
      sysreg: (e) => v.sysreg(e),
      takeException: (kind, esr, pc) => v.takeException(kind, esr, pc),
      hookInsn: (va, fn) => v.uc.onCode(va, va, (pc) => fn(pc)),
      unhook: (h) => v.uc.removeHook(h),
      hookData: (lo, hi, fn) => v.uc.onMemAccess(lo, hi, (type, addr, size) => fn(type === MemAccess.WRITE, addr, size)),
      get pc() { return v.pc; },
      afterInstruction: (fn) => v.afterInstruction(fn),
      takeDataException: (esr, pc, far) => v.takeException('sync', esr, pc, far),
      retranslate: (va) => {
        const a = Number(BigInt.asIntN(64, va)); // a signed 49-bit VA is exact in a double
        v.uc.removeTbCache(a, a + 4);
      },
    };
    // Hooks cannot change while the CPU runs the MSR that asked: re-arm before the next instruction.
    let rearm = false;
    this.debugRegs.onChange = () => {
      if (rearm) return;
      rearm = true;
      v.afterInstruction(() => {
        rearm = false;
        this.debugRegs.armBreakpoints(dbgCpu);
        this.debugRegs.armWatchpoints(dbgCpu);
      });
    };
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
   * x1..x3 = 0 (Documentation/arch/arm64/booting.rst). A raw binary gets the same
   * registers: QEMU's hw/arm/boot.c boots a raw `-kernel` binary on arm64 as a Linux
   * Image (is_linux = 1: RAM + 0x80000, DTB in x0), and guests such as kvm-unit-tests'
   * `.flat` files rely on it. ELF images get x0 = 0, as QEMU's ELF path does.
   */
  boot(image: LoadedImage): void {
    writeSegments(image, this.vcpu.ram);
    const v = this.vcpu;
    v.pc = image.entry;
    for (let i = 0; i < 4; i++) v.setX(i, 0);
    if (image.format === 'linux' || (image.format === 'raw' && image.dtbAddr !== undefined)) {
      v.setX(0, linuxBootRegisters(image).x0);
    }
  }

  close(): void {
    this.vcpu.close();
  }
}
