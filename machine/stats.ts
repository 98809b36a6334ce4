/**
 * The statistics object: what `--stats-json` writes and Machine.stats() returns. Its field names
 * and order are a contract (README "stats JSON"): change them only with the README.
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import type { WalkReport } from '../emulator/mmu/walk-report.js';
import { NS_PER_INSN } from '../emulator/cpu/vcpu.js';
import type { RunEnd } from './exit-status.js';

export function collectStats(
  board: VirtMachine,
  hyp: Hypervisor,
  o: { imageName: string; halt: RunEnd | null; hostNs: number; walks: Record<string, WalkReport> | null },
): Record<string, unknown> {
  const vcpu = board.vcpu;
  const tlb = vcpu.translator.tlb.stats;
  const stats: Record<string, unknown> = {
    image: o.imageName,
    halt: o.halt,
    instructions: vcpu.instructions,
    // Instructions plus the time skipped while idle in WFI (see README: virtual time).
    virtualTimeNs: vcpu.instructions * NS_PER_INSN + vcpu.idleNs,
    idleNs: vcpu.idleNs,
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
  };
  if (o.walks !== null) stats.walks = o.walks;
  return stats;
}
