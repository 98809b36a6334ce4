// ESR_ELx encodings, Arm ARM DDI0487 D17.2.37 (ESR_EL1) / D17.2.38 (ESR_EL2).
import { describe, expect, it } from 'vitest';
import {
  EC,
  esr,
  esrEc,
  esrIss,
  issSysreg,
  decodeIssSysreg,
  issDataAbort,
  issInstructionAbort,
  issWfx,
  FSC,
  describeEsr,
} from '../../emulator/cpu/esr.js';

describe('ESR layout: EC [31:26], IL [25], ISS [24:0]', () => {
  it('SVC #0x42 from AArch64 is EC 0x15 with imm16 in ISS', () => {
    expect(esr(EC.SVC64, 0x42)).toBe(0x5600_0042);
    expect(esrEc(0x5600_0042)).toBe(0x15);
    expect(esrIss(0x5600_0042)).toBe(0x42);
  });
  it('HVC, SMC and BRK carry imm16', () => {
    expect(esr(EC.HVC64, 0xffff)).toBe(0x5a00_ffff);
    expect(esr(EC.SMC64, 1)).toBe(0x5e00_0001);
    expect(esr(EC.BRK64, 0x3e8)).toBe(0xf200_03e8);
  });
  it('an UNDEFINED instruction is EC 0 with IL = 1 and ISS = 0', () => {
    expect(esr(EC.UNKNOWN, 0)).toBe(0x0200_0000);
  });
  it('IL = 0 is representable (16-bit T32, never produced for A64)', () => {
    expect(esr(EC.SVC64, 0, false)).toBe(0x5400_0000);
  });
});

describe('EC 0x18 ISS: Op0 [21:20] Op2 [19:17] Op1 [16:14] CRn [13:10] Rt [9:5] CRm [4:1] Dir [0]', () => {
  it('MSR MAIR_EL1, x3 (op0=3 op1=0 CRn=10 CRm=2 op2=0) is a write', () => {
    const iss = issSysreg({ op0: 3, op1: 0, crn: 10, crm: 2, op2: 0, rt: 3, read: false });
    expect(iss).toBe((3 << 20) | (10 << 10) | (3 << 5) | (2 << 1));
    expect(esr(EC.SYS64, iss)).toBe(0x6230_2864);
  });
  it('MRS x0, CTR_EL0 (op0=3 op1=3 CRn=0 CRm=0 op2=1) sets Direction', () => {
    const iss = issSysreg({ op0: 3, op1: 3, crn: 0, crm: 0, op2: 1, rt: 0, read: true });
    expect(iss & 1).toBe(1);
    expect(decodeIssSysreg(iss)).toEqual({ op0: 3, op1: 3, crn: 0, crm: 0, op2: 1, rt: 0, read: true });
  });
  it('round-trips every field at its extreme', () => {
    const f = { op0: 3, op1: 7, crn: 15, crm: 15, op2: 7, rt: 31, read: true };
    expect(issSysreg(f)).toBe(0x3f_ffff);
    expect(decodeIssSysreg(0x3f_ffff)).toEqual(f);
  });
});

describe('data and instruction abort ISS (D17.2.37, EC 0x24/0x25 and 0x20/0x21)', () => {
  it('DFSC codes: translation 0b0001LL, access flag 0b0010LL, permission 0b0011LL', () => {
    expect(FSC.translation(3)).toBe(0x07);
    expect(FSC.accessFlag(1)).toBe(0x09);
    expect(FSC.permission(2)).toBe(0x0e);
    expect(FSC.externalOnWalk(0)).toBe(0x14);
    expect(FSC.external()).toBe(0x10);
  });
  it('WnR [6], S1PTW [7], CM [8]', () => {
    expect(issDataAbort({ fsc: 0x07, wnr: true })).toBe(0x47);
    expect(issDataAbort({ fsc: 0x07, s1ptw: true })).toBe(0x87);
    expect(issDataAbort({ fsc: 0x07, cm: true })).toBe(0x147); // CM forces WnR = 1
  });
  it('ISV [24] with SAS [23:22], SSE [21], SRT [20:16], SF [15], AR [14]', () => {
    const iss = issDataAbort({ fsc: 0x06, wnr: false, isv: { sas: 2, sse: true, srt: 5, sf: false, ar: true } });
    expect(iss).toBe((1 << 24) | (2 << 22) | (1 << 21) | (5 << 16) | (1 << 14) | 0x06);
  });
  it('instruction aborts have no WnR', () => {
    expect(issInstructionAbort({ fsc: 0x0f, s1ptw: true })).toBe(0x8f);
  });
});

describe('WFx ISS (EC 0x01): CV = 1, COND = 0b1110, TI [1:0]', () => {
  it('WFI is TI = 00, WFE is TI = 01', () => {
    expect(esr(EC.WFX, issWfx(false))).toBe(0x07e0_0000);
    expect(esr(EC.WFX, issWfx(true))).toBe(0x07e0_0001);
  });
});

describe('describeEsr', () => {
  it('names the class and the interesting fields', () => {
    expect(describeEsr(0x5600_0042)).toBe('svc64 #0x42');
    expect(describeEsr(esr(EC.DABT_LOW, issDataAbort({ fsc: 0x07, wnr: true })))).toBe('dabt_low fsc=0x7 write');
  });
});
