// EL1 exception entry performed by the model (Unicorn does none): Arm ARM
// DDI0487 D1.10.2 "Exception entry" and the AArch64.TakeException pseudocode.
// Each test runs real A64 code on Unicorn and checks ESR_EL1, ELR_EL1,
// SPSR_EL1, PSTATE and the vector offset bit by bit.
import { afterEach, describe, expect, it } from 'vitest';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import { SR } from '../../emulator/cpu/sysregs.js';
import { Reg } from '../../emulator/unicorn/uc.js';

const BASE = 0x4000_0000;
const VBAR = 0x4000_0800;
const A64 = {
  nop: 0xd503201f,
  svc42: 0xd4000841, // svc #0x42
  brk7: 0xd42000e0, // brk #7
  udf0: 0x00000000, // udf #0
  eret: 0xd69f03e0,
  msrSpsel0: 0xd50040bf, // msr spsel, #0
};

let vcpu: Vcpu | null = null;
afterEach(() => {
  vcpu?.close();
  vcpu = null;
});

function machine(code: number[], at = BASE): Vcpu {
  const v = new Vcpu({ ramBase: BASE, ramSize: 0x10_0000 });
  code.forEach((w, i) => v.ram.write32(at + i * 4, w));
  // Every vector slot holds a NOP so a test can stop right after entry.
  for (let off = 0; off < 0x800; off += 4) v.ram.write32(VBAR + off, A64.nop);
  v.setSysreg(SR.VBAR_EL1, BigInt(VBAR));
  v.pc = at;
  vcpu = v;
  return v;
}

const el1 = (v: Vcpu) => ({
  esr: Number(v.sysreg(SR.ESR_EL1)),
  elr: Number(v.sysreg(SR.ELR_EL1)),
  spsr: Number(v.sysreg(SR.SPSR_EL1)),
});

describe('synchronous exceptions taken to EL1 from EL1h (vector offset 0x200)', () => {
  it('SVC: EC 0x15, IL 1, ISS = imm16; ELR = next instruction', () => {
    const v = machine([A64.nop, A64.svc42]);
    v.runFor(2);
    const r = el1(v);
    expect(r.esr).toBe(0x5600_0042);
    expect(r.elr).toBe(BASE + 8);
    expect(v.pc).toBe(VBAR + 0x200);
    // SPSR_EL1 = PSTATE before entry: EL1h (M = 0b0101) with DAIF masked as at reset.
    expect(r.spsr & 0x3ff).toBe(0x3c5);
    // PSTATE after entry: EL1h, D A I F all set.
    expect(v.pstate & 0x3cf).toBe(0x3c5);
  });

  it('BRK: EC 0x3C, ISS = imm16; ELR = the BRK itself', () => {
    const v = machine([A64.brk7]);
    v.runFor(1);
    expect(el1(v).esr).toBe(0xf200_0007);
    expect(el1(v).elr).toBe(BASE);
    expect(v.pc).toBe(VBAR + 0x200);
  });

  it('UDF: EC 0x00 (unknown reason), IL 1, ISS 0; ELR = the instruction', () => {
    const v = machine([A64.nop, A64.udf0]);
    v.runFor(2);
    expect(el1(v).esr).toBe(0x0200_0000);
    expect(el1(v).elr).toBe(BASE + 4);
    expect(v.pc).toBe(VBAR + 0x200);
  });

  it('SPSR keeps NZCV and PSTATE keeps NZCV across entry', () => {
    const v = machine([A64.svc42]);
    v.uc.regWrite(Reg.NZCV, 0x6000_0000n); // Z and C set
    v.runFor(1);
    expect(el1(v).spsr >>> 28).toBe(0x6);
    expect(v.pstate >>> 28).toBe(0x6);
  });

  it('PAN is set on entry when SCTLR_EL1.SPAN is 0 (FEAT_PAN), kept when SPAN is 1', () => {
    const v = machine([A64.svc42]);
    const sctlr = v.sysreg(SR.SCTLR_EL1);
    v.setSysreg(SR.SCTLR_EL1, sctlr & ~(1n << 23n));
    v.runFor(1);
    expect(v.pstate & (1 << 22)).toBe(1 << 22);
  });
});

describe('from EL1t (SPSel = 0): vector offset 0x000, SP banked', () => {
  it('SVC with SP_EL0 selected enters at VBAR + 0x000 on SP_EL1', () => {
    const v = machine([A64.msrSpsel0, A64.svc42]);
    v.uc.regWrite(Reg.SP_EL1, 0x4008_0000);
    v.uc.regWrite(Reg.SP, 0x4008_0000);
    v.runFor(1); // now EL1t, SP = SP_EL0
    v.uc.regWrite(Reg.SP, 0x4007_0000);
    v.runFor(1);
    expect(v.pc).toBe(VBAR + 0x000);
    expect(el1(v).spsr & 0xf).toBe(0x4); // EL1t
    expect(v.pstate & 0xf).toBe(0x5); // EL1h
    expect(v.uc.regReadNum(Reg.SP)).toBe(0x4008_0000); // SP_EL1
    expect(v.uc.regReadNum(Reg.SP_EL0)).toBe(0x4007_0000);
  });
});

describe('from EL0 (lower EL, AArch64): vector offset 0x400', () => {
  it('ERET to EL0, then SVC from EL0: EC 0x15, SPSR.M = EL0t, SP_EL0 preserved', () => {
    const user = BASE + 0x100;
    const v = machine([A64.eret]);
    v.ram.write32(user, 0xd4000021); // svc #1
    v.setSysreg(SR.ELR_EL1, BigInt(user));
    v.setSysreg(SR.SPSR_EL1, 0n); // EL0t, interrupts unmasked
    v.uc.regWrite(Reg.SP_EL0, 0x4009_0000);
    v.uc.regWrite(Reg.SP, 0x4008_0000);
    v.runFor(1);
    expect(v.el).toBe(0);
    expect(v.pc).toBe(user);
    v.runFor(1);
    expect(v.pc).toBe(VBAR + 0x400);
    expect(el1(v).esr).toBe(0x5600_0001);
    expect(el1(v).elr).toBe(user + 4);
    expect(el1(v).spsr & 0x3cf).toBe(0x000);
    expect(v.el).toBe(1);
    expect(v.pstate & 0x3c0).toBe(0x3c0);
    expect(v.uc.regReadNum(Reg.SP_EL0)).toBe(0x4009_0000);
    expect(v.uc.regReadNum(Reg.SP)).toBe(0x4008_0000);
  });
});

describe('exception statistics', () => {
  it('counts by target EL and class', () => {
    const v = machine([A64.svc42]);
    v.runFor(1);
    expect(v.exceptions.byTarget).toEqual({ EL1: { svc64: 1 } });
    expect(v.exceptions.total).toBe(1);
  });
});

describe('asynchronous exceptions: IRQ at +0x80, FIQ at +0x100, SError at +0x180 (Arm ARM D1.10.2, vector table)', () => {
  it('an IRQ taken from EL1h enters VBAR_EL1 + 0x280 with ELR = the next instruction to run and ESR unchanged', () => {
    const v = machine([A64.nop, A64.nop]);
    v.setSysreg(SR.ESR_EL1, 0x1234n);
    v.runFor(1);
    v.takeException('irq', Number(v.sysreg(SR.ESR_EL1)), v.pc);
    expect(v.pc).toBe(VBAR + 0x280);
    expect(el1(v).elr).toBe(BASE + 4);
    expect(v.pstate & 0x3cf).toBe(0x3c5);
    expect(v.exceptions.byTarget.EL1).toEqual({ irq: 1 });
  });

  it('an FIQ taken from EL0 enters VBAR_EL1 + 0x500; SPSR records EL0t with interrupts unmasked', () => {
    const user = BASE + 0x100;
    const v = machine([A64.eret]);
    v.ram.write32(user, A64.nop);
    v.setSysreg(SR.ELR_EL1, BigInt(user));
    v.setSysreg(SR.SPSR_EL1, 0n);
    v.runFor(2);
    expect(v.el).toBe(0);
    v.takeException('fiq', 0, v.pc);
    expect(v.pc).toBe(VBAR + 0x500);
    expect(el1(v).spsr & 0x3cf).toBe(0);
    expect(el1(v).elr).toBe(user + 4);
  });

  it('an SError from EL1t enters VBAR_EL1 + 0x180', () => {
    const v = machine([A64.msrSpsel0, A64.nop]);
    v.runFor(1);
    v.takeException('serror', 0xbe00_0000, v.pc);
    expect(v.pc).toBe(VBAR + 0x180);
    expect(el1(v).esr).toBe(0xbe00_0000);
  });
});
