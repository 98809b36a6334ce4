/**
 * What the debugger reads of the machine without running it: guest memory through the current
 * regime (privileged view, RAM only: MMIO is never touched; RAM the EL2 model has not mapped yet
 * is seen at its IPA), the walk of a VA in the current regime, the TLB counters.
 */
import { walkReport, formatWalk } from '../mmu/walk-report.js';
import type { Vcpu } from '../cpu/vcpu.js';
import { Access } from '../cpu/translator.js';
import { modeName } from '../cpu/pstate.js';
import { vaFromBigint, hexVa } from '../types.js';

const PAGE = 0x1000;

/** Guest-physical address of a VA as the vCPU sees it now (privileged view), or null. */
function debugPa(vcpu: Vcpu, va: number): number | null {
  const tr = vcpu.translator;
  // EL1 permissions: the debugger may look at kernel memory while the guest is at EL0. Execute-only
  // pages are readable by the debugger too.
  let t = tr.translate(va, Access.READ, 1);
  if (!t.ok) t = tr.translate(va, Access.FETCH, 1);
  if (!t.ok) {
    // RAM the guest has not touched yet is not mapped at stage 2 (the EL2
    // model maps it on the first fault, 1:1): the debugger sees it all the
    // same, at its IPA. Not for a fault on a stage-1 table walk (the IPA is the table's).
    const f = t.fault;
    if (f.stage === 2 && !f.s1ptw && vcpu.ram.contains(f.ipa)) return f.ipa + (va & 0xfff) - (f.ipa & 0xfff);
    return null;
  }
  const pa = t.pa; // copy: the translator reuses its result object
  return vcpu.ram.contains(pa) ? pa : null; // MMIO is never touched by the debugger
}

/** Visit [addr, addr+length) page by page; stops at the first untranslatable page. Returns bytes covered. */
function eachChunk(vcpu: Vcpu, addr: bigint, length: number, fn: (pa: number, offset: number, n: number) => void): number {
  let done = 0;
  while (done < length) {
    const a = BigInt.asUintN(64, addr + BigInt(done));
    const va = vaFromBigint(a);
    const inPage = PAGE - Number(a % BigInt(PAGE));
    const n = Math.min(inPage, length - done);
    const pa = debugPa(vcpu, va);
    if (pa === null || !vcpu.ram.contains(pa, n)) break;
    fn(pa, done, n);
    done += n;
  }
  return done;
}

/** Bytes at [addr, addr+length), fewer when the range runs into an unmapped page; null if the first is. */
export function readGuestMemory(vcpu: Vcpu, addr: bigint, length: number): Uint8Array | null {
  const out = new Uint8Array(length);
  const ram = vcpu.ram;
  const got = eachChunk(vcpu, addr, length, (pa, off, n) => out.set(ram.bytesAt(pa, n), off));
  return got === 0 ? null : out.subarray(0, got);
}

/** All or nothing: false (and nothing written) when any byte is unmapped. */
export function writeGuestMemory(vcpu: Vcpu, addr: bigint, data: Uint8Array): boolean {
  if (eachChunk(vcpu, addr, data.length, () => {}) !== data.length) return false;
  const ram = vcpu.ram;
  eachChunk(vcpu, addr, data.length, (pa, off, n) => ram.bytesAt(pa, n).set(data.subarray(off, off + n)));
  return true;
}

/** `monitor walk`: the machine's real two-stage regime (the guest's stage 1, the hypervisor's stage 2), walked by the one MMU model. */
export function walkText(v: Vcpu, va: bigint): string {
  const t = v.translator;
  const report = walkReport(hexVa(vaFromBigint(va)), t.inspect(vaFromBigint(va), Access.READ, v.el), t.stage1Enabled, t.regime.stage2.enabled);
  return `${formatWalk(report)}\n(at ${modeName(v.pstate)}, EL1&0 regime)`;
}

/** `monitor tlb`: Unicorn's fills and flushes, the model TLB, faults by stage, type and level. */
export function tlbText(v: Vcpu): string {
  const st = v.translator.tlb.stats;
  const faults = Object.entries(st.faults)
    .filter(([, byLevel]) => byLevel.some((n) => n > 0))
    .map(([type, byLevel]) => `${type} ${byLevel.map((n, l) => (n ? `L${l}:${n}` : '')).filter(Boolean).join(' ')}`);
  return [
    `Unicorn TLB fills: ${v.fills} (${v.refusedFills} refused: guest faults and MMIO), whole-TLB flushes: ${v.tlbFlushes}, guest TLBIs: ${v.tlbiCount}`,
    `model TLB: ${st.fills} walks cached, ${st.hits} hits, ${st.invalidations} invalidations (${st.entriesInvalidated} entries), ${st.evictions} evictions`,
    `faults: stage 1 ${st.faultsByStage[1]}, stage 2 ${st.faultsByStage[2]}${faults.length ? ' (' + faults.join('; ') + ')' : ''}`,
  ].join('\n');
}
