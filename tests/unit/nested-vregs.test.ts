// The guest hypervisor's virtual EL2 register file and how its EL2 regime runs on the EL1
// registers (Arm ARM D19.2/D23.2: TCR_EL2, TCR_EL1, SCTLR_EL2, SCTLR_EL1 register descriptions).
import { describe, expect, it } from 'vitest';
import { el2RegName, l2El1Index, sctlrEl2ToEl1, tcrEl2ToEl1, VirtualEl2, KEY_CURRENT_EL, KEY_SP_EL1, L2_EL1_CONTEXT } from '../../hyp/nested/vregs.js';
import { routeVel2SysInsn, type Vel2SysState } from '../../hyp/nested/vel2-sysinsn.js';
import type { GuestCpu } from '../../emulator/cpu/guest-cpu.js';
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';
import { NestedVirt } from '../../hyp/nested/nested.js';

const key = (op1: number, crn: number, crm: number, op2: number) => sysregKey({ op0: 3, op1, crn, crm, op2 });

describe('virtual EL2 register file', () => {
  it('names EL2 registers by encoding (op0 3, op1 4)', () => {
    expect(el2RegName(key(4, 1, 1, 0))).toBe('HCR_EL2');
    expect(el2RegName(key(4, 2, 1, 0))).toBe('VTTBR_EL2');
    expect(el2RegName(key(4, 2, 1, 2))).toBe('VTCR_EL2');
    expect(el2RegName(key(4, 12, 0, 0))).toBe('VBAR_EL2');
    expect(el2RegName(key(4, 6, 0, 4))).toBe('HPFAR_EL2');
    expect(el2RegName(key(4, 4, 0, 1))).toBe('ELR_EL2');
    expect(el2RegName(key(0, 1, 0, 0))).toBeUndefined(); // SCTLR_EL1
    expect(KEY_SP_EL1).toBe(key(4, 4, 1, 0));
    expect(KEY_CURRENT_EL).toBe(key(0, 4, 2, 2));
  });

  it('resets SCTLR_EL2 to its RES1 bits (E2H = 0) and everything else to 0', () => {
    const v = new VirtualEl2();
    expect(v.get('SCTLR_EL2')).toBe(0x30c5_0830n);
    expect(v.get('HCR_EL2')).toBe(0n);
    v.set('HCR_EL2', (1n << 26n) | 1n);
    expect(v.hcr(26)).toBe(true);
    expect(v.hcr(27)).toBe(false);
  });

  it("keeps L2's EL1 context (the EL1 registers L1 programs at virtual EL2)", () => {
    expect(l2El1Index(sysregKey(SR.MAIR_EL1))).toBeGreaterThanOrEqual(0);
    expect(l2El1Index(sysregKey(SR.ELR_EL1))).toBeGreaterThanOrEqual(0);
    expect(l2El1Index(sysregKey(SR.SCTLR_EL1))).toBeGreaterThanOrEqual(0);
    expect(l2El1Index(key(3, 14, 3, 1))).toBe(-1); // CNTV_CTL_EL0: the timer stays on the CPU
  });
});

describe("L1's EL2 regime on the EL1 registers", () => {
  it('TCR_EL2 -> TCR_EL1: T0SZ/IRGN0/ORGN0/SH0/TG0 in place, PS -> IPS, TBI -> TBI0, EPD1 set', () => {
    const tcr = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (2n << 14n) | (5n << 16n) | (1n << 20n);
    const el1 = tcrEl2ToEl1(tcr);
    expect(el1 & 0xffffn).toBe(tcr & 0xffffn);
    expect((el1 >> 32n) & 7n).toBe(5n);
    expect((el1 >> 37n) & 1n).toBe(1n);
    expect((el1 >> 23n) & 1n).toBe(1n);
    expect((el1 >> 16n) & 0x3fn).toBe(0n); // T1SZ unused
  });

  it('SCTLR_EL2 -> SCTLR_EL1: M, A, C, SA, I, WXN, EE kept; SPAN set so entry never sets PAN', () => {
    const el1 = sctlrEl2ToEl1(0x30c5_0830n | 1n | (1n << 2n) | (1n << 12n));
    expect(el1 & 1n).toBe(1n);
    expect((el1 >> 2n) & 1n).toBe(1n);
    expect((el1 >> 12n) & 1n).toBe(1n);
    expect((el1 >> 23n) & 1n).toBe(1n);
    expect(sctlrEl2ToEl1(0x30c5_0830n) & 1n).toBe(0n); // reset: MMU off
  });
});

describe('code sites a guest hypervisor needs hooked', () => {
  it('ERET and system instructions with op0 != 0 (MSR/MRS/SYS), not hints or barriers', () => {
    expect(NestedVirt.hooksWord(0xd69f03e0)).toBe(true); // ERET
    expect(NestedVirt.hooksWord(0xd518a205)).toBe(true); // MSR MAIR_EL1, X5
    expect(NestedVirt.hooksWord(0xd53800a0)).toBe(true); // MRS X0, MPIDR_EL1
    expect(NestedVirt.hooksWord(0xd508871f)).toBe(true); // TLBI VMALLE1 (SYS, op0 1)
    expect(NestedVirt.hooksWord(0xd503201f)).toBe(false); // NOP
    expect(NestedVirt.hooksWord(0xd5033f9f)).toBe(false); // DSB SY
    expect(NestedVirt.hooksWord(0xd4000002)).toBe(false); // HVC #0 (arrives as an exit)
  });
});

describe('system instructions at virtual EL2 (vel2-sysinsn.ts)', () => {
  /** A guest CPU that only records what the emulation does to it. */
  const world = () => {
    const x: bigint[] = Array.from({ length: 32 }, () => 0n);
    const cpu = { pc: 0, setX: (n: number, v: bigint) => (x[n] = v), flushTlb: () => {} } as unknown as GuestCpu;
    let undef = -1;
    let regime = 0;
    const vel2 = new VirtualEl2();
    const n: Vel2SysState = {
      vel2,
      l2El1: L2_EL1_CONTEXT.map(() => 0n),
      stats: { exitsToL1: {}, erets: 0, vel2Sysregs: 0, vel2Undefined: 0, unknownEl2: {} },
      warned: new Set(),
      spEl1: () => 0n,
      setSpEl1: () => {},
      tlbi: () => {},
      at: () => null,
      undefinedAt: (pc) => (undef = pc),
      regimeChanged: () => regime++,
      charge: () => {},
    };
    const access = (op1: number, crn: number, crm: number, op2: number, read: boolean, value = 0n) =>
      routeVel2SysInsn(n, cpu, { op0: 3, op1, crn, crm, op2, rt: 1, read, value, pc: 0x1000, el: 1 });
    return { x, cpu, n, vel2, access, undef: () => undef, regime: () => regime };
  };
  it('HCR_EL2.E2H is RES0 (non-VHE guest hypervisors only): written 1, reads 0; the other bits stay', () => {
    const w = world();
    expect(w.access(4, 1, 1, 0, false, (1n << 34n) | (1n << 31n) | 1n)?.route).toBe('handled');
    expect(w.access(4, 1, 1, 0, true)?.route).toBe('handled');
    expect(w.x[1]).toBe((1n << 31n) | 1n);
    expect(w.cpu.pc).toBe(0x1004);
  });
  it('CurrentEL reads EL2; *_EL12 registers are UNDEFINED (E2H = 0); a TCR_EL2 write reloads the regime', () => {
    const w = world();
    w.access(0, 4, 2, 2, true);
    expect(w.x[1]).toBe(8n);
    expect(w.access(5, 1, 0, 0, true)?.route).toBe('handled'); // SCTLR_EL12
    expect(w.undef()).toBe(0x1000);
    expect(w.n.stats.vel2Undefined).toBe(1);
    w.access(4, 2, 0, 2, false, 0x80803520n); // TCR_EL2
    expect(w.regime()).toBe(1);
  });
});
