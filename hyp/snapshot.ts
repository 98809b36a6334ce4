/**
 * The EL2 model's part of a machine snapshot: its EL2 register file, the statistics (so a
 * restored run ends with the same stats as an uninterrupted one), the sysreg policy's state (the
 * guest's MAIR_EL1 behind a mangled one, emulated registers), stage 2 (the table pool's pages and
 * allocator, the mapped set; saved once per VM with --smp), the guest context's bookkeeping, the
 * coalesced-MMIO counters and, with --nested, the guest hypervisor's state (nested/snapshot.ts).
 * Configuration (mode, policies, cost model) is not state: the restoring machine is built from the
 * configuration the snapshot records.
 */
import type { El2Regs } from './el2-regs.js';
import type { HypStats } from './stats.js';
import type { SysregPolicy } from './sysreg-policy.js';
import type { Stage2 } from './stage2.js';
import type { CoalescedMmio } from './coalesced-mmio.js';
import type { NestedVirt } from './nested/nested.js';
import { applyState, captureState, SnapshotFormatError, type RestoreContext, type SnapshotContext, type StateValue } from '../emulator/snapshot/state.js';
import { restoreNested, snapshotNested } from './nested/snapshot.js';

type Fields = Record<string, unknown>;

/**
 * The parts of hypervisor.ts's Hypervisor a snapshot reads and writes (its private guest context
 * and flags are reached by name below). An interface, not the class, so this module and
 * hypervisor.ts don't import each other.
 */
export interface HypSnapshotTarget {
  readonly el2: El2Regs;
  readonly stats: HypStats;
  readonly sysregs: SysregPolicy;
  readonly stage2: Stage2;
  readonly nestedCost: { reflect: number; eret: number; vel2Sysreg: number };
  readonly coalesced: CoalescedMmio;
  readonly nested: NestedVirt | null;
}

/**
 * `stage2: false` for every vCPU's model but the first with --smp: they share the VM's stage 2
 * (KVM's struct kvm), saved once.
 */
export interface HypSnapshotOptions {
  readonly stage2?: boolean;
}

export function snapshotHypervisor(h: HypSnapshotTarget, ctx: SnapshotContext, opts: HypSnapshotOptions = {}): StateValue {
  const any = h as unknown as Fields;
  const gctx = any['ctx'] as Fields;
  // Between runs the guest context is on the CPU (VHE keeps EL1 registers loaded; nVHE restores them
  // after each exit): the vCPU's registers are the whole of it.
  if (gctx['runOnCpu'] !== true || gctx['sysregsOnCpu'] !== true) throw new Error('snapshot: guest context not loaded on the CPU');
  const coalesced = any['coalesced'] as Fields;
  if (coalesced['len'] !== 0) throw new Error('snapshot: coalesced MMIO ring not drained');
  const s2 = h.stage2 as unknown as Fields;
  return {
    el2: captureState(h.el2, ctx),
    stats: captureState(h.stats, ctx),
    sysregs: captureState(h.sysregs, ctx, ['hyp', 'features', 'ctl']),
    stage2: opts.stage2 === false ? null : { next: s2['next'] as number, mapped: captureState({ mapped: s2['mapped'] }, ctx), pool: captureState(h.stage2.pool, ctx, ['base']) },
    context: captureState(gctx, ctx, ['run', 'vregs', 'el1', 'el1Live', 'el1Index', 'el1Regs', 'vcpu', 'mode']),
    nestedCost: captureState(h.nestedCost, ctx),
    lastExitWentToUserspace: any['lastExitWentToUserspace'] as boolean,
    coalesced: captureState(coalesced, ctx, ['bus', 'ipa', 'size', 'value', 'window']),
    // The console window's counters (its ring is drained whenever the vCPU stops): a restored run counts on from them.
    consoleWindow: h.coalesced.windowStats(),
    // --nested: the guest hypervisor's virtual EL2 and shadow stage 2s (hyp/nested/snapshot.ts).
    ...(h.nested !== null ? { nested: snapshotNested(h.nested, ctx) } : {}),
  };
}

export function restoreHypervisor(h: HypSnapshotTarget, s: StateValue, ctx: RestoreContext, opts: HypSnapshotOptions = {}): void {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new SnapshotFormatError('hypervisor: state is not an object');
  const st = s as Record<string, StateValue>;
  const any = h as unknown as Fields;
  applyState(h.el2, st['el2']!, ctx, 'El2Regs');
  applyState(h.stats, st['stats']!, ctx, 'HypStats');
  applyState(h.sysregs, st['sysregs']!, ctx, 'SysregPolicy');
  if (opts.stage2 !== false) {
    const s2 = st['stage2'] as Record<string, StateValue> | null | undefined;
    if (s2 === null || s2 === undefined) throw new SnapshotFormatError('hypervisor: no stage 2');
    const s2f = h.stage2 as unknown as Fields;
    s2f['next'] = s2['next'];
    applyState(h.stage2 as object, s2['mapped']!, ctx, 'Stage2');
    applyState(h.stage2.pool, s2['pool']!, ctx, 'Stage2.pool');
  }
  applyState(any['ctx'] as object, st['context']!, ctx, 'GuestContext');
  applyState(h.nestedCost, st['nestedCost']!, ctx, 'nestedCost');
  any['lastExitWentToUserspace'] = st['lastExitWentToUserspace'];
  applyState(any['coalesced'] as object, st['coalesced']!, ctx, 'CoalescedMmio');
  const w = st['consoleWindow'] as { writes: number; reads: number; slow: number; drains: number } | null | undefined;
  if (w) h.coalesced.setWindowStats(w);
  // HCR_EL2, VTTBR_EL2, VTCR_EL2 back: install stage 2 and the trap routing they select.
  h.el2.onHcrChange?.(h.el2.hcr);
  const n = st['nested'];
  if ((n !== undefined) !== (h.nested !== null)) throw new SnapshotFormatError(h.nested !== null ? 'hypervisor: no guest-hypervisor state for --nested' : 'hypervisor: guest-hypervisor state without --nested');
  if (h.nested !== null) restoreNested(h.nested, n!, ctx);
}
