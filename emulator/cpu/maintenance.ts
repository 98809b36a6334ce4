/**
 * TLB and instruction-cache maintenance on a vCPU, kept exact in the model TLB and in Unicorn's:
 * the TLBIs the EL2 model performs (GuestCpu.tlbi), those the guest executes natively (HCR_EL2.TTLB
 * clear: as KVM's guests do), and their broadcast to the other vCPUs of the VM for the Inner/Outer
 * Shareable forms (SMP: one Unicorn instance per vCPU over the same RAM, and only one runs at a
 * time, so the others are updated from here), and the flushes of both TLBs. Split from vcpu.ts.
 */
import type { CpRegView } from '../unicorn/uc.js';
import type { TlbiFront } from '../unicorn/tlbi-front.js';
import { sysregKey, type SysregEntry } from './sysreg-catalogue.js';
import type { SysInsnAccess, SysRoutingInputs } from './exits.js';
import { bareRoute } from './sysinsn-hook.js';
import type { TlbiOperation } from '../mmu/tlbi-op.js';
import { Access } from './translator.js';
import type { VcpuInternals } from './vcpu-internals.js';

/**
 * A TLB maintenance operation from the EL2 model: the model TLB drops what the operation names;
 * Unicorn's TLB (not tagged by ASID or VMID) is flushed whole.
 */
export function tlbi(v: VcpuInternals, op: TlbiOperation, xt: bigint, vmid: number): void {
  v.translator.tlb.invalidate(op, xt, vmid);
  v.tlbiCount++;
  v.uc.flushTlb();
  broadcastTlbi(v, op, xt, vmid);
}

/**
 * A broadcast TLBI from another vCPU (the IS and OS forms, Arm ARM D8.13.2 "TLB maintenance
 * instructions ... Shareability"): this vCPU's model TLB drops what it names and Unicorn's TLB
 * (not tagged by ASID or VMID) drops the pages of a by-VA form (as nativeTlbi) or everything.
 * The vCPU is not running: only one core runs at a time.
 */
export function remoteTlbi(v: VcpuInternals, op: TlbiOperation, xt: bigint, vmid: number): void {
  const tlb = v.translator.tlb;
  const flush = tlb.invalidate(op, xt, vmid);
  if (op.scope === 'va' || op.scope === 'va-range') {
    if (flush && !flushUnicornPages(v, tlb.removedPages, tlb.removedCount)) v.flushUnicornTlb();
  } else v.flushUnicornTlb();
}

function broadcastTlbi(v: VcpuInternals, op: TlbiOperation | undefined, xt: bigint, vmid: number): void {
  if (op === undefined || op.shareability === 'NSH') return;
  for (const p of v.peers) p.remoteTlbi(op, xt, vmid);
}

/**
 * A TLBI QEMU executes itself (HCR_EL2.TTLB clear: no world switch, KVM's
 * guests run TLBI natively too). QEMU drops its own entries as the
 * operation names; the model TLB drops the same, for the current VMID.
 */
export function nativeTlbi(v: VcpuInternals, entry: SysregEntry, xt: bigint): void {
  const op = entry.tlbi;
  const tlb = v.translator.tlb;
  const flush = op ? tlb.invalidate(op, xt, v.translator.regime.stage2.vmid) : tlb.invalidateAll();
  v.tlbiCount++;
  broadcastTlbi(v, op, xt, v.translator.regime.stage2.vmid);
  // QEMU's TLBI by VA drops one TARGET_PAGE (1 KiB on Unicorn's arm64, DESIGN.md) at the VA, not
  // the whole 4/16/64 KiB granule: the other sub-pages would stay mapped to the old page (Linux's
  // fixmap text patching then writes the old page and spins: the boot stall seen when TLBI first
  // ran natively). So the 1 KiB pages of every 4 KiB page the model TLB dropped are flushed
  // (every Unicorn entry was filled from one of those), or Unicorn's TLB whole when that is not
  // known or not possible; nothing when the model held nothing for the VA. The others (VMALLE1,
  // ASIDE1) QEMU already flushes whole by MMU index.
  if (op === undefined || op.scope === 'va' || op.scope === 'va-range') {
    if (flush && !flushUnicornPages(v, tlb.removedPages, tlb.removedCount)) v.flushUnicornTlb();
  } else v.codeGuard.tlbFlushed();
}

/** Scratch for flushUnicornPages (one vCPU runs at a time, and the call is synchronous). */
const subPages = new Float64Array(256);

/** Unicorn's TLB entries of `n` 4 KiB VA pages (4 TARGET_PAGEs each); false when it cannot (then nothing was done). */
function flushUnicornPages(v: VcpuInternals, pages4k: Float64Array, n: number): boolean {
  if (n < 0 || n * 4 > subPages.length) return false;
  for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) subPages[i * 4 + j] = pages4k[i]! + j * 0x400;
  return v.uc.flushTlbPages(subPages, n * 4);
}

/**
 * IC IALLU, IC IALLUIS, IC IVAU (Arm ARM C5.3): the code guard's snapshots, and (IVAU) the other
 * cores' translated code. Called for every IC instruction when snapshots are live or the VM has
 * other vCPUs (Vcpu.icMaintenanceNeeded).
 */
export function icMaintenance(v: VcpuInternals, cp: CpRegView): void {
  if (cp.op1 === 0 && ((cp.crm === 1 && cp.op2 === 0) || (cp.crm === 5 && cp.op2 === 0))) {
    v.codeGuard.icInvalidate(null);
    // IC IALLUIS (CRm 1) is broadcast to the Inner Shareable domain (Arm ARM C5.3): every other
    // core drops the code it translated from RAM, page by page (CodeGuard.dropAllCode), not with
    // a Unicorn TB flush: measured on Linux --smp 2, one TB flush per core grows the process to
    // 1.3 GB RSS (from 0.3) and costs 5 s of CPU. Linux 6.1 issues it after patching kernel text
    // with alternatives on one CPU while the others wait (__apply_alternatives_multi_stop: three
    // times in a boot), and the variants differ in instructions (a runtime capability test
    // or a NOP): a core that kept its old translation ran a different instruction count than
    // one that translates afresh (a run restored from a snapshot).
    if (cp.crm === 1) for (const p of v.peers) p.codeGuard.dropAllCode();
  }
  if (cp.op1 === 3 && cp.crm === 5 && cp.op2 === 1) {
    const va = Number(BigInt.asIntN(64, cp.val));
    // The model TLB's entry first (Linux's text patching: the text VA is mapped and was fetched),
    // a walk only when it holds none.
    let pa = v.translator.cachedReadPa(va, v.el);
    if (pa < 0) {
      const t = v.translator.probe(va, Access.READ, v.el);
      if (t.ok) pa = t.pa;
    }
    if (pa >= 0) v.codeGuard.icInvalidate(pa);
    // IC IVAU is broadcast to the Inner Shareable domain (Arm ARM C5.3 "IC IVAU"): one line
    // (CTR_EL0.IminLine: 64 bytes) of every other core's translated code. By the physical
    // address this core translates the VA to (the VM's cores share RAM and stage 2), not by
    // VA through the other core: that core may be at EL0, where kernel text does not
    // translate, or hold no TLB entry for it (its lookup would then fill its TLB from here).
    // Linux patches kernel text on one CPU this way (static keys: aarch64_insn_patch_text_nosync
    // writes through the fixmap alias, then IC IVAU at the text VA). Before, the broadcast ran
    // only while this core's code guard had live shadow pages.
    // (A kernel VA is a negative number here: align towards minus infinity.)
    const line = va - (((va % 64) + 64) % 64);
    const paLine = pa >= 0 ? pa - (pa % 64) : -1;
    const inRam = pa >= 0 && v.ram.contains(paLine, 64);
    for (const p of v.peers) {
      if (inRam) {
        // Code the other core runs from a shadow snapshot of the page is retaken too.
        p.codeGuard.icInvalidate(paLine);
        if (p.uc.invalidateCode(p.ram.block, paLine - p.ram.base, 64)) continue;
      }
      p.uc.removeTbCache(line, line + 64);
    }
  }
}

/** Unicorn's TLB only (the model's is already exact): counted, and the code guard told. */
export function flushUnicornTlb(v: VcpuInternals): void {
  v.tlbFlushes++;
  v.uc.flushTlb();
  v.codeGuard.tlbFlushed();
}

/**
 * Forget every cached translation (model TLB, Unicorn's TLB) without counting a flush: a
 * snapshot point does this in the saving run as Vcpu.restore() does in the restored one, so both
 * continue from the same (cold) TLBs and count the same refills. A refill is a walk, never
 * wrong. Translated code is kept: it is keyed by physical address and flags, and Unicorn's
 * TB flush costs seconds with a large RAM mapping.
 */
export function dropCachedTranslations(v: VcpuInternals): void {
  v.translator.markDirty();
  v.translator.invalidateAll();
  v.uc.flushTlb();
  v.codeGuard.tlbFlushed();
}

/**
 * The native TLBI front (tlb-flush.c): C completes a guest TLBI by VA in Unicorn's TLB and the
 * fill cache, and queues it; the model TLB applies the queue, in order, before its next lookup or
 * invalidation (TlbModel.queued) and at every slice end (drainTlbiFront), counting each as a
 * guest TLBI, exactly as nativeTlbi does for one that reaches JavaScript.
 */
export function wireTlbiFront(v: VcpuInternals): void {
  const f = v.uc.tlbiFront;
  if (f === null) return;
  v.translator.tlb.queued = { ctl: f.ctl, drain: () => drainFront(v, f) };
}

/** Apply what the front queued (slice end; the model TLB drains itself before any use). */
export function drainTlbiFront(v: VcpuInternals): void {
  const f = v.uc.tlbiFront;
  if (f !== null && f.ctl[0] !== 0) drainFront(v, f);
}

function drainFront(v: VcpuInternals, f: TlbiFront): void {
  const n = f.ctl[0]!;
  f.ctl[0] = 0;
  const tlb = v.translator.tlb;
  const vmid = v.translator.regime.stage2.vmid;
  for (let i = 0; i < n; i++) {
    const op = v.sysregs.get(f.keys[i]!)?.tlbi;
    // Only rows whose operation is a TLBI by VA are ever marked (refreshTlbiFront).
    if (op === undefined) continue;
    tlb.invalidateQueuedVa(op, f.xt[2 * i + 1]!, f.xt[2 * i]!, vmid);
    v.tlbiCount++;
  }
}

/** Trap controls the front's bitmap was computed for (refreshTlbiFront); lo = -1: none yet. */
interface FrontState extends SysRoutingInputs {
  generation: number;
}
const frontStates = new WeakMap<VcpuInternals, FrontState>();
const frontAccess: { -readonly [K in keyof SysInsnAccess]: SysInsnAccess[K] } = { op0: 0, op1: 0, crn: 0, crm: 0, op2: 0, rt: 0, read: false, value: 0n, pc: 0, el: 1 };
const frontInputs: SysRoutingInputs = { lo: 0, hi: 0, mdcr: 0 };

/**
 * Which TLBIs the front may complete, brought in line with the trap controls (cheap when they did
 * not change; called where the system-instruction filter is, at every slice start and after
 * exits): the TLBI by VA rows (VAE1, VALE1, VAAE1, VAALE1, every shareability) that the EL2
 * model's route sends native at EL1 (HCR_EL2.TTLB and FEAT_EVT's TTLBIS/TTLBOS clear: with them
 * set the row traps, and the TLBI reaches JavaScript and exits with its exact syndrome). Off with
 * several vCPUs (an IS/OS form must reach the others' model TLBs) and for an EL2 model that
 * cannot state its trap controls (a guest hypervisor at virtual EL2).
 */
export function refreshTlbiFront(v: VcpuInternals): void {
  const f = v.uc.tlbiFront;
  if (f === null) return;
  const el2 = v.el2;
  const inp = frontInputs;
  let usable = v.peers.length === 0;
  if (el2 !== null) usable &&= el2.sysInsnRoutingInputs?.(inp) === true;
  else inp.lo = inp.hi = inp.mdcr = 0;
  if (!usable) {
    f.ctl[1] = 0;
    f.setIcGate(false);
    frontStates.delete(v);
    return;
  }
  const gen = v.sysregs.generation;
  const st = frontStates.get(v);
  if (st !== undefined && f.ctl[1] === 1 && st.lo === inp.lo && st.hi === inp.hi && st.mdcr === inp.mdcr && st.generation === gen) return;
  f.bits.fill(0);
  const a = frontAccess;
  for (const e of v.sysregs.entries()) {
    if (e.tlbi?.scope !== 'va') continue;
    a.op0 = e.op0;
    a.op1 = e.op1;
    a.crn = e.crn;
    a.crm = e.crm;
    a.op2 = e.op2;
    const r = el2 !== null ? el2.routeSysInsn(v, a, e) : bareRoute(e, 1);
    if (r.route === 'native') f.bits[e.key >>> 3]! |= 1 << (e.key & 7);
  }
  frontStates.set(v, { lo: inp.lo, hi: inp.hi, mdcr: inp.mdcr, generation: gen });
  f.ctl[1] = 1;
  // The IC IVAU gate: C may let an IC IVAU run without JavaScript when the route would be native
  // at EL0 and at EL1 (no HCR_EL2.TPU/TOCU trap, SCTLR_EL1.UCI is the CPU's own check) and the
  // code guard's icInvalidate would find no snapshot on its page (tlb-flush.c).
  const ivau = v.sysregs.get(IC_IVAU_KEY);
  let icNative = ivau !== undefined;
  if (ivau !== undefined) {
    a.op0 = ivau.op0;
    a.op1 = ivau.op1;
    a.crn = ivau.crn;
    a.crm = ivau.crm;
    a.op2 = ivau.op2;
    for (const el of [0, 1]) {
      a.el = el;
      const r = el2 !== null ? el2.routeSysInsn(v, a, ivau) : bareRoute(ivau, el);
      if (r.route !== 'native') icNative = false;
    }
    a.el = 1;
  }
  f.setIcGate(icNative);
}

/** IC IVAU's packed encoding (op0 1, op1 3, CRn 7, CRm 5, op2 1; Arm ARM C5.3.13). */
const IC_IVAU_KEY = sysregKey({ op0: 1, op1: 3, crn: 7, crm: 5, op2: 1 });
