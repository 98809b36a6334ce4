/**
 * The "virt" board: 1-8 vCPUs, RAM at 0x4000_0000, a PL011 at 0x0900_0000,
 * laid out as QEMU's -M virt so that guests built for it run unchanged. The
 * board knows nothing of the hypervisor: the caller plugs an El2Handler into
 * `vcpu.el2`.
 */
import { Vcpu, CNTFRQ_HZ } from '../cpu/vcpu.js';
import { Pl011 } from '../devices/pl011.js';
import { Pl011Window } from '../devices/pl011-window.js';
import { ScratchDevice } from '../devices/scratch.js';
import { UnclaimedWindow } from '../devices/unclaimed.js';
import { EmptyVirtioMmio } from '../devices/virtio-mmio.js';
import { GicV3 } from '../devices/gicv3.js';
import { GicV2 } from '../devices/gicv2.js';
import { GenericTimer, registerTimer } from '../devices/generic-timer.js';
import { registerIcc } from '../devices/icc.js';
import { Pmu, PMU_PPI, registerPmu } from '../devices/pmu.js';
import { DebugRegs, registerDebugRegs, type DebugCpu } from '../devices/debug-regs.js';
import { Unicorn, MemAccess, Reg, type SharedBlock } from '../unicorn/uc.js';
import { DEFAULT_SEED, SeededRandom, registerRng } from '../devices/rng.js';
import { ARCH_SYSREGS } from '../cpu/sysreg-rows.js';
import { captureAbandoned } from '../cpu/abandoned-access.js';
import { DEFAULT_RAM_SIZE, VIRT } from './memmap.js';
import { linuxBootRegisters, writeSegments, type LoadedImage } from './loader.js';

export interface VirtOptions {
  ramSize?: number;
  sliceInsns?: number;
  /** Where the UART's transmitted bytes go. */
  uartOut: (byte: number) => void;
  /** Interrupt controller: GICv3 (default) or GICv2 (memory-mapped CPU interface). */
  gic?: 'v2' | 'v3';
  /** vCPUs (1-8, default 1): one CPU core each over the same guest RAM. */
  cpus?: number;
  /** `--seed`: seeds FEAT_RNG (RNDR/RNDRRS). Default DEFAULT_SEED. */
  seed?: bigint;
}

/** What each vCPU has of its own: the core, its generic timer, PMU and debug registers. */
export interface VirtCpu {
  readonly vcpu: Vcpu;
  readonly timer: GenericTimer;
  readonly pmu: Pmu;
  readonly debugRegs: DebugRegs;
}

export class VirtMachine {
  /** Every vCPU, by index (vCPU i has MPIDR affinity Aff0 = i). */
  readonly cpus: VirtCpu[] = [];
  readonly uart: Pl011;
  /** The UART's native console window (null: libhypemu-uart-mmio not built; every access exits). */
  readonly uartWindow: Pl011Window | null;
  /** Backing memory of the passthrough-style device region (what a VFIO BAR mmap would be). */
  readonly passthrough: SharedBlock;
  /** The emulated device next to it, reached only through stage-2 faults. */
  readonly trapdev: ScratchDevice;
  readonly gic: GicV3 | GicV2;
  /** FEAT_RNG's generator: RNDR/RNDRRS, deterministic from `--seed` (emulator/devices/rng.ts); one for all vCPUs, drawn in the scheduler's deterministic order. */
  readonly rng: SeededRandom;
  /** CNTVOFF_EL2 of vCPU `cpu`, which the hypervisor owns: the board asks for it. */
  virtualOffset: (cpu: number) => bigint = () => 0n;
  /** MDCR_EL2 of vCPU `cpu` (HPMN, TPM, TPMCR for the PMU), which the hypervisor owns. */
  debugControl: (cpu: number) => bigint | undefined = () => undefined;

  constructor(opts: VirtOptions) {
    const ramSize = opts.ramSize ?? DEFAULT_RAM_SIZE;
    const n = opts.cpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 8) throw new RangeError('virt: 1 to 8 vCPUs');
    this.uart = new Pl011(opts.uartOut);
    this.passthrough = Unicorn.allocShared(VIRT.PASSTHROUGH.size);
    this.trapdev = new ScratchDevice('trapdev', VIRT.TRAPDEV.base, VIRT.TRAPDEV.size);
    // GICv3 (distributor + one redistributor per vCPU on the bus, CPU interface as system
    // registers) or GICv2 (distributor + CPU interface on the bus, banked per vCPU), the generic
    // timer on PPIs 27 (virtual) and 30 (physical), the PMU on PPI 23, the UART on SPI 1 (INTID 33),
    // as QEMU virt's device tree says.
    this.gic =
      opts.gic === 'v2'
        ? new GicV2({ distBase: VIRT.GIC_DIST.base, cpuBase: VIRT.GIC_CPU.base, cpus: n })
        : new GicV3({ distBase: VIRT.GIC_DIST.base, redistBase: VIRT.GIC_REDIST.base, cpus: n });
    this.uart.onIrqChange = (level: boolean) => this.gic.setLevel(33, level);
    // An interrupt that becomes deliverable while an instruction runs (a GIC register write, an
    // EOI, a timer write) is seen before the next instruction, not at the end of the slice: the
    // running vCPU's slice ends there and its run loop takes it (irq-unmask guest).
    this.gic.onChange = () => {
      for (const c of this.cpus) if (c.vcpu.clock.running) c.vcpu.requestStop();
    };
    this.rng = new SeededRandom(opts.seed ?? DEFAULT_SEED, 'rndr');
    for (let i = 0; i < n; i++) {
      // vCPU 0 allocates guest RAM; the others map the same host memory (uc_mem_map_ptr).
      const first = this.cpus[0]?.vcpu;
      const vcpu = new Vcpu({ ramBase: VIRT.RAM.base, ramSize, index: i, ...(first ? { ram: first.ram } : {}), ...(opts.sliceInsns ? { sliceInsns: opts.sliceInsns } : {}) });
      this.cpus.push(wireCpu(this, vcpu, i));
    }
    // The GICv3's LPI tables and its ITS's tables and command queue are in guest RAM.
    if (this.gic instanceof GicV3) this.gic.attachMemory(this.vcpu.ram);
    // Broadcast maintenance (TLBI ...IS, IC IVAU) reaches every other vCPU.
    for (const c of this.cpus) c.vcpu.peers = this.cpus.map((o) => o.vcpu).filter((o) => o !== c.vcpu);
    // The console page in native code when the library is built (pl011-window.ts); the EL2 model
    // decides when it is used. One vCPU only: with several, each core would need its own window
    // and ring (not done), so every UART access stays an exit.
    this.uartWindow = n === 1 ? Pl011Window.create(this.vcpu.uc, this.uart) : null;
  }

  /** vCPU 0 (the boot CPU; the only one unless --smp). */
  get vcpu(): Vcpu {
    return this.cpus[0]!.vcpu;
  }
  get vcpus(): Vcpu[] {
    return this.cpus.map((c) => c.vcpu);
  }
  get timer(): GenericTimer {
    return this.cpus[0]!.timer;
  }
  get pmu(): Pmu {
    return this.cpus[0]!.pmu;
  }
  get debugRegs(): DebugRegs {
    return this.cpus[0]!.debugRegs;
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
    for (const c of this.cpus) c.vcpu.close();
  }
}

/**
 * One vCPU's devices and wiring: the shared UART, scratch device and GIC on its MMIO bus (the
 * GICv2 banked per CPU), its own generic timer and PMU on its own PPIs, its own debug registers.
 */
/** Stateless windows, shared by every vCPU's bus. */
const UNCLAIMED: readonly UnclaimedWindow[] = [
  new UnclaimedWindow('flash', VIRT.FLASH.base, VIRT.FLASH.size, 'zeros'),
  new UnclaimedWindow('pcie-mmio', VIRT.PCIE_MMIO.base, VIRT.PCIE_MMIO.size, 'ones'),
  new UnclaimedWindow('pcie-pio', VIRT.PCIE_PIO.base, VIRT.PCIE_PIO.size, 'ones'),
  new UnclaimedWindow('pcie-mmio-high', VIRT.HIGH_PCIE_MMIO.base, VIRT.HIGH_PCIE_MMIO.size, 'ones'),
];
/** QEMU virt's 32 virtio-mmio transports, all empty (virtio-mmio.ts): stateless, shared too. */
const VIRTIO_MMIO = new EmptyVirtioMmio();

function wireCpu(board: VirtMachine, v: Vcpu, i: number): VirtCpu {
  v.uc.mapShared(VIRT.PASSTHROUGH.base, board.passthrough);
  v.bus.add(board.uart);
  v.bus.add(board.trapdev);
  // What QEMU's board answers where it has a flash or a PCIe bus with nothing on it (unclaimed.ts).
  for (const w of UNCLAIMED) v.bus.add(w);
  v.bus.add(VIRTIO_MMIO);
  const g = board.gic;
  let gic3: GicV3 | null = null;
  if (g instanceof GicV2) {
    v.bus.add(g.distributorFor(i));
    v.bus.add(g.cpuInterfaceFor(i));
    v.irqSource = { irqPending: () => g.irqPending(i) };
  } else {
    gic3 = g;
    v.bus.add(g.distributor);
    v.bus.add(g.redistributor);
    v.bus.add(g.its);
    v.irqSource = g.pes[i]!;
  }
  const timer = new GenericTimer({
    physicalCount: () => v.counter,
    virtualOffset: () => board.virtualOffset(i),
    setLine: (ppi, level) => g.setLevel(ppi, level, i),
  });
  const pmu = new Pmu({
    instructions: () => v.currentInstructions,
    el: () => v.el,
    setIrq: (level) => g.setLevel(PMU_PPI, level, i),
    mdcr: () => board.debugControl(i),
  });
  const debugRegs = new DebugRegs();
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
  // A timer write ends the slice too: its length was sized for the old deadline.
  registerTimer(
    v.sysregs,
    timer,
    () => {
      if (v.clock.running) v.requestStop();
    },
    () => v.timePolled(),
  );
  if (gic3 !== null) registerIcc(v.sysregs, gic3.pes[i]!);
  registerPmu(v.sysregs, pmu);
  registerDebugRegs(v.sysregs, debugRegs);
  registerRng(v.sysregs, ARCH_SYSREGS, board.rng, { setNzcv: (nzcv) => v.uc.regWrite(Reg.NZCV, nzcv) });
  wireDebugRegs(v, debugRegs);
  return { vcpu: v, timer, pmu, debugRegs };
}

/** The breakpoint and watchpoint registers act through this vCPU's hooks. */
function wireDebugRegs(v: Vcpu, debugRegs: DebugRegs): void {
  const dbgCpu: DebugCpu = {
    get el() { return v.el; },
    get pstate() { return v.pstate; },
    get debugToEl2() { return v.debugToEl2(); },
    sysreg: (e) => v.sysreg(e),
    debugException: (esr, pc, far, guestTakes) => v.debugException(esr, pc, far, guestTakes),
    skipsDebugEvent: (pc) => v.skipsDebugEvent(pc),
    hookInsn: (va, fn) => v.uc.onCode(va, va, (pc) => fn(pc)),
    unhook: (h) => v.uc.removeHook(h),
    hookData: (lo, hi, fn) => v.uc.onMemAccess(lo, hi, (type, addr, size) => fn(type === MemAccess.WRITE, addr, size)),
    get pc() { return v.pc; },
    abandonAccess: (addr, size, write) => {
      const a = captureAbandoned(v, addr, size, write);
      v.hookRedirect(v.pc, false);
      return () => a.restore();
    },
    afterInstruction: (fn) => v.afterInstruction(fn),
    retranslate: (va) => {
      const a = Number(BigInt.asIntN(64, va)); // a signed 49-bit VA is exact in a double
      v.uc.removeTbCache(a, a + 4);
    },
  };
  // MDSCR_EL1: the core keeps a copy without SS (it must never step by itself); the slice ends so
  // that the vCPU starts (or stops) stepping at the next instruction (software-step.ts).
  debugRegs.onMdscr = (value) => {
    v.setSysreg({ op0: 2, op1: 0, crn: 0, crm: 2, op2: 2 }, value & ~1n);
    v.afterInstruction(() => {});
  };
  v.stepSource = debugRegs;
  // Hooks cannot change while the CPU runs the MSR that asked: re-arm before the next instruction.
  let rearm = false;
  debugRegs.onChange = () => {
    if (rearm) return;
    rearm = true;
    v.afterInstruction(() => {
      rearm = false;
      debugRegs.armBreakpoints(dbgCpu);
      debugRegs.armWatchpoints(dbgCpu);
    });
  };
}
