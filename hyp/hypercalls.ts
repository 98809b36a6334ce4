/**
 * Hypercalls the guest makes with HVC (or SMC, when HCR_EL2.TSC traps it):
 * Arm SMC Calling Convention (DEN0028) function ids in W0, arguments in X1-X3,
 * results in X0. PSCI 1.1 (DEN0022) and SMCCC 1.1 discovery, plus one vendor
 * call that ends the run with a status, for test guests.
 */
import type { HaltReason } from '../emulator/cpu/exits.js';

export const FN = {
  SMCCC_VERSION: 0x8000_0000,
  SMCCC_ARCH_FEATURES: 0x8000_0001,
  PSCI_VERSION: 0x8400_0000,
  CPU_SUSPEND_32: 0x8400_0001,
  CPU_SUSPEND_64: 0xc400_0001,
  CPU_OFF: 0x8400_0002,
  CPU_ON_32: 0x8400_0003,
  CPU_ON_64: 0xc400_0003,
  AFFINITY_INFO_32: 0x8400_0004,
  AFFINITY_INFO_64: 0xc400_0004,
  MIGRATE_INFO_TYPE: 0x8400_0006,
  SYSTEM_OFF: 0x8400_0008,
  SYSTEM_RESET: 0x8400_0009,
  PSCI_FEATURES: 0x8400_000a,
  /** hypemu vendor call (Standard Hypervisor Service range): exit with status X1. */
  HYPEMU_EXIT: 0xc600_0001,
} as const;

/** PSCI return codes (DEN0022 5.2.2), as signed values. */
export const PSCI_RET = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMETERS: -2,
  DENIED: -3,
  ALREADY_ON: -4,
} as const;

/** PSCI 1.1 and SMCCC 1.1, encoded major << 16 | minor. */
export const PSCI_VERSION_1_1 = 0x1_0001;
export const SMCCC_VERSION_1_1 = 0x1_0001;

export interface HypercallContext {
  /** X0..X3 at the call. */
  readonly args: readonly [bigint, bigint, bigint, bigint];
  /** MPIDR affinity of the calling vCPU (single vCPU: 0). */
  readonly mpidr: bigint;
}

/** The result: values for X0 (and optionally X1-X3), or the end of the run. */
export type HypercallResult = { kind: 'return'; x0: bigint } | { kind: 'halt'; halt: HaltReason };

const ret = (v: number | bigint): HypercallResult => ({ kind: 'return', x0: BigInt.asUintN(64, BigInt(v)) });

interface HypercallRow {
  readonly name: string;
  /**
   * Reported as implemented by PSCI_FEATURES: the PSCI functions, and
   * SMCCC_VERSION, which callers discover that way (DEN0022 5.1.16, DEN0028 7.2).
   */
  readonly psci?: true;
  readonly call: (ctx: HypercallContext) => HypercallResult;
}

/** Function id → handler: one row per call, as KVM's hypercalls.c switch, written as data. */
const TABLE: Map<number, HypercallRow> = new Map<number, HypercallRow>([
  [FN.SMCCC_VERSION, { name: 'SMCCC_VERSION', psci: true, call: () => ret(SMCCC_VERSION_1_1) }],
  [
    FN.SMCCC_ARCH_FEATURES,
    {
      name: 'SMCCC_ARCH_FEATURES',
      // Only discovery of SMCCC_VERSION/ARCH_FEATURES themselves is supported;
      // the Spectre workaround calls are not implemented (NOT_SUPPORTED), as
      // on a CPU that does not need them.
      call: ({ args }) => ret(Number(args[1] & 0xffff_ffffn) === FN.SMCCC_ARCH_FEATURES ? 0 : PSCI_RET.NOT_SUPPORTED),
    },
  ],
  [FN.PSCI_VERSION, { name: 'PSCI_VERSION', psci: true, call: () => ret(PSCI_VERSION_1_1) }],
  [
    FN.PSCI_FEATURES,
    {
      name: 'PSCI_FEATURES',
      psci: true,
      call: ({ args }): HypercallResult => {
        const id = Number(args[1] & 0xffff_ffffn);
        // CPU_SUSPEND is not offered: a single vCPU has nothing to suspend into.
        return ret(TABLE.get(id)?.psci ? 0 : PSCI_RET.NOT_SUPPORTED);
      },
    },
  ],
  [FN.MIGRATE_INFO_TYPE, { name: 'MIGRATE_INFO_TYPE', psci: true, call: () => ret(2) /* no Trusted OS: migration not required */ }],
  [FN.CPU_ON_32, { name: 'CPU_ON', psci: true, call: (c) => cpuOn(c) }],
  [FN.CPU_ON_64, { name: 'CPU_ON', psci: true, call: (c) => cpuOn(c) }],
  [FN.AFFINITY_INFO_32, { name: 'AFFINITY_INFO', psci: true, call: (c) => affinityInfo(c) }],
  [FN.AFFINITY_INFO_64, { name: 'AFFINITY_INFO', psci: true, call: (c) => affinityInfo(c) }],
  // Turning off the only vCPU leaves nothing to run: the system is off.
  [FN.CPU_OFF, { name: 'CPU_OFF', psci: true, call: () => ({ kind: 'halt', halt: { kind: 'system-off' } }) }],
  [FN.SYSTEM_OFF, { name: 'SYSTEM_OFF', psci: true, call: () => ({ kind: 'halt', halt: { kind: 'system-off' } }) }],
  [FN.SYSTEM_RESET, { name: 'SYSTEM_RESET', psci: true, call: () => ({ kind: 'halt', halt: { kind: 'system-reset' } }) }],
  [
    FN.HYPEMU_EXIT,
    {
      name: 'HYPEMU_EXIT',
      call: ({ args }) => ({ kind: 'halt', halt: { kind: 'guest-exit', status: Number(args[1] & 0xffn) } }),
    },
  ],
]);

/** Single vCPU: CPU 0 is on; any other target does not exist. */
function cpuOn({ args, mpidr }: HypercallContext): HypercallResult {
  return ret((args[1] & 0xff_00ff_ffffn) === mpidr ? PSCI_RET.ALREADY_ON : PSCI_RET.INVALID_PARAMETERS);
}

function affinityInfo({ args, mpidr }: HypercallContext): HypercallResult {
  // Level 0 only; 0 = ON (DEN0022 5.7.2).
  if (args[2] !== 0n) return ret(PSCI_RET.INVALID_PARAMETERS);
  return ret((args[1] & 0xff_00ff_ffffn) === mpidr ? 0 : PSCI_RET.INVALID_PARAMETERS);
}

/** Dispatch one call. Unknown function ids return NOT_SUPPORTED (-1) in X0, per SMCCC. */
export function hypercall(ctx: HypercallContext): HypercallResult {
  const fn = Number(ctx.args[0] & 0xffff_ffffn);
  const row = TABLE.get(fn);
  return row ? row.call(ctx) : ret(PSCI_RET.NOT_SUPPORTED);
}
