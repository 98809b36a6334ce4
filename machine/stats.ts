/**
 * The statistics object: what `--stats-json` writes and Machine.stats() returns. Its field names
 * and order are a contract (README "stats JSON"): change them only with the README.
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import type { WalkReport } from '../emulator/mmu/walk-report.js';
import { NS_PER_INSN } from '../emulator/cpu/vcpu.js';
import type { RunEnd } from './exit-status.js';
import type { ExceptionCounters } from '../emulator/cpu/vcpu.js';
import type { HypStats } from '../hyp/stats.js';

/**
 * The statistics object (README, "stats JSON"). The hypervisor's configuration and EL2 register
 * file (`hyp`) are typed loosely: their contents follow hyp/ and its options.
 */
export interface MachineStats {
  image: string;
  halt: RunEnd | null;
  instructions: number;
  virtualTimeNs: number;
  idleNs: number;
  /** The part of idleNs warped by counter polling, and how many reads warped (README: virtual time). */
  counterWarp: { ns: number; reads: number };
  exceptions: ExceptionCounters;
  exits: HypStats['exits'];
  sysregTraps: HypStats['sysregTraps'];
  cost: HypStats['cost'];
  stage2: HypStats['stage2'] & { tablePages: number; vmid: number; mapping: string };
  unknownSysregs: HypStats['unknownSysregs'];
  hyp: Record<string, unknown>;
  tlb: {
    fills: number;
    refused: number;
    modelFills: number;
    modelHits: number;
    flushes: number;
    guestTlbi: number;
    faults: Record<string, number[]>;
    faultsByStage: { stage1: number; stage2: number };
  };
  host: { wallNs: number; mips: number };
  walks?: Record<string, WalkReport>;
  [more: string]: unknown;
}

export function collectStats(
  board: VirtMachine,
  hyp: Hypervisor,
  o: { imageName: string; halt: RunEnd | null; hostNs: number; walks: Record<string, WalkReport> | null },
): MachineStats {
  const vcpu = board.vcpu;
  const tlb = vcpu.translator.tlb.stats;
  const stats = {
    image: o.imageName,
    halt: o.halt,
    instructions: vcpu.instructions,
    // Instructions plus the time skipped while idle in WFI (see README: virtual time).
    virtualTimeNs: vcpu.instructions * NS_PER_INSN + vcpu.idleNs,
    idleNs: vcpu.idleNs,
    counterWarp: { ns: vcpu.warpNs, reads: vcpu.warps },
    exceptions: vcpu.exceptions,
    ...hyp.toJSON(),
    tlb: {
      fills: vcpu.fills,
      refused: vcpu.refusedFills,
      modelFills: tlb.fills,
      modelHits: tlb.hits,
      flushes: vcpu.tlbFlushes,
      guestTlbi: vcpu.tlbiCount,
      faults: tlb.faults,
      faultsByStage: { stage1: tlb.faultsByStage[1], stage2: tlb.faultsByStage[2] },
    },
    host: { wallNs: o.hostNs, mips: o.hostNs > 0 ? Math.round((vcpu.instructions / o.hostNs) * 1000 * 10) / 10 : 0 },
  } as MachineStats;
  if (o.walks !== null) stats.walks = o.walks;
  return stats;
}
