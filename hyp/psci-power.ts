/**
 * PSCI power state of a VM's vCPUs (Arm DEN0022 PSCI 1.1, 5.1.4 CPU_ON, 5.1.3 CPU_OFF, 5.1.5
 * AFFINITY_INFO, 5.1.2 CPU_SUSPEND), as KVM's arch/arm64/kvm/psci.c keeps it: vCPU 0 starts on,
 * the others off until CPU_ON. The hypercall layer asks this model what to return; the machine
 * does what it says (start a vCPU at an entry point with x0 = context, stop one, idle one).
 *
 * MPIDR affinity of vCPU i is QEMU virt's: Aff0 = i % 16, Aff1 = i / 16 (virtMpidrAffinity).
 */
import { FN, PSCI_RET } from './hypercalls.js';
import { applyState, captureState, SnapshotFormatError, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../emulator/snapshot/state.js';

/** PSCI return codes beyond those hypercalls.ts needs for one vCPU (DEN0022 5.2.2). */
export const PSCI_RET_SMP = { ...PSCI_RET, ON_PENDING: -5, INVALID_ADDRESS: -9 } as const;

/** AFFINITY_INFO results (DEN0022 5.1.5). */
export const AFFINITY = { ON: 0, OFF: 1, ON_PENDING: 2 } as const;

export type PowerState = 'on' | 'off' | 'on-pending';

/** What the machine must do after a PSCI call. */
export type PowerAction =
  | { kind: 'none' }
  /** Start vCPU `cpu` at `entry` (EL1h, MMU and caches off, DAIF masked) with x0 = `context`. */
  | { kind: 'start'; cpu: number; entry: bigint; context: bigint }
  /** Stop the calling vCPU (it stays off until another CPU_ON). */
  | { kind: 'stop'; cpu: number }
  /** CPU_SUSPEND: the caller waits as in WFI until an interrupt (KVM's standby-only treatment). */
  | { kind: 'suspend'; cpu: number };

export interface PsciOutcome {
  /** X0 for the caller (unused for a successful CPU_OFF: it does not return). */
  readonly ret: number;
  readonly action: PowerAction;
}

const AFF_MASK = 0xff_00ff_ffffn;
const NONE: PowerAction = Object.freeze({ kind: 'none' });

export function mpidrAffinity(cpu: number): bigint {
  return BigInt(((cpu >> 4) << 8) | (cpu & 0xf));
}

export class PsciPower implements Snapshottable {
  private readonly states: PowerState[];

  /** Machine snapshots: each vCPU's power state (on, off, or on-pending: a CPU_ON not yet started). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    const n = this.cpus;
    applyState(this, state, ctx, 'PsciPower');
    if (this.cpus !== n || this.states.length !== n) throw new SnapshotFormatError(`PSCI: the snapshot has ${this.states.length} vCPUs, this machine ${n}`);
  }

  constructor(readonly cpus: number) {
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 8) throw new RangeError('--smp: 1 to 8 vCPUs');
    this.states = Array.from({ length: cpus }, (_, i) => (i === 0 ? 'on' : 'off'));
  }

  state(cpu: number): PowerState {
    return this.states[cpu]!;
  }

  /** The vCPU an MPIDR names (affinity fields only), or -1. */
  cpuOf(mpidr: bigint): number {
    const aff = mpidr & AFF_MASK;
    for (let i = 0; i < this.cpus; i++) if (mpidrAffinity(i) === aff) return i;
    return -1;
  }

  /** CPU_ON(target, entry, context). The target is on-pending until the machine reports it started. */
  cpuOn(target: bigint, entry: bigint, context: bigint): PsciOutcome {
    const cpu = this.cpuOf(target);
    if (cpu < 0) return { ret: PSCI_RET_SMP.INVALID_PARAMETERS, action: NONE };
    const s = this.states[cpu]!;
    if (s === 'on') return { ret: PSCI_RET_SMP.ALREADY_ON, action: NONE };
    if (s === 'on-pending') return { ret: PSCI_RET_SMP.ON_PENDING, action: NONE };
    // A64 entry points are 4-byte aligned (DEN0022 5.1.4: INVALID_ADDRESS).
    if ((entry & 3n) !== 0n) return { ret: PSCI_RET_SMP.INVALID_ADDRESS, action: NONE };
    this.states[cpu] = 'on-pending';
    return { ret: PSCI_RET_SMP.SUCCESS, action: { kind: 'start', cpu, entry, context } };
  }

  /** The machine started a CPU_ON target: it is on. */
  started(cpu: number): void {
    this.states[cpu] = 'on';
  }

  /** CPU_OFF from `caller`. The last vCPU on may turn itself off too (the machine then has nothing to run). */
  cpuOff(caller: number): PsciOutcome {
    this.states[caller] = 'off';
    return { ret: PSCI_RET_SMP.SUCCESS, action: { kind: 'stop', cpu: caller } };
  }

  /** AFFINITY_INFO(target, lowest level): level 0 only (DEN0022 5.1.5; higher levels: INVALID_PARAMETERS as KVM). */
  affinityInfo(target: bigint, level: bigint): PsciOutcome {
    if (level !== 0n) return { ret: PSCI_RET_SMP.INVALID_PARAMETERS, action: NONE };
    const cpu = this.cpuOf(target);
    if (cpu < 0) return { ret: PSCI_RET_SMP.INVALID_PARAMETERS, action: NONE };
    const s = this.states[cpu]!;
    return { ret: s === 'on' ? AFFINITY.ON : s === 'off' ? AFFINITY.OFF : AFFINITY.ON_PENDING, action: NONE };
  }

  /** CPU_SUSPEND: every power state is treated as standby (KVM: "wfi-like"), returning SUCCESS on wake-up. */
  cpuSuspend(caller: number): PsciOutcome {
    return { ret: PSCI_RET_SMP.SUCCESS, action: { kind: 'suspend', cpu: caller } };
  }

  /** Number of vCPUs on (for statistics and `nproc`-style checks). */
  onlineCount(): number {
    return this.states.filter((s) => s === 'on').length;
  }
}

/**
 * The PSCI calls that concern other vCPUs (DEN0022 5.1.2-5.1.5), for vCPU `caller`: the value
 * for X0 and what the machine must do, or null for any other function (the ordinary hypercall
 * table answers it). SMC32 forms take 32-bit arguments (DEN0028 2.5: the upper halves are ignored).
 */
export function psciSmpCall(power: PsciPower, caller: number, args: readonly [bigint, bigint, bigint, bigint]): PsciOutcome | null {
  const fn = Number(args[0] & 0xffff_ffffn);
  const w = (v: bigint): bigint => (fn & 0x4000_0000 ? v : v & 0xffff_ffffn);
  switch (fn) {
    case FN.CPU_ON_32:
    case FN.CPU_ON_64:
      return power.cpuOn(w(args[1]), w(args[2]), w(args[3]));
    case FN.CPU_OFF:
      return power.cpuOff(caller);
    case FN.AFFINITY_INFO_32:
    case FN.AFFINITY_INFO_64:
      return power.affinityInfo(w(args[1]), w(args[2]));
    case FN.CPU_SUSPEND_32:
    case FN.CPU_SUSPEND_64:
      return power.cpuSuspend(caller);
    default:
      return null;
  }
}
