/**
 * A guest hypervisor's part of a machine snapshot (--nested, seed 003): the virtual EL2
 * register file, L2's EL1 context kept while L1 runs (and the SP banks the model moves), which
 * world runs (virtual EL2 or L2), the statistics, and the shadow stage 2s *as they are*: every
 * shadow MMU's L1 context, entries, allocator and LRU stamp, and their table pool's pages.
 *
 * Why saved and not rebuilt lazily after a restore: a shadow stage 2 behaves as a TLB, but
 * refilling one is not invisible the way a TLB refill is. Each refill is a stage-2 fault, an EL2
 * exit (it appears in the trace and in `exits.dabt_s2`/`iabt_s2`), counted in
 * `nested.shadowFaults`/`shadowMaps` and charged in the cost model; the LRU stamps decide which
 * shadow a later context recycles. A restored run that rebuilt them would differ from the
 * uninterrupted run in its trace and stats, which a snapshot must not. The pool is large (8 MMUs x
 * 256 table pages) but mostly zero, and the page section keeps only non-zero pages.
 *
 * Derived objects (decoded stage-2 configs, the table builders) are made again from the saved
 * registers; cached translations (model TLB, Unicorn's) start cold, as for every snapshot.
 */
import type { NestedVirt } from './nested.js';
import type { ShadowS2Mmu } from './shadow-s2.js';
import { applyState, captureState, SnapshotFormatError, type RestoreContext, type SnapshotContext, type StateValue } from '../../emulator/snapshot/state.js';

type Fields = Record<string, unknown>;

/** ShadowS2Mmu fields that are configuration or derived (rebuilt by decode()). */
const MMU_SKIP = ['l1Config', 'config', 'builder', 'mem', 'slot', 'vmid', 'poolBase', 'poolPages', 'vtcr'];
/** NestedVirt fields that are wiring, host resources or saved apart (s2, current). */
const NESTED_SKIP = ['s2', 'current', 'sps', 'pst', 'host', 'vcpu', 'sysState'];

export function snapshotNested(n: NestedVirt, ctx: SnapshotContext): StateValue {
  const s2 = n.s2 as unknown as Fields;
  return {
    model: captureState(n, ctx, NESTED_SKIP, 'NestedVirt'),
    current: n.current === null ? null : n.current.slot,
    shadow: {
      clock: s2['clock'] as number,
      stats: captureState(n.s2.stats, ctx),
      pool: captureState(n.s2.pool, ctx, ['base']),
      mmus: n.s2.mmus.map((m) => captureState(m, ctx, MMU_SKIP, 'ShadowS2Mmu')),
    },
  };
}

/**
 * Put the state back into a freshly built model. Called after the hypervisor's own state, which
 * installed our stage 2; while L2 runs, its shadow goes on the MMU instead.
 */
export function restoreNested(n: NestedVirt, s: StateValue, ctx: RestoreContext): void {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new SnapshotFormatError('nested: state is not an object');
  const st = s as Record<string, StateValue>;
  const sh = st['shadow'] as Record<string, StateValue> | undefined;
  if (st['model'] === undefined || sh === undefined || !Array.isArray(sh['mmus'])) throw new SnapshotFormatError('nested: no virtual EL2 or shadow stage 2');
  applyState(n, st['model'], ctx, 'NestedVirt');
  const mmus = sh['mmus'];
  if (mmus.length !== n.s2.mmus.length) throw new SnapshotFormatError(`nested: ${mmus.length} shadow MMUs in the snapshot, ${n.s2.mmus.length} here`);
  (n.s2 as unknown as Fields)['clock'] = sh['clock'];
  applyState(n.s2.stats, sh['stats']!, ctx, 'ShadowStats');
  applyState(n.s2.pool, sh['pool']!, ctx, 'ShadowPool');
  mmus.forEach((m, i) => {
    const mmu: ShadowS2Mmu = n.s2.mmus[i]!;
    applyState(mmu, m, ctx, 'ShadowS2Mmu');
    if (mmu.inUse) mmu.decode();
  });
  const cur = st['current'];
  if (cur === null || cur === undefined) {
    n.current = null;
    return;
  }
  const mmu = n.s2.mmus[cur as number];
  if (mmu === undefined || !mmu.inUse) throw new SnapshotFormatError(`nested: current shadow MMU ${String(cur)} is not in use`);
  if (n.mode === 'l2') n.installShadow(mmu);
  else n.current = mmu;
}
