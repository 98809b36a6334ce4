/**
 * Hypervisor statistics with stable field names (they are the stats JSON
 * contract): exits by reason and by tier, system-register traps by register,
 * cost in host nanoseconds and in modelled cycles, stage-2 activity.
 */
import type { ExitReason } from '../emulator/cpu/exits.js';

export interface SysregTrapCount {
  reads: number;
  writes: number;
  fastPath: number;
  worldSwitch: number;
}

/** Counts by exit reason; `debug` only once there was one. */
export type ReasonCounts = Record<Exclude<ExitReason, 'debug'>, number> & { debug?: number };

export class HypStats {
  readonly exits = {
    total: 0,
    // 'debug' (MDCR_EL2.TDE) appears once such an exit happened: the stats of every run without
    // one keep their fields (golden runs compare them).
    byReason: { sysreg: 0, hvc: 0, smc: 0, dabt_s2: 0, iabt_s2: 0, wfx: 0, irq: 0 } as ReasonCounts,
    fastPath: 0,
    worldSwitch: 0,
    /** Exits that went on to the user-space device model (MMIO). */
    userspace: 0,
  };
  readonly sysregTraps: Record<string, SysregTrapCount> = {};
  readonly cost = {
    hostNs: 0,
    modelCycles: 0,
    byReason: { sysreg: 0, hvc: 0, smc: 0, dabt_s2: 0, iabt_s2: 0, wfx: 0, irq: 0 } as ReasonCounts,
  };
  readonly stage2 = { faults: 0, mappedPages: 0, mappedBytes: 0, unmaps: 0, tlbiIpa: 0 };
  /** MMIO accesses: emulated from the ISV syndrome, emulated by decoding the instruction (ISV = 0), or an external abort to the guest. */
  readonly mmio = { syndrome: 0, decoded: 0, externalAborts: 0 };
  readonly unknownSysregs: Record<string, number> = {};

  sysreg(name: string): SysregTrapCount {
    return (this.sysregTraps[name] ??= { reads: 0, writes: 0, fastPath: 0, worldSwitch: 0 });
  }
}
