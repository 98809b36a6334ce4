// Breakpoint/watchpoint registers kept out of the core (emulator/devices/debug-regs.ts): a
// DBGBCR write with E = 1 no longer reaches Unicorn (it crashed), and an enabled breakpoint is
// delivered as the Arm ARM says (D2 "Breakpoint exceptions"; ESR EC 0x31, IFSC 0x22).
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor } from '../../hyp/hypervisor.js';
import { DebugRegs } from '../../emulator/devices/debug-regs.js';

const B = 0x4008_0000;
const TARGET = B + 0x40;
const VBAR = B + 0x800;
const ESR_EL1 = { op0: 3, op1: 0, crn: 5, crm: 2, op2: 0 };
const ELR_EL1 = { op0: 3, op1: 0, crn: 4, crm: 0, op2: 1 };

function program(unmaskD: boolean, lockOs = false): number[] {
  const p = [
    0xd2800800, // movz x0, #0x40
    0xf2a80100, // movk x0, #0x4008, lsl #16     (x0 = TARGET)
    0xd5100080, // msr dbgbvr0_el1, x0
    0xd2803c61, // movz x1, #0x1e3               (BAS 0xf, PMC EL1, E)
    0xd51000a1, // msr dbgbcr0_el1, x1
    lockOs ? 0xd503201f : 0xd510109f, // msr oslar_el1, xzr (unlock the OS lock) | nop
    0xd2940002, // movz x2, #0xa000              (MDSCR_EL1.MDE | KDE)
    0xd5100242, // msr mdscr_el1, x2
    0xd2810003, // movz x3, #0x800
    0xf2a80103, // movk x3, #0x4008, lsl #16     (x3 = VBAR)
    0xd518c003, // msr vbar_el1, x3
    0xd5033fdf, // isb
    unmaskD ? 0xd50348ff : 0xd503201f, // msr daifclr, #8 | nop
  ];
  while (p.length < 16) p.push(0xd503201f);
  p.push(0xd503201f, 0x14000000); // TARGET: nop; b .
  return p;
}

let m: VirtMachine | null = null;
afterEach(() => {
  m?.close();
  m = null;
});

function run(words: number[]) {
  m = new VirtMachine({ uartOut: () => {} });
  const hyp = new Hypervisor();
  hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
  words.forEach((w, i) => m!.vcpu.ram.write32(B + 4 * i, w));
  m.vcpu.ram.write32(VBAR + 0x200, 0x14000000); // current EL, SPx, synchronous: b .
  m.vcpu.pc = B;
  expect(m.vcpu.runFor(200)).toBeNull();
  return { pc: m.vcpu.pc, esr: m.vcpu.sysreg(ESR_EL1), elr: m.vcpu.sysreg(ELR_EL1), regs: m.debugRegs };
}

describe('hardware breakpoints (Arm ARM D2, DBGBCR/DBGBVR)', () => {
  it('an enabled EL1 breakpoint with MDE, KDE and PSTATE.D clear is taken before the instruction: EC 0x31, IFSC 0x22, ELR = its address', () => {
    const r = run(program(true));
    expect(r.pc).toBe(VBAR + 0x200);
    expect(r.esr).toBe(0xc600_0022n);
    expect(r.elr).toBe(BigInt(TARGET));
    expect(r.regs.bcr[0]).toBe(0x1e3n); // the write landed in the model (the core never saw E = 1)
  });
  it('PSTATE.D masks it, and so does the OS lock (locked at reset)', () => {
    expect(run(program(false)).pc).toBe(TARGET + 4);
    expect(run(program(true, true)).pc).toBe(TARGET + 4);
  });
  it('RES0 bits are dropped; OSLSR_EL1 reports OSLM = 0b10 and the lock', () => {
    const d = new DebugRegs();
    d.write('DBGBCR1_EL1', 0xffff_ffffn);
    expect(d.read('DBGBCR1_EL1')).toBe(0x00ff_e1e7n);
    d.write('DBGBVR1_EL1', 0x4008_0003n);
    expect(d.read('DBGBVR1_EL1')).toBe(0x4008_0000n);
    expect(d.read('OSLSR_EL1')).toBe(0xan);
    d.write('OSLAR_EL1', 0n);
    expect(d.read('OSLSR_EL1')).toBe(0x8n);
  });
});

describe('watchpoints (Arm ARM D2 "Watchpoint exceptions", DBGWCR/DBGWVR)', () => {
  it('a store to a watched doubleword: EC 0x35, WnR, DFSC 0x22, FAR = the address, ELR = the store', () => {
    const words = [
      0xd2802000, // movz x0, #0x100
      0xf2a80100, // movk x0, #0x4008, lsl #16     (x0 = B + 0x100)
      0xd51000c0, // msr dbgwvr0_el1, x0
      0xd283fe61, // movz x1, #0x1ff3              (BAS 0xff, LSC store, PAC EL1, E)
      0xd51000e1, // msr dbgwcr0_el1, x1
      0xd510109f, // msr oslar_el1, xzr
      0xd2940002, // movz x2, #0xa000              (MDE | KDE)
      0xd5100242, // msr mdscr_el1, x2
      0xd2810003, // movz x3, #0x800
      0xf2a80103, // movk x3, #0x4008, lsl #16
      0xd518c003, // msr vbar_el1, x3
      0xd5033fdf, // isb
      0xd50348ff, // msr daifclr, #8
      0xd503201f, 0xd503201f, 0xd503201f,
      0xf9000002, // TARGET: str x2, [x0]
      0x14000000, // b .
    ];
    const r = run(words);
    expect(r.pc).toBe(VBAR + 0x200);
    expect(r.esr).toBe(0xd600_0062n);
    expect(r.elr).toBe(BigInt(TARGET));
    expect(m!.vcpu.sysreg({ op0: 3, op1: 0, crn: 6, crm: 0, op2: 0 })).toBe(BigInt(B + 0x100)); // FAR_EL1
  });
});

describe('debug exceptions routed to EL2 (Arm ARM D2.3 "Routing debug exceptions", D2.4 "Enabling debug exceptions")', () => {
  it('AArch64.GenerateDebugExceptionsFrom: target EL1 needs KDE and PSTATE.D clear at EL1; target EL2 enables EL1 and EL0 whatever they say', () => {
    const d = new DebugRegs();
    const D = 1 << 9;
    d.write('OSLAR_EL1', 0n);
    d.write('MDSCR_EL1', 0n); // KDE = 0
    expect(d.generateFrom(0, 0, false)).toBe(true);
    expect(d.generateFrom(1, 0, false)).toBe(false);
    expect(d.generateFrom(1, 0, true)).toBe(true);
    expect(d.generateFrom(1, D, true)).toBe(true);
    d.write('MDSCR_EL1', 1n << 13n); // KDE
    expect(d.generateFrom(1, 0, false)).toBe(true);
    expect(d.generateFrom(1, D, false)).toBe(false);
    expect(d.generateFrom(2, 0, true)).toBe(false); // EL2 itself is the model's, never the guest's
    d.write('OSLAR_EL1', 1n); // the OS lock disables them all, routed or not
    expect(d.generateFrom(0, 0, true)).toBe(false);
    expect(d.generateFrom(1, 0, true)).toBe(false);
  });
  it('software step follows the same enables (MDSCR_EL1.SS)', () => {
    const d = new DebugRegs();
    d.write('OSLAR_EL1', 0n);
    d.write('MDSCR_EL1', 1n); // SS, KDE = 0
    expect(d.stepActive(1, 0, false)).toBe(false);
    expect(d.stepActive(1, 0, true)).toBe(true);
    expect(d.stepActive(0, 1 << 9, false)).toBe(true);
  });
  it('the EL2 syndrome of a debug exception from EL1 is the "from a lower EL" class (ESR_ELx EC 0x30/0x32/0x34), BRK stays 0x3C', async () => {
    const { debugEsrToEl2, isDebugEc } = await import('../../emulator/cpu/exits.js');
    expect(debugEsrToEl2(0xc6000022)).toBe(0xc2000022); // breakpoint 0x31 -> 0x30
    expect(debugEsrToEl2(0xcf000022)).toBe(0xcb000022); // step 0x33 (ISV) -> 0x32
    expect(debugEsrToEl2(0xd6000062)).toBe(0xd2000062); // watchpoint 0x35 (WnR) -> 0x34
    expect(debugEsrToEl2(0xc2000022)).toBe(0xc2000022); // already from a lower EL
    expect(debugEsrToEl2(0xf2000077)).toBe(0xf2000077); // BRK #0x77
    expect([0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3c].every(isDebugEc)).toBe(true);
    expect(isDebugEc(0x15)).toBe(false);
  });
});
