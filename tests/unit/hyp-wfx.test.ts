// WFI/WFE trapped by HCR_EL2.TWI/TWE (Arm ARM D19.2.48) exit with EC 0x01 and the
// WF* ISS (D17.2.37: CV = 1, COND = 0b1110, TI = 00 WFI / 01 WFE); the
// hypervisor resumes after the instruction. Not trapped, they execute (as NOPs
// here: no interrupt ever needs waiting for) and retire.
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor } from '../../hyp/hypervisor.js';
import { hcrOf } from '../../hyp/hcr.js';
import type { Exit } from '../../emulator/cpu/exits.js';
import { SR } from '../../emulator/cpu/sysregs.js';

const B = 0x4008_0000;
const PROGRAM = [
  0xd2800020, // mov x0, #1
  0xd503207f, // wfi
  0x91000400, // add x0, x0, #1
  0xd503205f, // wfe
  0x91000400, // add x0, x0, #1
  0xd503201f, // nop
];

let machine: VirtMachine | null = null;
afterEach(() => {
  machine?.close();
  machine = null;
});

function run(trap: boolean): { exits: Exit[]; m: VirtMachine; hyp: Hypervisor } {
  const m = new VirtMachine({ uartOut: () => {} });
  machine = m;
  const hyp = new Hypervisor();
  hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
  hyp.el2.hcr = trap ? hyp.el2.hcr | hcrOf('TWI', 'TWE') : hyp.el2.hcr & ~hcrOf('TWI', 'TWE');
  PROGRAM.forEach((w, i) => m.vcpu.ram.write32(B + 4 * i, w));
  m.vcpu.pc = B;
  const exits: Exit[] = [];
  m.vcpu.onExit = (e) => exits.push(e);
  expect(m.vcpu.runFor(PROGRAM.length)).toBeNull();
  return { exits, m, hyp };
}

describe('WFx traps (HCR_EL2.TWI/TWE)', () => {
  it('trapped WFI and WFE exit with EC 0x01, TI 00 / 01, and resume after the instruction', () => {
    const { exits, m, hyp } = run(true);
    const wfx = exits.filter((e) => e.reason === 'wfx');
    expect(wfx.map((e) => [e.pc, e.esr >>> 0])).toEqual([
      [B + 4, 0x07e0_0000],
      [B + 12, 0x07e0_0001],
    ]);
    expect(hyp.stats.exits.byReason.wfx).toBe(2);
    expect(m.vcpu.x(0)).toBe(3n);
    expect(m.vcpu.pc).toBe(B + 4 * PROGRAM.length);
    expect(m.vcpu.instructions).toBe(PROGRAM.length);
  });

  it('untrapped, they retire in place and the instruction count stays exact', () => {
    const { exits, m } = run(false);
    expect(exits.filter((e) => e.reason === 'wfx')).toHaveLength(0);
    expect(m.vcpu.x(0)).toBe(3n);
    expect(m.vcpu.pc).toBe(B + 4 * PROGRAM.length);
    expect(m.vcpu.instructions).toBe(PROGRAM.length);
  });
});

// HVC and SMC at EL1 through the rules of hyp/traps.ts (routeHvc, trapsSmc): HCR_EL2.HCD makes HVC
// UNDEFINED (D19.2.48 HCD, no EL3), TSC clear leaves SMC UNDEFINED (C6.2 "SMC", no EL3).
describe('HVC under HCR_EL2.HCD, SMC without TSC', () => {
  const VBAR = 0x4009_0000;
  function runOne(word: number, set: string[], clear: string[]): { exits: Exit[]; m: VirtMachine } {
    const m = new VirtMachine({ uartOut: () => {} });
    machine = m;
    const hyp = new Hypervisor();
    hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
    hyp.el2.hcr = (hyp.el2.hcr | hcrOf(...(set as never[]))) & ~hcrOf(...(clear as never[]));
    m.vcpu.ram.write32(B, word);
    m.vcpu.ram.write32(B + 4, 0xd503201f);
    m.vcpu.ram.write32(VBAR + 0x200, 0xd503201f);
    m.vcpu.setSysreg(SR.VBAR_EL1, BigInt(VBAR));
    m.vcpu.pc = B;
    const exits: Exit[] = [];
    // Stage-2 faults (RAM mapped lazily) are not what these tests look at.
    m.vcpu.onExit = (e) => (e.reason === 'iabt_s2' || e.reason === 'dabt_s2' ? undefined : exits.push(e));
    m.vcpu.runFor(1);
    return { exits, m };
  }
  const HVC5 = 0xd40000a2; // hvc #5
  const SMC5 = 0xd40000a3; // smc #5

  it('HVC at EL1 exits to EL2 (EC 0x16) while HCD is clear', () => {
    const { exits, m } = run1(HVC5, [], ['HCD']);
    expect(exits.map((e) => [e.reason, e.esr >>> 0])).toEqual([['hvc', 0x5a00_0005]]);
    expect(m.vcpu.pc).toBe(B + 4);
  });
  it('HVC at EL1 under HCD is UNDEFINED: EC 0x00 to EL1, ELR = the HVC, no exit', () => {
    const { exits, m } = run1(HVC5, ['HCD'], []);
    expect(exits).toEqual([]);
    expect(Number(m.vcpu.sysreg(SR.ESR_EL1))).toBe(0x0200_0000);
    expect(Number(m.vcpu.sysreg(SR.ELR_EL1))).toBe(B);
    expect(m.vcpu.pc).toBe(VBAR + 0x200);
  });
  it('SMC at EL1 exits (EC 0x17) under TSC and is UNDEFINED without it', () => {
    const t = run1(SMC5, ['TSC'], []);
    expect(t.exits.map((e) => [e.reason, e.esr >>> 0])).toEqual([['smc', 0x5e00_0005]]);
    const u = run1(SMC5, [], ['TSC']);
    expect(u.exits).toEqual([]);
    expect(Number(u.m.vcpu.sysreg(SR.ESR_EL1))).toBe(0x0200_0000);
    expect(u.m.vcpu.pc).toBe(VBAR + 0x200);
  });
  const run1 = runOne;
});
