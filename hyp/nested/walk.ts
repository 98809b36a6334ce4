/**
 * The three stages behind an L2 address, as a user reads them (`hypemu run --nested --walk VA`,
 * the debugger's `monitor walk`): L2's stage 1 (its EL1 context), L1's stage 2 (the guest
 * hypervisor's tables, from its VTTBR_EL2/VTCR_EL2; stage-1 table accesses go through it,
 * S1PTW), our stage 2 for the L1 PA, and the shadow entry the MMU would use.
 * Walked with the one MMU model (translate.ts), side-effect free.
 */
import { createRegime } from '../../emulator/mmu/translate.js';
import { decodeStage1, decodeStage2, stage1Off, stage2Disabled } from '../../emulator/mmu/config.js';
import { walkReport, formatWalk, type WalkReport } from '../../emulator/mmu/walk-report.js';
import type { DescriptorMemory } from '../../emulator/mmu/memory.js';
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';
import type { GuestCpu } from '../../emulator/cpu/guest-cpu.js';
import type { HostStage2View, ShadowS2Mmu } from './shadow-s2.js';
import { l2El1Index } from './vregs.js';
import type { VirtualEl2 } from './vregs.js';

export interface NestedWalkReport extends WalkReport {
  nested: {
    /** where the guest hypervisor was when the walk was made */
    mode: 'vel2' | 'l2';
    l1Vmid: number;
    /** whether L1's stage 2 applies (HCR_EL2.VM), or is shown from VTTBR_EL2 while L1 has VM clear */
    l1Stage2: string;
    /** our stage 2 for the L1 PA (its `va` is the L1 PA) */
    ourStage2: WalkReport | null;
    hostPa?: string;
    shadow: { slot: number; vmid: number; ipa: string; size: string; pa: string; l1Level: number } | null;
  };
}

const hex = (n: number) => '0x' + n.toString(16);

export interface NestedWalkInput {
  mode: 'vel2' | 'l2';
  vel2: VirtualEl2;
  /** L2's EL1 context as saved while L1 runs */
  l2El1: readonly bigint[];
  l1Vmid: number;
  shadows: readonly ShadowS2Mmu[];
  ours: HostStage2View;
  guestMem: DescriptorMemory;
}

export function nestedWalk(cpu: GuestCpu, va: number, n: NestedWalkInput): NestedWalkReport {
  // L2's EL1 registers: on the CPU while L2 runs, in L1's keeping otherwise
  const reg = (e: { op0: number; op1: number; crn: number; crm: number; op2: number }) =>
    n.mode === 'l2' ? cpu.sysreg(e) : n.l2El1[l2El1Index(sysregKey(e))]!;
  const hcr = n.vel2.get('HCR_EL2');
  const stage1 = decodeStage1({ sctlr: reg(SR.SCTLR_EL1), tcr: reg(SR.TCR_EL1), ttbr0: reg(SR.TTBR0_EL1), ttbr1: reg(SR.TTBR1_EL1), mair: reg(SR.MAIR_EL1) });
  // At virtual EL2 L1 may have cleared HCR_EL2.VM between guests: its VTTBR_EL2 still names the
  // tables its guest runs on, and those are what a user asks about.
  const vm = (hcr & 1n) === 1n;
  const useL1 = vm || (n.mode === 'vel2' && n.vel2.get('VTTBR_EL2') !== 0n);
  const l1s2 = useL1 ? decodeStage2({ vtcr: n.vel2.get('VTCR_EL2'), vttbr: n.vel2.get('VTTBR_EL2'), hcr: hcr | 1n }) : stage2Disabled();
  // L1's tables are read by L1 PA: our stage 2 maps guest RAM 1:1 (hyp/stage2.ts)
  const out = createRegime({ stage1, stage2: l1s2, mem: n.guestMem }).translate(va, { kind: 'read', el: 1 }, { record: true });
  const l2 = walkReport(hex(va), out, stage1.enabled, l1s2.enabled);
  let ourStage2: WalkReport | null = null;
  let hostPa: string | undefined;
  let shadow: NestedWalkReport['nested']['shadow'] = null;
  if (out.ok) {
    const l1Pa = out.pa;
    const o2 = createRegime({ stage1: stage1Off(), stage2: n.ours.config, mem: n.ours.mem }).translate(l1Pa, { kind: 'read', el: 1 }, { record: true });
    ourStage2 = walkReport(hex(l1Pa), o2, false, n.ours.config.enabled);
    if (o2.ok) hostPa = hex(o2.pa);
    const ipa = out.ipa;
    const vttbr = n.vel2.get('VTTBR_EL2');
    const vtcr = n.vel2.get('VTCR_EL2');
    for (const m of n.shadows) {
      if (!m.inUse || m.l1.vttbr !== vttbr || m.l1.vtcr !== vtcr) continue;
      for (const e of m.entries.values()) {
        if (ipa >= e.ipa && ipa < e.ipa + e.size) {
          shadow = { slot: m.slot, vmid: m.vmid, ipa: hex(e.ipa), size: hex(e.size), pa: hex(e.pa + (ipa - e.ipa)), l1Level: e.l1Level };
        }
      }
    }
  }
  return { ...l2, nested: { mode: n.mode, l1Vmid: n.l1Vmid, l1Stage2: vm ? 'on' : useL1 ? 'VTTBR_EL2 (HCR_EL2.VM = 0 now)' : 'off', ourStage2, ...(hostPa !== undefined ? { hostPa } : {}), shadow } };
}

/** Multi-line human form: the L2 stage 1 + L1 stage 2 walk, then ours, then the shadow entry. */
export function formatNestedWalk(r: NestedWalkReport): string {
  const n = r.nested;
  const lines = [
    `nested walk of L2 VA ${r.va} (${n.mode === 'l2' ? 'L2 running' : 'guest hypervisor at virtual EL2'}; L1 stage 2 ${n.l1Stage2}, VMID ${n.l1Vmid}):`,
    '  [L2 stage 1 (S1) and the guest hypervisor\'s stage 2 (S2)]',
    ...formatWalk(r).split('\n').map((l) => '  ' + l),
  ];
  if (n.ourStage2 !== null) {
    lines.push('  [our stage 2 for the L1 PA]');
    lines.push(...formatWalk(n.ourStage2).split('\n').map((l) => '  ' + l));
  }
  if (n.hostPa !== undefined) lines.push(`  => host PA ${n.hostPa}`);
  lines.push(
    n.shadow !== null
      ? `  shadow entry: slot ${n.shadow.slot} (our VMID ${n.shadow.vmid}) IPA ${n.shadow.ipa}+${n.shadow.size} -> PA ${n.shadow.pa} (from an L1 level-${n.shadow.l1Level} leaf)`
      : '  shadow entry: none (not faulted in yet, or invalidated)',
  );
  return lines.join('\n');
}
