// PSCI 1.1 (Arm DEN0022) and SMCCC 1.1 (Arm DEN0028) through the hypercall table.
import { describe, expect, it } from 'vitest';
import { FN, hypercall, PSCI_RET } from '../../hyp/hypercalls.js';

const call = (fn: number, a1 = 0n, a2 = 0n, a3 = 0n) => hypercall({ args: [BigInt(fn), a1, a2, a3], mpidr: 0n });
const x0 = (fn: number, a1 = 0n, a2 = 0n) => {
  const r = call(fn, a1, a2);
  if (r.kind !== 'return') throw new Error(`expected a return from 0x${fn.toString(16)}`);
  return BigInt.asIntN(64, r.x0);
};

describe('PSCI', () => {
  it('PSCI_VERSION is 1.1 (major 1 in [31:16], minor 1 in [15:0])', () => {
    expect(x0(FN.PSCI_VERSION)).toBe(0x1_0001n);
  });
  it('PSCI_FEATURES: implemented functions return 0, others NOT_SUPPORTED', () => {
    for (const f of [FN.PSCI_VERSION, FN.CPU_ON_64, FN.CPU_OFF, FN.AFFINITY_INFO_64, FN.SYSTEM_OFF, FN.SYSTEM_RESET, FN.MIGRATE_INFO_TYPE, FN.PSCI_FEATURES]) {
      expect(x0(FN.PSCI_FEATURES, BigInt(f))).toBe(0n);
    }
    expect(x0(FN.PSCI_FEATURES, BigInt(FN.CPU_SUSPEND_64))).toBe(-1n);
    // SMCCC_VERSION is discovered through PSCI_FEATURES (DEN0028 7.2): Linux then reports SMCCC v1.1.
    expect(x0(FN.PSCI_FEATURES, BigInt(FN.SMCCC_VERSION))).toBe(0n);
    expect(x0(FN.PSCI_FEATURES, 0x8400_00ffn)).toBe(-1n);
  });
  it('CPU_ON for the running CPU is ALREADY_ON; for a CPU that does not exist INVALID_PARAMETERS', () => {
    expect(x0(FN.CPU_ON_64, 0n)).toBe(BigInt(PSCI_RET.ALREADY_ON));
    expect(x0(FN.CPU_ON_64, 1n)).toBe(BigInt(PSCI_RET.INVALID_PARAMETERS));
  });
  it('AFFINITY_INFO of CPU 0 at level 0 is ON (0)', () => {
    expect(x0(FN.AFFINITY_INFO_64, 0n, 0n)).toBe(0n);
  });
  it('MIGRATE_INFO_TYPE is 2: no Trusted OS, migration not required', () => {
    expect(x0(FN.MIGRATE_INFO_TYPE)).toBe(2n);
  });
  it('SYSTEM_OFF and SYSTEM_RESET end the run', () => {
    expect(call(FN.SYSTEM_OFF)).toEqual({ kind: 'halt', halt: { kind: 'system-off' } });
    expect(call(FN.SYSTEM_RESET)).toEqual({ kind: 'halt', halt: { kind: 'system-reset' } });
  });
});

describe('SMCCC', () => {
  it('SMCCC_VERSION is 1.1', () => {
    expect(x0(FN.SMCCC_VERSION)).toBe(0x1_0001n);
  });
  it('SMCCC_ARCH_FEATURES: unknown ids are NOT_SUPPORTED', () => {
    expect(x0(FN.SMCCC_ARCH_FEATURES, 0x8000_8000n)).toBe(-1n);
  });
  it('unknown function ids return -1 (NOT_SUPPORTED) in X0', () => {
    expect(x0(0x8600_0000)).toBe(-1n);
    expect(x0(0xc200_1234)).toBe(-1n);
  });
  it('only W0 selects the function (upper half of X0 ignored, SMCCC 1.1 section 2.5)', () => {
    const r = hypercall({ args: [0xdead_beef_0000_0000n | BigInt(FN.PSCI_VERSION), 0n, 0n, 0n], mpidr: 0n });
    expect(r).toEqual({ kind: 'return', x0: 0x1_0001n });
  });
});

describe('hypemu vendor call 0xC600_0001', () => {
  it('ends the run with X1 as the exit status', () => {
    expect(call(FN.HYPEMU_EXIT, 3n)).toEqual({ kind: 'halt', halt: { kind: 'guest-exit', status: 3 } });
  });
});
