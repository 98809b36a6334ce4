// The system-instruction filter (emulator/cpu/sysinsn-filter.ts, emulator/unicorn/native/
// sysinsn-filter.c): which encodings may skip JavaScript under which trap controls.
//
// Rules encoded here:
//  - Arm ARM DDI0487 D19.2.48 HCR_EL2: TVM traps writes and TRVM reads of the VM registers
//    (MAIR_EL1, CONTEXTIDR_EL1...), TID3 the ID group 3 registers (ID_AA64MMFR0_EL1), TDZ DC ZVA.
//    A register a set bit traps is never filtered; clearing the bit lets it run natively.
//  - An EL2 register (HCR_EL2) accessed at EL1 is UNDEFINED (D19.2 "HCR_EL2": accessible
//    from EL2 and EL3 only): never filtered, the hook raises the exception.
//  - The hook's own side effects stay: writes to the MMU model's inputs (SCTLR/TCR/TTBR/MAIR)
//    mark the regime dirty, TLBI reaches the model TLB, IC maintenance the code guard, counters
//    (CNTVCT_EL0) the generic timer model. None of them is ever filtered.
import { afterEach, describe, expect, it } from 'vitest';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import { sysregKey } from '../../emulator/cpu/sysreg-catalogue.js';
import { SysInsn } from '../../emulator/unicorn/uc.js';
import { Hypervisor, type HypervisorConfig } from '../../hyp/hypervisor.js';
import { HCR } from '../../hyp/hcr.js';

const BASE = 0x4000_0000;
const RAM_SIZE = 0x20_0000;

let open: Vcpu[] = [];
afterEach(() => {
  for (const v of open) v.close();
  open = [];
});

function machine(cfg: Partial<HypervisorConfig> | null) {
  const v = new Vcpu({ ramBase: BASE, ramSize: RAM_SIZE });
  open.push(v);
  const hyp = cfg === null ? null : new Hypervisor(cfg);
  hyp?.attach(v, { ram: { base: BASE, size: RAM_SIZE } });
  const passes = (kind: number, name: string): boolean => {
    const e = v.sysregs.byName(name);
    if (e === undefined) throw new Error(`no row ${name}`);
    return v.syncSysFilter().passes(kind, e.key);
  };
  return { v, hyp: hyp!, passes };
}

const setHcrBit = (hyp: Hypervisor, bit: number, on: boolean) => {
  const m = 1n << BigInt(bit);
  hyp.el2.hcr = on ? hyp.el2.hcr | m : hyp.el2.hcr & ~m;
};

describe('what the filter lets run natively', () => {
  it("Linux's hot instructions skip JavaScript under the default guest HCR_EL2", () => {
    const { passes } = machine({});
    expect(passes(SysInsn.MRS, 'SP_EL0')).toBe(true);
    expect(passes(SysInsn.MSR, 'SP_EL0')).toBe(true);
    expect(passes(SysInsn.MRS, 'TPIDR_EL1')).toBe(true);
    expect(passes(SysInsn.MRS, 'DAIF')).toBe(true);
    // CTR_EL0 (every cache maintenance loop) runs natively: the guest HCR_EL2 has TID4, not TID2.
    // CLIDR_EL1 is trapped by TID4 (the cache geometry comes from the feature set) and answered
    // on the EL2 fast path (hyp/fast-path.ts).
    expect(passes(SysInsn.MRS, 'CTR_EL0')).toBe(true);
    expect(passes(SysInsn.MRS, 'CLIDR_EL1')).toBe(false);
    expect(passes(SysInsn.MRS, 'DCZID_EL0')).toBe(true);
    expect(passes(SysInsn.SYS, 'DC_ZVA')).toBe(true);
    expect(passes(SysInsn.SYS, 'DC_CVAU')).toBe(true);
  });

  it('never: MMU-input writes, TLBI, IC maintenance, counters, EL2 registers, unknown encodings', () => {
    const { v, passes } = machine({});
    for (const name of ['SCTLR_EL1', 'TCR_EL1', 'TTBR0_EL1', 'TTBR1_EL1', 'MAIR_EL1']) expect(passes(SysInsn.MSR, name), name).toBe(false);
    // Reads of those have no side effect: native when no trap bit applies.
    expect(passes(SysInsn.MRS, 'SCTLR_EL1')).toBe(true);
    const tlb = v.sysregs.entries().filter((e) => e.group === 'TLB');
    expect(tlb.length).toBeGreaterThan(10);
    const f = v.syncSysFilter();
    for (const e of tlb) for (const k of [1, 2, 3, 4]) expect(f.passes(k, e.key), e.name).toBe(false);
    expect(passes(SysInsn.SYS, 'IC_IVAU')).toBe(false);
    expect(passes(SysInsn.MRS, 'CNTVCT_EL0')).toBe(false);
    expect(passes(SysInsn.MRS, 'HCR_EL2')).toBe(false);
    expect(passes(SysInsn.MRS, 'ID_AA64MMFR0_EL1')).toBe(false); // TID3 is in the default HCR_EL2
    // s3_0_c15_c2_7: IMPLEMENTATION DEFINED, not in the catalogue (seed 004: trapped, UNDEFINED).
    expect(f.passes(SysInsn.MRS, sysregKey({ op0: 3, op1: 0, crn: 15, crm: 2, op2: 7 }))).toBe(false);
  });

  it('seed 000 (--mair-mangle): MAIR_EL1 and the other VM registers still trap, reads and writes', () => {
    const { passes } = machine({ mairMangle: true });
    expect(passes(SysInsn.MRS, 'MAIR_EL1')).toBe(false);
    expect(passes(SysInsn.MSR, 'MAIR_EL1')).toBe(false);
    expect(passes(SysInsn.MRS, 'CONTEXTIDR_EL1')).toBe(false);
    expect(passes(SysInsn.MSR, 'CONTEXTIDR_EL1')).toBe(false);
    expect(passes(SysInsn.MRS, 'SP_EL0')).toBe(true);
  });

  it('follows HCR_EL2: TVM/TRVM, TID3 and TDZ set and cleared', () => {
    const { hyp, passes } = machine({});
    expect(passes(SysInsn.MSR, 'CONTEXTIDR_EL1')).toBe(true);
    setHcrBit(hyp, HCR.TVM, true);
    expect(passes(SysInsn.MSR, 'CONTEXTIDR_EL1')).toBe(false);
    expect(passes(SysInsn.MRS, 'CONTEXTIDR_EL1')).toBe(true);
    setHcrBit(hyp, HCR.TRVM, true);
    expect(passes(SysInsn.MRS, 'CONTEXTIDR_EL1')).toBe(false);
    setHcrBit(hyp, HCR.TVM, false);
    setHcrBit(hyp, HCR.TRVM, false);
    expect(passes(SysInsn.MSR, 'CONTEXTIDR_EL1')).toBe(true);
    setHcrBit(hyp, HCR.TID3, false);
    expect(passes(SysInsn.MRS, 'ID_AA64MMFR0_EL1')).toBe(true);
    setHcrBit(hyp, HCR.TDZ, true);
    expect(passes(SysInsn.SYS, 'DC_ZVA')).toBe(false);
  });

  it('with no EL2 model: the catalogue rules (EL2 registers UNDEFINED, device rows to the device)', () => {
    const { passes } = machine(null);
    expect(passes(SysInsn.MRS, 'SP_EL0')).toBe(true);
    expect(passes(SysInsn.MRS, 'HCR_EL2')).toBe(false);
    expect(passes(SysInsn.MRS, 'CNTVCT_EL0')).toBe(false);
    expect(passes(SysInsn.MSR, 'SCTLR_EL1')).toBe(false);
  });
});

// Instruction words (aarch64-linux-gnu-as).
const A64 = {
  msrContextidrX6: 0xd518d026, // msr contextidr_el1, x6
  mrsSpEl0X7: 0xd5384107, // mrs x7, sp_el0
};

describe('on real code (through the native filter when built)', () => {
  it.skipIf(process.env.HYPEMU_SYSINSN_FILTER === 'off')('the native filter is loaded after npm run setup', () => {
    const { v } = machine({});
    expect(v.uc.hasNativeSysInsnFilter).toBe(true);
  });

  it('trap controls changed between runs take effect at once: CONTEXTIDR_EL1 traps under TVM, runs natively without', () => {
    const { v, hyp } = machine({ mairMangle: true });
    // A loop: msr contextidr_el1, x6; mrs x7, sp_el0; b .-8
    const code = [A64.msrContextidrX6, A64.mrsSpEl0X7, 0x17fffffe];
    code.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
    v.pc = BASE;
    v.setX(6, 0x42n);
    expect(v.runFor(30)).toBeNull(); // 10 iterations
    const t = hyp.stats.sysregTraps;
    expect(t.CONTEXTIDR_EL1).toMatchObject({ writes: 10 });
    expect(t.SP_EL0).toBeUndefined();
    // The host drops TVM/TRVM (as seed 002 does after SCTLR_EL1.M): no more exits.
    setHcrBit(hyp, HCR.TVM, false);
    setHcrBit(hyp, HCR.TRVM, false);
    const exits = hyp.stats.exits.total;
    v.setX(6, 0x43n);
    expect(v.runFor(30)).toBeNull();
    expect(t.CONTEXTIDR_EL1).toMatchObject({ writes: 10 });
    expect(hyp.stats.exits.total).toBe(exits);
    expect(v.sysreg(v.sysregs.byName('CONTEXTIDR_EL1')!)).toBe(0x43n);
    // And back: set TVM again, the very next write traps.
    setHcrBit(hyp, HCR.TVM, true);
    expect(v.runFor(30)).toBeNull();
    expect(t.CONTEXTIDR_EL1).toMatchObject({ writes: 20 });
  });
});
