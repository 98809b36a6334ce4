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

/** What --smp adds: the scheduler's view of each vCPU. */
export interface SmpView {
  readonly virtualTimeNs: number;
  readonly quanta: readonly number[];
  readonly power: readonly string[];
  /** The scheduler's counters (emulator/cpu/smp-scheduler.ts): quantum, hand-overs, spin warps. */
  readonly sched: { readonly quantum: number; readonly handovers: number; readonly spinWarps: number; readonly spinWarpNs: number };
}

/**
 * The stats object. With several vCPUs the top-level fields are totals over the vCPUs (counts
 * summed; `virtualTimeNs` the machine's time, the latest vCPU clock) and `vcpus[i]` has each
 * one's own counts.
 */
export function collectStats(
  board: VirtMachine,
  hyps: readonly Hypervisor[],
  o: { imageName: string; halt: RunEnd | null; hostNs: number; walks: Record<string, WalkReport> | null },
  smp: SmpView | null = null,
): MachineStats {
  if (smp !== null) return smpStats(board, hyps, o, smp);
  return oneCpuStats(board, hyps[0]!, o);
}

function oneCpuStats(
  board: VirtMachine,
  hyp: Hypervisor,
  o: { imageName: string; halt: RunEnd | null; hostNs: number; walks: Record<string, WalkReport> | null },
  vcpu = board.vcpu,
): MachineStats {
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

type Json = number | string | boolean | null | Json[] | { [k: string]: Json };

/** Numbers added field by field (records merged by key); anything else is the first one's. */
function sumJson(a: Json, b: Json): Json {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: { [k: string]: Json } = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? sumJson(out[k]!, v) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return a.map((x, i) => sumJson(x, b[i]!));
  return a;
}

/** Fields summed over the vCPUs (the EL2 register file, configuration and walks stay vCPU 0's). */
const SUMMED = ['exceptions', 'exits', 'sysregTraps', 'cost', 'mmio', 'unknownSysregs', 'coalescedMmio', 'tlb', 'counterWarp', 'instructions', 'idleNs'] as const;

function smpStats(
  board: VirtMachine,
  hyps: readonly Hypervisor[],
  o: { imageName: string; halt: RunEnd | null; hostNs: number; walks: Record<string, WalkReport> | null },
  smp: SmpView,
): MachineStats {
  const per = board.vcpus.map((v, i) => oneCpuStats(board, hyps[i]!, { ...o, walks: null }, v));
  const total = JSON.parse(JSON.stringify(per[0])) as MachineStats;
  for (const s of per.slice(1)) {
    for (const k of SUMMED) (total as Record<string, unknown>)[k] = sumJson(total[k] as Json, JSON.parse(JSON.stringify(s[k])) as Json);
    // Stage-2 counters are each vCPU's faults; the tables are the VM's (shared): counted once.
    total.stage2 = { ...total.stage2, faults: total.stage2.faults + s.stage2.faults };
  }
  total.virtualTimeNs = smp.virtualTimeNs;
  total.host = { wallNs: o.hostNs, mips: o.hostNs > 0 ? Math.round((total.instructions / o.hostNs) * 1000 * 10) / 10 : 0 };
  total.vcpus = per.map((s, i) => ({
    vcpu: i,
    power: smp.power[i],
    quanta: smp.quanta[i],
    instructions: s.instructions,
    virtualTimeNs: s.virtualTimeNs,
    idleNs: s.idleNs,
    irqsTaken: board.vcpus[i]!.irqsTaken,
    exceptions: s.exceptions,
    exits: s.exits,
    tlb: s.tlb,
  }));
  const { quantum, handovers, spinWarps, spinWarpNs } = smp.sched;
  total.scheduler = { quantum, handovers, spinWarp: { warps: spinWarps, ns: spinWarpNs } };
  if (o.walks !== null) total.walks = o.walks;
  return total;
}
