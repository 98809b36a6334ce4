// An interrupt raised inside a PL011 data access is taken at the next instruction (issue 13).
// A UARTDR write that sets TXRIS with TXIM enabled moves the UART's line (SPI 1, INTID 33) high;
// with PSTATE.I clear the IRQ exception must be taken right after that store (Arm ARM D1.3.6:
// an unmasked pending interrupt is taken before the next instruction). Measured on QEMU 7.2 with
// the same code as an ELF whose handler prints ELR - (store + 4) and the adds run: with -icount
// shift=0, ELR = store + 4 and no add ran; without icount QEMU takes it at the end of the block
// (8 adds), as hypemu did before under per-block counting. The console window (native/uart-mmio.c) performs the
// store inside the core's translation block; the access restarts the block as one instruction
// first (QEMU's cpu_io_recompile), so the stop falls right after it, not at the end of the block.
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor, DEFAULT_HYP_CONFIG } from '../../hyp/hypervisor.js';
import { SR } from '../../emulator/cpu/sysregs.js';

const B = 0x4008_0000;
const VBAR = 0x4009_0000;
// aarch64-linux-gnu-as
const CODE = [
  0x52800041, // mov w1, #2
  0xb9000141, // str w1, [x10]              GICD_CTLR.EnableGrp1
  0xb9008541, // str w1, [x10, #0x84]       GICD_IGROUPR1: INTID 33 group 1
  0xb9010541, // str w1, [x10, #0x104]      GICD_ISENABLER1: INTID 33
  0xf930855f, // str xzr, [x10, #0x6108]    GICD_IROUTER33 = 0.0.0.0
  0xb900157f, // str wzr, [x11, #0x14]      GICR_WAKER = 0
  0xd2801fe1, // mov x1, #0xff
  0xd5184601, // msr icc_pmr_el1, x1
  0xd2800021, // mov x1, #1
  0xd518cce1, // msr icc_igrpen1_el1, x1
  0xd5033fdf, // isb
  0xd50342ff, // msr daifclr, #2
  0x52800401, // mov w1, #0x20
  0xb9003801, // str w1, [x0, #0x38]        UARTIMSC = TXIM (TXRIS clear: the line stays low)
  0x52800822, // mov w2, #0x41
  0xb9000002, // str w2, [x0]               UARTDR = 'A': TXRIS set, the line goes high
  ...Array<number>(8).fill(0x91000463), //   add x3, x3, #1 (x8): the rest of the block
  0x14000000, // b .
];
const STORE = B + 15 * 4;

let machine: VirtMachine | null = null;
afterEach(() => {
  machine?.close();
  machine = null;
});

describe('an interrupt raised inside a UART data access (issue 13)', () => {
  it('is taken at the instruction after the store (ELR_EL1 = store + 4), none of the block after it run', () => {
    const out: number[] = [];
    const m = new VirtMachine({ uartOut: (b) => out.push(b) });
    machine = m;
    const hyp = new Hypervisor({ ...DEFAULT_HYP_CONFIG });
    hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize }, console: m.uartWindow });
    const v = m.vcpu;
    CODE.forEach((w, i) => v.ram.write32(B + 4 * i, w));
    for (let i = 0; i < 0x800 / 4; i++) v.ram.write32(VBAR + 4 * i, 0xd503201f); // nops
    v.setSysreg(SR.VBAR_EL1, BigInt(VBAR));
    v.setX(0, BigInt(VIRT.UART0.base));
    v.setX(10, BigInt(VIRT.GIC_DIST.base));
    v.setX(11, BigInt(VIRT.GIC_REDIST.base));
    v.pc = B;
    // As the machine's run loop: a stop a hook asked for returns from runFor; run on.
    const total = CODE.length + 10;
    while (v.instructions < total) expect(v.runFor(total - v.instructions)).toBeNull();
    // Before the fix: ELR = the `b .` after the 8 adds (the end of the block) under per-block
    // counting, and ELR = the store itself under per-instruction counting (HYPEMU_BLOCK_COUNT=off:
    // the store ran twice, 'A' printed twice); every UART access as an exit
    // (HYPEMU_NATIVE_UART=off) gave store + 4, as now in all three.
    expect(Number(v.sysreg(SR.ELR_EL1))).toBe(STORE + 4);
    expect(v.x(3)).toBe(0n);
    expect(out).toEqual([0x41]);
    expect(v.exceptions.byTarget.EL1).toEqual({ irq: 1 });
    expect(v.el).toBe(1);
    // The window performed both UART stores (the IMSC and the DR write), each restarted alone.
    if (m.uartWindow !== null && v.uc.countingMode === 'block') {
      expect(m.uartWindow.slowAccesses).toBe(2);
      expect(hyp.stats.exits.byReason.dabt_s2).toBe(5); // the GIC writes only
    }
  });
});
