/**
 * The device tree of hypemu's "virt" board: QEMU's `-M virt,gic-version=3` tree
 * (/work/shared/reference/virt-gicv3-smp2.dts, QEMU 7.2 hw/arm/virt.c) node for node, for the
 * devices hypemu models: PSCI, memory, the 32 (empty) virtio-mmio transports, CPUs, the generic
 * timer, GICv3, PL011 and its clock, the PMU. Left out because hypemu has no such device: flash,
 * fw-cfg, PCIe, PL031, PL061, gpio-keys and platform-bus. With GICv3 the ITS is the GIC node's
 * msi-controller child, as QEMU's. /chosen rng-seed (32 bytes) and kaslr-seed (64
 * bits) are there as QEMU 7.2's create_randomness writes them, but drawn from `--seed` (a fixed
 * default) rather than host randomness, so runs stay reproducible (emulator/devices/rng.ts).
 */
import { FdtBuilder, type FdtNode } from './dtb.js';
import { VIRT } from './memmap.js';
import { VIRTIO_MMIO_FIRST_SPI, VIRTIO_MMIO_STRIDE, VIRTIO_MMIO_TRANSPORTS } from '../devices/virtio-mmio.js';

export interface VirtDtOptions {
  ramBase: number;
  ramSize: number;
  /** Number of vCPUs (1 today; SMP-ready). */
  cpus: number;
  /** /chosen bootargs (the kernel command line). */
  bootargs?: string;
  /** Physical [start, end) of the initrd, for /chosen linux,initrd-start/-end. */
  initrd?: { start: number; end: number };
  /** /chosen stdout-path; default the PL011 node. */
  stdoutPath?: string;
  /** Interrupt controller (default v3). */
  gic?: 'v2' | 'v3';
  /** /chosen kaslr-seed and rng-seed (Documentation/devicetree/bindings/chosen.txt); omitted when absent. */
  randomness?: DtRandomness;
}

/** What QEMU 7.2's hw/arm/virt.c create_randomness() puts in /chosen: a u64 and 32 bytes. */
export interface DtRandomness {
  readonly kaslrSeed: bigint;
  readonly rngSeed: Uint8Array;
}

/** Bytes of /chosen rng-seed, as QEMU (hw/arm/virt.c: `uint8_t rng[32]`). */
export const RNG_SEED_BYTES = 32;

/** The device tree's seeds drawn from a generator: kaslr-seed first, then rng-seed, as QEMU draws its struct. */
export function dtRandomness(next64: () => bigint, bytes: (n: number) => Uint8Array): DtRandomness {
  const kaslrSeed = next64();
  return { kaslrSeed, rngSeed: bytes(RNG_SEED_BYTES) };
}

/** GIC interrupt specifier cell 0 (Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml). */
export const GIC_SPI = 0;
export const GIC_PPI = 1;
/** Cell 2 trigger flags: 4 = level high (IRQ_TYPE_LEVEL_HIGH), 1 = edge rising. */
export const IRQ_TYPE_EDGE_RISING = 1;
export const IRQ_TYPE_LEVEL_HIGH = 4;

/**
 * Interrupt numbers the board wires (QEMU hw/arm/virt.c a15irqmap and ARCH_TIMER_*_IRQ).
 * PPIs are numbered from 16 in INTID space, so PPI 13 is INTID 29.
 */
export const VIRT_IRQ = {
  /** SPI number of UART0 (INTID 32 + 1 = 33). */
  UART0_SPI: 1,
  /** Generic timer PPIs in the order the arm,armv8-timer binding lists them. */
  TIMER_SEC_PPI: 13,
  TIMER_PHYS_PPI: 14,
  TIMER_VIRT_PPI: 11,
  TIMER_HYP_PPI: 10,
  /** PMU overflow interrupt (VIRTUAL_PMU_IRQ 7: INTID 23). */
  PMU_PPI: 7,
} as const;

/** PSCI 0.2 function IDs QEMU lists in /psci for the legacy PSCI 0.1 binding (Arm DEN0022). */
export const PSCI_FN = {
  CPU_SUSPEND_64: 0xc400_0001,
  CPU_OFF: 0x8400_0002,
  CPU_ON_64: 0xc400_0003,
  MIGRATE_64: 0xc400_0005,
} as const;

/** The fixed clock QEMU gives PrimeCell devices: 24 MHz, named clk24mhz. */
export const APB_PCLK_HZ = 24_000_000;

/**
 * MPIDR affinity (the `reg` of cpu@N) for vCPU index i. QEMU's virt with GICv3 packs 16
 * CPUs per cluster (Aff0 0..15, Aff1 = cluster), since GICv3 target lists cover Aff0 0..15.
 * The vCPU's MPIDR_EL1 must agree with this.
 */
export function virtMpidrAffinity(i: number): number {
  return ((Math.floor(i / 16) & 0xff) << 8) | (i % 16);
}

/** Path of the PL011 node, the default /chosen stdout-path. */
export const VIRT_UART_PATH = `/pl011@${VIRT.UART0.base.toString(16)}`;

/** Redistributor frame size per CPU for GICv3 without VLPIs: RD_base + SGI_base, 64 KiB each. */
const GICV3_REDIST_STRIDE = 0x2_0000;

const hex = (n: number): string => n.toString(16);

/**
 * The board's flattened device tree. Nodes that others reference are created empty first and
 * filled after: their phandles are allocated in QEMU's order (apb-pclk, cpus, intc) while the
 * nodes stay in QEMU's emission order.
 */
export function buildVirtDtb(opts: VirtDtOptions): Uint8Array {
  checkBoard(opts);
  // QEMU numbers phandles from 0x8000 (hw/arm/virt.c: vms->clock_phandle etc. via
  // qemu_fdt_alloc_phandle); keeping the same base makes diffs against QEMU's tree quieter.
  const fdt = new FdtBuilder({ firstPhandle: 0x8000 });
  const root = fdt.root;
  root.strings('compatible', ['linux,dummy-virt']);
  root.u32('#address-cells', 2);
  root.u32('#size-cells', 2);
  root.string('model', 'linux,dummy-virt');
  addPsci(root);
  // /memory: devicetree spec 3.4; reg in (#address-cells=2, #size-cells=2).
  root.node(`memory@${hex(opts.ramBase)}`).string('device_type', 'memory').u64s('reg', [opts.ramBase, opts.ramSize]);
  addVirtioMmio(root);

  const uart = root.node(`pl011@${hex(VIRT.UART0.base)}`);
  const pmu = root.node('pmu');
  const gic = root.node(`intc@${hex(VIRT.GIC_DIST.base)}`);
  const cpusNode = root.node('cpus');
  const timer = root.node('timer');
  const clk = root.node('apb-pclk');
  const chosen = root.node('chosen');

  fillApbClock(clk);
  fillCpus(cpusNode, opts.cpus);
  fillGic(gic, opts.gic ?? 'v3');
  root.cells('interrupt-parent', [gic]);
  // With GICv2 the PPI flags carry the CPU mask in bits [15:8] (arm,gic.yaml), as QEMU emits;
  // the GICv3 binding has no such field (reference DTS: 0x04; the GICv2 tree has 0x304 for 2 CPUs).
  const ppiFlags = opts.gic === 'v2' ? (((1 << opts.cpus) - 1) << 8) | IRQ_TYPE_LEVEL_HIGH : IRQ_TYPE_LEVEL_HIGH;
  fillTimer(timer, ppiFlags);
  fillUart(uart, clk);
  // PMUv3: Documentation/devicetree/bindings/arm/pmu.yaml. PPI 7 (INTID 23), level high, as
  // QEMU virt's fdt_add_pmu_nodes (emulator/devices/pmu.ts is the model).
  pmu.cells('interrupts', [GIC_PPI, VIRT_IRQ.PMU_PPI, ppiFlags]).strings('compatible', ['arm,armv8-pmuv3']);
  fillChosen(chosen, opts);
  return fdt.build();
}

function checkBoard({ ramBase, ramSize, cpus }: VirtDtOptions): void {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > VIRT.GIC_REDIST.size / GICV3_REDIST_STRIDE) {
    throw new RangeError(`virt: ${cpus} CPUs do not fit the GICv3 redistributor region`);
  }
  if (!Number.isSafeInteger(ramBase) || !Number.isSafeInteger(ramSize) || ramSize <= 0) {
    throw new RangeError(`virt: bad RAM range base=${ramBase} size=${ramSize}`);
  }
}

/**
 * /psci: Documentation/devicetree/bindings/arm/psci.yaml. method "hvc" because the hypervisor
 * (not firmware) implements PSCI, as with KVM.
 */
function addPsci(root: FdtNode): void {
  root.node('psci')
    .strings('compatible', ['arm,psci-1.0', 'arm,psci-0.2', 'arm,psci'])
    .string('method', 'hvc')
    .u32('cpu_suspend', PSCI_FN.CPU_SUSPEND_64)
    .u32('cpu_off', PSCI_FN.CPU_OFF)
    .u32('cpu_on', PSCI_FN.CPU_ON_64)
    .u32('migrate', PSCI_FN.MIGRATE_64);
}

/**
 * virtio-mmio transports: Documentation/devicetree/bindings/virtio/mmio.yaml. QEMU 7.2's
 * create_virtio_devices adds them from the last to the first and libfdt puts each new node
 * first, so the tree lists them by ascending address; transport i raises SPI 16 + i, edge.
 */
function addVirtioMmio(root: FdtNode): void {
  for (let i = 0; i < VIRTIO_MMIO_TRANSPORTS; i++) {
    const base = VIRT.VIRTIO_MMIO.base + i * VIRTIO_MMIO_STRIDE;
    root.node(`virtio_mmio@${hex(base)}`)
      .strings('compatible', ['virtio,mmio'])
      .u64s('reg', [base, VIRTIO_MMIO_STRIDE])
      .cells('interrupts', [GIC_SPI, VIRTIO_MMIO_FIRST_SPI + i, IRQ_TYPE_EDGE_RISING])
      .empty('dma-coherent');
  }
}

/** apb-pclk: Documentation/devicetree/bindings/clock/fixed-clock.yaml. */
function fillApbClock(clk: FdtNode): void {
  clk.phandle();
  clk.strings('compatible', ['fixed-clock'])
    .u32('#clock-cells', 0)
    .u32('clock-frequency', APB_PCLK_HZ)
    .string('clock-output-names', 'clk24mhz');
}

/**
 * /cpus: devicetree spec 3.7 and Documentation/devicetree/bindings/arm/cpus.yaml. QEMU 7.2's
 * fdt_add_cpu_nodes creates cpu@N-1 first (phandle 0x8001) down to cpu@0 (0x8000 + N), each
 * new node going first, then cpu-map (Documentation/devicetree/bindings/cpu/cpu-topology.txt)
 * likewise: the tree reads cpu-map, cpu@0, ..., cpu@N-1 and cpu@0 has the highest phandle.
 */
function fillCpus(cpusNode: FdtNode, cpus: number): void {
  cpusNode.u32('#address-cells', 1).u32('#size-cells', 0);
  const cluster = cpusNode.node('cpu-map').node('socket0').node('cluster0');
  const cpuNodes: FdtNode[] = [];
  for (let i = 0; i < cpus; i++) cpuNodes.push(cpusNode.node(`cpu@${hex(virtMpidrAffinity(i))}`));
  for (let i = cpus - 1; i >= 0; i--) cpuNodes[i]!.phandle();
  cpuNodes.forEach((c, i) => {
    c.string('device_type', 'cpu')
      .strings('compatible', ['arm,cortex-a57'])
      .string('enable-method', 'psci')
      .u32('reg', virtMpidrAffinity(i));
    cluster.node(`core${i}`).cells('cpu', [c]);
  });
}

/**
 * The interrupt controller. Properties both GIC bindings share come first, in QEMU 7.2's order;
 * #address-cells/#size-cells/ranges are for child nodes (GICv2's v2m frame, GICv3's ITS), kept
 * for a like-for-like tree.
 */
function fillGic(gic: FdtNode, version: 'v2' | 'v3'): void {
  gic.phandle();
  gic.u32('#interrupt-cells', 3).empty('interrupt-controller').u32('#address-cells', 2).u32('#size-cells', 2).empty('ranges');
  if (version === 'v2') {
    // GICv2: Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml; reg is the
    // distributor then the CPU interface, as QEMU 7.2 emits (reference virt-gicv2-smp2.dts;
    // its v2m MSI frame child is not modelled).
    gic.strings('compatible', ['arm,cortex-a15-gic'])
      .u64s('reg', [VIRT.GIC_DIST.base, VIRT.GIC_DIST.size, VIRT.GIC_CPU.base, VIRT.GIC_CPU.size]);
    return;
  }
  // GICv3: Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml. reg is
  // the distributor then one redistributor region.
  gic.strings('compatible', ['arm,gic-v3'])
    .u32('#redistributor-regions', 1)
    .u64s('reg', [VIRT.GIC_DIST.base, VIRT.GIC_DIST.size, VIRT.GIC_REDIST.base, VIRT.GIC_REDIST.size]);
  // The ITS: Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml
  // ("^msi-controller@" / its child: arm,gic-v3-its, msi-controller, #msi-cells = 1 for the
  // DeviceID), phandle allocated after the GIC's as QEMU 7.2's create_its (emulator/devices/its.ts).
  const its = gic.node(`its@${hex(VIRT.GIC_ITS.base)}`);
  its.phandle();
  its.strings('compatible', ['arm,gic-v3-its'])
    .empty('msi-controller')
    .u32('#msi-cells', 1)
    .u64s('reg', [VIRT.GIC_ITS.base, VIRT.GIC_ITS.size]);
}

/**
 * Generic timer: Documentation/devicetree/bindings/timer/arm,arch_timer.yaml, order secure
 * phys, non-secure phys, virtual, hypervisor. Flags are IRQ_TYPE_LEVEL_HIGH, with QEMU's PPI
 * CPU mask (bits 15:8) only for GICv2.
 */
function fillTimer(timer: FdtNode, ppiFlags: number): void {
  timer.strings('compatible', ['arm,armv8-timer', 'arm,armv7-timer'])
    .empty('always-on')
    .cells('interrupts', [
      GIC_PPI, VIRT_IRQ.TIMER_SEC_PPI, ppiFlags,
      GIC_PPI, VIRT_IRQ.TIMER_PHYS_PPI, ppiFlags,
      GIC_PPI, VIRT_IRQ.TIMER_VIRT_PPI, ppiFlags,
      GIC_PPI, VIRT_IRQ.TIMER_HYP_PPI, ppiFlags,
    ]);
}

/**
 * PL011: Documentation/devicetree/bindings/serial/arm,pl011.yaml + primecell.yaml. The AMBA
 * bus matches on "arm,primecell" and then on the PeriphID registers.
 */
function fillUart(uart: FdtNode, clk: FdtNode): void {
  uart.strings('compatible', ['arm,pl011', 'arm,primecell'])
    .u64s('reg', [VIRT.UART0.base, VIRT.UART0.size])
    .cells('interrupts', [GIC_SPI, VIRT_IRQ.UART0_SPI, IRQ_TYPE_LEVEL_HIGH])
    .cells('clocks', [clk, clk])
    .strings('clock-names', ['uartclk', 'apb_pclk']);
}

/**
 * /chosen: devicetree spec 3.6 and Documentation/devicetree/bindings/chosen.txt. kaslr-seed
 * randomises the kernel's placement (arm64 KASLR), rng-seed is credited to its entropy pool
 * (drivers/of/fdt.c early_init_dt_scan_chosen: add_bootloader_randomness) and then wiped.
 */
function fillChosen(chosen: FdtNode, opts: VirtDtOptions): void {
  if (opts.randomness) {
    if (opts.randomness.rngSeed.length !== RNG_SEED_BYTES) throw new RangeError(`virt: rng-seed must be ${RNG_SEED_BYTES} bytes`);
    chosen.u64('kaslr-seed', BigInt.asUintN(64, opts.randomness.kaslrSeed));
    chosen.bytes('rng-seed', opts.randomness.rngSeed);
  }
  chosen.string('stdout-path', opts.stdoutPath ?? VIRT_UART_PATH);
  if (opts.bootargs !== undefined) chosen.string('bootargs', opts.bootargs);
  if (opts.initrd) {
    const { start, end } = opts.initrd;
    if (!(end >= start)) throw new RangeError(`virt: initrd end 0x${hex(end)} before start 0x${hex(start)}`);
    // Linux reads these with of_read_number(len / 4), so one cell or two both work; QEMU
    // writes one cell when the value fits, and so do we.
    const put = (name: string, v: number): void => {
      if (v <= 0xffff_ffff) chosen.u32(name, v);
      else chosen.u64(name, v);
    };
    put('linux,initrd-start', start);
    put('linux,initrd-end', end);
  }
}
