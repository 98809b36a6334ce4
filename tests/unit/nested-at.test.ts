// AT from a guest hypervisor at virtual EL2 (issue 12): AT S1E1R/W and S1E0R/W are stage 1
// only (their PAR holds the IPA; a stage-2 fault can only come from a stage-1 table walk,
// PAR.S = 1, PAR.PTW = 1); AT S12E1R/W and S12E0R/W translate both stages (PAR holds the PA,
// a stage-2 fault on the final IPA is PAR.S = 1, PTW = 0). Arm ARM C5.5 "A64 system
// instructions for address translation" (AT S1E1R, AT S12E1R), D19.2 PAR_EL1.
import { describe, expect, it } from 'vitest';
import { TestRam, setLeaf, tcr, vtcr, type TableWriter } from './mmu-helpers.js';
import { decodeStage1, decodeStage2, stage2Disabled } from '../../emulator/mmu/config.js';
import { makeS1Page, makeS2Page } from '../../emulator/mmu/descriptors.js';
import type { GuestCpu } from '../../emulator/cpu/guest-cpu.js';
import type { SysInsnAccess } from '../../emulator/cpu/exits.js';
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';
import { atFromVel2 } from '../../hyp/nested/at.js';
import { l2El1Index, L2_EL1_CONTEXT, type VirtualEl2 } from '../../hyp/nested/vregs.js';
import { formatNestedWalk, nestedWalk } from '../../hyp/nested/walk.js';

const RAM = 0x4000_0000;
const L2_VA = 0x1000_0000;
/** L2 IPA the stage-1 page maps to, and the L1 PA L1's stage 2 maps that IPA to. */
const DATA_IPA = 0x4080_0000;
const DATA_PA = 0x40a0_0000;

/** L2 stage-1 tables and L1's stage 2 in guest RAM; L1's stage 2 maps the stage-1 tables 1:1. */
function world(opts: { mapData: boolean; mapS1Tables: boolean }) {
  const ram = new TestRam(RAM, 16 << 20);
  const s2root = ram.alloc(0x1000);
  const VTCR = vtcr({ t0sz: 32, sl0: 1, ps: 2 });
  const VTTBR = BigInt(s2root) | (5n << 48n);
  const s2: TableWriter = { ram, g: decodeStage2({ vtcr: VTCR, vttbr: VTTBR, hcr: 1n }).geometry, root: s2root };
  const TCR = tcr({ t0sz: 32, epd1: true, ips: 2 });
  const s1root = ram.alloc(0x1000);
  const s1: TableWriter = { ram, g: decodeStage1({ sctlr: 1n, tcr: TCR, ttbr0: BigInt(s1root), ttbr1: 0n, mair: 0xffn }).ranges[0]!.geometry, root: s1root };
  setLeaf(s1, L2_VA, 3, makeS1Page(DATA_IPA, 12, { ap: 1 })); // EL1 and EL0 RW
  // the stage-1 tables (root and the ones setLeaf created) are L1 PAs = L2 IPAs, 1:1
  if (opts.mapS1Tables) for (let t = RAM; t < RAM + 0x10_000; t += 0x1000) if (t !== s2root) setLeaf(s2, t, 3, makeS2Page(t, 12));
  if (opts.mapData) setLeaf(s2, DATA_IPA, 3, makeS2Page(DATA_PA, 12));
  const l2El1 = L2_EL1_CONTEXT.map(() => 0n);
  const set = (e: typeof SR.SCTLR_EL1, v: bigint) => (l2El1[l2El1Index(sysregKey(e))] = v);
  set(SR.SCTLR_EL1, 1n);
  set(SR.TCR_EL1, TCR);
  set(SR.TTBR0_EL1, BigInt(s1root));
  set(SR.MAIR_EL1, 0xffn);
  const vel2 = new Map<string, bigint>([
    ['HCR_EL2', 1n],
    ['VTCR_EL2', VTCR],
    ['VTTBR_EL2', VTTBR],
  ]);
  const cpu = { descriptorMemory: () => ram.mem } as unknown as GuestCpu;
  const walk = (): string =>
    formatNestedWalk(
      nestedWalk(cpu, L2_VA, {
        mode: 'vel2',
        vel2: { get: (n: string) => vel2.get(n) ?? 0n } as VirtualEl2,
        l2El1,
        l1Vmid: 5,
        shadows: [],
        ours: { config: stage2Disabled(), mem: ram.mem },
        guestMem: ram.mem,
      }),
    );
  const at = (op1: number, op2: number): bigint => {
    const a: SysInsnAccess = { op0: 1, op1, crn: 7, crm: 8, op2, rt: 0, read: false, value: BigInt(L2_VA), pc: 0, el: 1 };
    return atFromVel2({ l2El1, vel2: { get: (n: string) => vel2.get(n) ?? 0n } }, cpu, a)!;
  };
  return { at, walk };
}

const S1E1R = [0, 0] as const;
const S1E0W = [0, 3] as const;
const S12E1R = [4, 4] as const;
const S12E0W = [4, 7] as const;
const paOf = (par: bigint): number => Number(par & 0xffff_ffff_f000n);
const fault = (par: bigint) => ({ f: Number(par & 1n), fst: Number((par >> 1n) & 0x3fn), ptw: Number((par >> 8n) & 1n), s: Number((par >> 9n) & 1n) });

describe('AT at virtual EL2 (Arm ARM C5.5): S1E1*/S1E0* stop at stage 1, S12E1*/S12E0* translate both stages', () => {
  it('S1E1R/S1E0W give the IPA even when L1\'s stage 2 has no entry for it', () => {
    const { at } = world({ mapData: false, mapS1Tables: true });
    for (const [op1, op2] of [S1E1R, S1E0W]) {
      const par = at(op1, op2);
      expect(par & 1n).toBe(0n);
      expect(paOf(par)).toBe(DATA_IPA);
    }
  });
  it('S12E1R/S12E0W report the stage-2 translation fault on the final IPA (S = 1, PTW = 0; level 2: no L3 table there)', () => {
    const { at } = world({ mapData: false, mapS1Tables: true });
    for (const [op1, op2] of [S12E1R, S12E0W]) expect(fault(at(op1, op2))).toEqual({ f: 1, fst: 0b000110, ptw: 0, s: 1 });
  });
  it('with the IPA mapped: S1E1R gives the IPA, S12E1R the L1 PA', () => {
    const { at } = world({ mapData: true, mapS1Tables: true });
    expect(paOf(at(...S1E1R))).toBe(DATA_IPA);
    expect(paOf(at(...S12E1R))).toBe(DATA_PA);
    expect(paOf(at(...S12E0W))).toBe(DATA_PA);
  });
  it('a stage-1 table L1\'s stage 2 does not map: S1E1R faults at stage 2 on the walk (S = 1, PTW = 1)', () => {
    const { at } = world({ mapData: true, mapS1Tables: false });
    const f = fault(at(...S1E1R));
    expect(f).toMatchObject({ f: 1, ptw: 1, s: 1 });
    expect(f.fst & 0b111100).toBe(0b000100); // a translation fault
  });
});

describe('the nested walk (--walk / monitor walk) with L2\'s stage 1 on: all three stages', () => {
  it('L2 stage-1 levels, each stage-1 table read through L1\'s stage 2 (S1PTW), L1\'s stage 2 for the final IPA, then ours', () => {
    const { walk } = world({ mapData: true, mapS1Tables: true });
    const text = walk();
    expect(text).toMatch(/nested walk of L2 VA 0x10000000 \(guest hypervisor at virtual EL2; L1 stage 2 on, VMID 5\)/);
    expect(text.match(/^ +S1 L[0-3] /gm)?.length).toBe(3); // 4 KB granule, 32-bit VA: levels 1-3
    expect(text).toMatch(/page -> 0x40800000/); // L2's stage-1 leaf: the IPA
    expect(text).toMatch(/page -> 0x40a00000/); // L1's stage-2 leaf for that IPA: the L1 PA
    expect(text).toContain('[our stage 2 for the L1 PA]');
    expect(text).toMatch(/=> IPA 0x40800000 PA 0x40a00000/);
  });
});
