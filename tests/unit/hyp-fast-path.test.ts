// System-register traps at EL2: the fast path and the host-side policies, on real A64 code.
//
// Rules encoded here:
//  - Arm ARM DDI0487 D19.2.48 HCR_EL2: TVM traps writes and TRVM reads of the VM registers
//    (SCTLR/TTBR0/TTBR1/TCR/ESR/FAR/AFSR0/AFSR1/MAIR/AMAIR/CONTEXTIDR_EL1); TID3 traps the ID
//    group 3 registers; DC (bit 12) makes stage-1-off accesses Normal WB.
//  - Arm ARM D17.2.37 ESR_EL2 / D17 "ISS encoding for an exception from MSR, MRS, or System
//    instruction execution in AArch64 state": EC 0x18, IL 1, ISS = Op0[21:20] Op2[19:17]
//    Op1[16:14] CRn[13:10] Rt[9:5] CRm[4:1] Direction[0] (1 = read).
//  - Seed 000 (Ard Biesheuvel, "KVM: handle some sysreg writes in EL2" + "mangle MAIR"): a
//    trapped VM-register write is handled at EL2 without a world switch; MAIR_EL1 is mangled
//    (uncached attributes become Normal WB) on the CPU, while the guest reads back what it wrote.
//  - Seed 002 (Xen "force guest memory accesses to cacheable when MMU is disabled"): HCR_EL2.DC
//    and TVM while SCTLR_EL1.M = 0; once the guest sets M, both are cleared and the VM registers
//    stop trapping ("no ongoing overhead").
//  - Seed 004: an unknown system register warns, reads as zero, ignores writes; the guest goes on.
//  - KVM's sanitised ID registers (sys_regs.c read_id_reg): under TID3 the guest reads the
//    hypervisor's feature set (hyp/idregs.ts), not the raw CPU value.
import { afterEach, describe, expect, it } from 'vitest';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import { SR } from '../../emulator/cpu/sysregs.js';
import type { Exit, ExitAction } from '../../emulator/cpu/exits.js';
import type { MmioDevice } from '../../emulator/memory/bus.js';
import { Hypervisor, type HypervisorConfig } from '../../hyp/hypervisor.js';
import { HCR } from '../../hyp/hcr.js';
import { findSysreg } from '../../hyp/sysreg-table.js';
import { defaultFeatureSet } from '../../hyp/idregs.js';
import { DEFAULT_COST_MODEL } from '../../hyp/cost.js';
import type { GuestContext } from '../../hyp/context.js';

const BASE = 0x4000_0000;
const RAM_SIZE = 0x20_0000;

// Instruction words (aarch64-linux-gnu-as).
const A64 = {
  msrMairX1: 0xd518a201, // msr mair_el1, x1
  mrsMairX2: 0xd538a202, // mrs x2, mair_el1
  msrSctlrX3: 0xd5181003, // msr sctlr_el1, x3
  msrTcrX4: 0xd5182044, // msr tcr_el1, x4
  msrTtbr0X5: 0xd5182005, // msr ttbr0_el1, x5
  msrContextidrX6: 0xd518d026, // msr contextidr_el1, x6
  mrsContextidrX7: 0xd538d027, // mrs x7, contextidr_el1
  mrsSctlrX8: 0xd5381008, // mrs x8, sctlr_el1
  mrsMmfr0X0: 0xd5380700, // mrs x0, id_aa64mmfr0_el1
  mrsImpdefX0: 0xd538f2e0, // mrs x0, s3_0_c15_c2_7
  msrImpdefX1: 0xd518f2e1, // msr s3_0_c15_c2_7, x1
  mrsImpdefX3: 0xd538f2e3, // mrs x3, s3_0_c15_c2_7
  ldrW2X20: 0xb9400282, // ldr w2, [x20]
  self: 0x14000000, // b .
};

// ESR_EL2 for the accesses above (EC 0x18 << 26 | IL << 25 | ISS).
const ESR_MSR_MAIR_X1 = 0x6230_2824; // Op0 3, Op2 0, Op1 0, CRn 10, Rt 1, CRm 2, write
const ESR_MRS_MAIR_X2 = 0x6230_2845; // same register, Rt 2, read
const ESR_MRS_MMFR0_X0 = 0x6230_000f; // Op0 3, CRn 0, CRm 7, Op2 0, Rt 0, read

// A MAIR_EL1 value with every kind of attribute (Arm ARM D19.2.97): Attr0 0xff Normal WB,
// Attr1 0x04 Device-nGnRE, Attr2 0x44 Normal NC, Attr4 0xbb Normal WT, and Attr3/5/6/7 0x00
// Device-nGnRnE.
const GUEST_MAIR = 0x0000_00bb_0044_04ffn;
// Seed 000 mangling: every Device and Normal-NC attribute becomes 0xff; WB and WT stay.
const MANGLED_MAIR = 0xffff_ffbb_ffff_ffffn;

let open: Vcpu[] = [];
afterEach(() => {
  for (const v of open) v.close();
  open = [];
});

function boot(code: number[], cfg: Partial<HypervisorConfig> | null) {
  const v = new Vcpu({ ramBase: BASE, ramSize: RAM_SIZE });
  open.push(v);
  code.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
  v.pc = BASE;
  const hyp = cfg === null ? null : new Hypervisor(cfg);
  hyp?.attach(v, { ram: { base: BASE, size: RAM_SIZE } });
  const exits: { exit: Exit; action: ExitAction; moved: GuestContext['moved'] | null; hcr: bigint | null }[] = [];
  v.onExit = (exit, action) => exits.push({ exit, action, moved: hyp ? { ...hyp.context.moved } : null, hcr: hyp ? hyp.el2.hcr : null });
  return { v, hyp: hyp!, exits };
}

const bit = (v: bigint, n: number) => (v >> BigInt(n)) & 1n;

describe('seed 000: MAIR_EL1 write on the EL2 fast path, mangled on the CPU, read back exactly', () => {
  const code = [A64.msrMairX1, A64.mrsMairX2, A64.self];

  for (const mode of ['vhe', 'nvhe'] as const) {
    it(`${mode}: MSR MAIR_EL1 is a fast-path exit (EC 0x18, exact ISS), no context moves; CPU holds mangleMair(value); MRS returns the value`, () => {
      const { v, hyp, exits } = boot(code, { mode, mairMangle: true });
      // HCR_EL2.TVM and TRVM are set for the policy (D19.2.48).
      expect(bit(hyp.el2.hcr, HCR.TVM)).toBe(1n);
      expect(bit(hyp.el2.hcr, HCR.TRVM)).toBe(1n);
      v.setX(1, GUEST_MAIR);
      expect(v.runFor(3)).toBeNull();
      expect(v.pc).toBe(BASE + 8);
      // exit 0 is the first fetch's stage-2 fault (RAM mapped lazily), then the two sysreg traps.
      expect(exits.map((e) => e.exit.reason)).toEqual(['iabt_s2', 'sysreg', 'sysreg']);
      expect(exits[1]!.exit.esr).toBe(ESR_MSR_MAIR_X1);
      expect(exits[2]!.exit.esr).toBe(ESR_MRS_MAIR_X2);
      expect(exits[1]!.exit).toMatchObject({ op0: 3, op1: 0, crn: 10, crm: 2, op2: 0, rt: 1, read: false, value: GUEST_MAIR, pc: BASE });
      // No world switch for either: the context moved only for the stage-2 fault.
      expect(exits[2]!.moved).toEqual(exits[0]!.moved);
      expect(hyp.stats.exits).toMatchObject({ total: 3, fastPath: 2, worldSwitch: 1 });
      expect(hyp.stats.sysregTraps.MAIR_EL1).toEqual({ reads: 1, writes: 1, fastPath: 2, worldSwitch: 0 });
      expect(v.sysreg(SR.MAIR_EL1)).toBe(MANGLED_MAIR);
      expect(v.x(2)).toBe(GUEST_MAIR);
      // Cost model: a fast-path exit is the trap plus the EL2 handler, nothing more.
      const c = DEFAULT_COST_MODEL;
      expect(hyp.stats.cost.byReason.sysreg).toBe(2 * (c.trap + c.fastPath));
    });
  }

  for (const mode of ['vhe', 'nvhe'] as const) {
    it(`${mode}, fastPath: false: the same write is a world switch with the same syndrome and the same result`, () => {
      const { v, hyp, exits } = boot(code, { mode, mairMangle: true, fastPath: false });
      v.setX(1, GUEST_MAIR);
      expect(v.runFor(3)).toBeNull();
      expect(exits.map((e) => e.exit.esr)).toEqual([expect.any(Number), ESR_MSR_MAIR_X1, ESR_MRS_MAIR_X2]);
      expect(hyp.stats.exits).toMatchObject({ total: 3, fastPath: 0, worldSwitch: 3 });
      expect(hyp.stats.sysregTraps.MAIR_EL1).toEqual({ reads: 1, writes: 1, fastPath: 0, worldSwitch: 2 });
      expect(exits[1]!.moved!.runSaves).toBe(exits[0]!.moved!.runSaves + 1);
      expect(exits[2]!.moved!.runSaves).toBe(exits[0]!.moved!.runSaves + 2);
      // nVHE moves the EL1 registers on each switch, VHE leaves them on the CPU (seed 004).
      expect(exits[2]!.moved!.sysregSaves).toBe(mode === 'nvhe' ? 3 : 0);
      expect(v.sysreg(SR.MAIR_EL1)).toBe(MANGLED_MAIR);
      expect(v.x(2)).toBe(GUEST_MAIR);
      const c = DEFAULT_COST_MODEL;
      expect(hyp.stats.cost.byReason.sysreg).toBe(2 * (c.trap + c.worldSwitch[mode] + c.handler.sysreg));
    });
  }

  it('without the policy MAIR_EL1 does not trap at all and the CPU holds the value as written', () => {
    const { v, hyp, exits } = boot(code, { mairMangle: false });
    v.setX(1, GUEST_MAIR);
    expect(v.runFor(3)).toBeNull();
    expect(exits.map((e) => e.exit.reason)).toEqual(['iabt_s2']);
    expect(hyp.stats.sysregTraps.MAIR_EL1).toBeUndefined();
    expect(v.sysreg(SR.MAIR_EL1)).toBe(GUEST_MAIR);
    expect(v.x(2)).toBe(GUEST_MAIR);
  });

  // Regression (fixed; cost model): Hypervisor.lastExitWentToUserspace is reset only in worldSwitch(), so every
  // fast-path exit that follows an MMIO (user-space) exit is charged cost.userspace (5000 cycles)
  // as well. sysreg-storm --mair-mangle shows it: 5100 cycles per fast-path MAIR write instead of 100.
  it('cost: a fast-path exit after an MMIO exit costs trap + fastPath only (was a bug: charged cost.userspace too)', () => {
    const { v, hyp, exits } = boot([A64.ldrW2X20, A64.msrMairX1, A64.self], { mairMangle: true });
    const dev: MmioDevice = { name: 'd', base: 0x0900_0000, size: 0x1000, read: () => 7, write: () => {} };
    v.bus.add(dev);
    v.setX(20, 0x0900_0000n);
    v.setX(1, GUEST_MAIR);
    expect(v.runFor(3)).toBeNull();
    expect(exits.map((e) => e.exit.reason)).toEqual(['iabt_s2', 'dabt_s2', 'sysreg']);
    expect(hyp.stats.exits.userspace).toBe(1);
    const c = DEFAULT_COST_MODEL;
    expect(hyp.stats.cost.byReason.sysreg).toBe(c.trap + c.fastPath); // observed: 5100
  });
});

describe('seed 002: HCR_EL2.DC and TVM while the MMU is off, both cleared by SCTLR_EL1.M = 1', () => {
  // Identity map: one 1 GiB level-1 block for RAM (4 KB granule, T0SZ = 25: start at level 1),
  // Normal WB (AttrIndx 0, MAIR Attr0 = 0xff), AF = 1, inner shareable, EL1 RW (AP = 00).
  const L1 = BASE + 0x1_0000;
  const TCR = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 23n) | (2n << 32n); // IRGN0/ORGN0 WB, SH0 IS, EPD1, IPS 40-bit
  const code = [
    A64.msrTcrX4,
    A64.msrMairX1,
    A64.msrTtbr0X5,
    A64.msrContextidrX6,
    A64.msrSctlrX3, // M = 1
    A64.msrContextidrX6, // after: no trap
    A64.msrMairX1, // after: no trap
    A64.mrsSctlrX8,
    A64.self,
  ];

  function run(cfg: Partial<HypervisorConfig>) {
    const r = boot(code, { defaultCacheable: true, ...cfg });
    r.v.ram.write32(L1 + 8, 0x4000_0701); // entry 1: VA 0x4000_0000 -> PA 0x4000_0000, 1 GiB block
    r.v.ram.write32(L1 + 12, 0);
    r.v.setX(1, 0xffn);
    r.v.setX(3, r.v.sysreg(SR.SCTLR_EL1) | 1n);
    r.v.setX(4, TCR);
    r.v.setX(5, BigInt(L1));
    r.v.setX(6, 0x1n);
    return r;
  }

  for (const [mode, fastPath] of [['vhe', true], ['nvhe', true], ['nvhe', false]] as const) {
    it(`${mode}${fastPath ? '' : ', no fast path'}: before M: DC and TVM set, accesses with the MMU off are Normal WB; after M: both clear and VM writes run natively`, () => {
      const { v, hyp, exits } = run({ mode, fastPath });
      expect(bit(hyp.el2.hcr, HCR.DC)).toBe(1n);
      expect(bit(hyp.el2.hcr, HCR.TVM)).toBe(1n);
      let offAttr: string | null = null;
      const onExit = v.onExit!;
      v.onExit = (e, a) => {
        onExit(e, a);
        if (offAttr !== null || e.reason !== 'sysreg') return;
        const t = v.translator.inspect(BASE + 0x100);
        offAttr = t.ok ? t.attrs.name : `fault ${t.type}`;
      };
      expect(v.runFor(9)).toBeNull();
      expect(v.halted).toBeNull();
      expect(v.pc).toBe(BASE + 8 * 4);
      // HCR_EL2.DC: with stage 1 off, data accesses are Normal Inner/Outer WB (D19.2.48 DC).
      expect(offAttr).toBe('Normal-WB');
      // Five VM-register writes trapped before the MMU came on: four on the fast path, SCTLR through the host.
      const sys = exits.filter((e) => e.exit.reason === 'sysreg');
      expect(sys.map((e) => (e.exit as { crn: number }).crn)).toEqual([2, 10, 2, 13, 1]);
      // HCR_EL2 after each exit was handled: DC still set after the first four, clear after SCTLR.
      expect(sys.map((e) => [bit(e.hcr!, HCR.DC), bit(e.hcr!, HCR.TVM)])).toEqual([[1n, 1n], [1n, 1n], [1n, 1n], [1n, 1n], [0n, 0n]]);
      expect(hyp.stats.sysregTraps.SCTLR_EL1).toEqual({ reads: 0, writes: 1, fastPath: 0, worldSwitch: 1 });
      const f = fastPath ? 1 : 0;
      expect(hyp.stats.sysregTraps.TCR_EL1).toEqual({ reads: 0, writes: 1, fastPath: f, worldSwitch: 1 - f });
      expect(hyp.stats.sysregTraps.CONTEXTIDR_EL1).toEqual({ reads: 0, writes: 1, fastPath: f, worldSwitch: 1 - f });
      expect(hyp.stats.sysregTraps.MAIR_EL1).toEqual({ reads: 0, writes: 1, fastPath: f, worldSwitch: 1 - f });
      // After SCTLR_EL1.M: DC and TVM are clear and the later writes did not trap.
      expect(bit(hyp.el2.hcr, HCR.DC)).toBe(0n);
      expect(bit(hyp.el2.hcr, HCR.TVM)).toBe(0n);
      expect(v.sysreg(SR.SCTLR_EL1) & 1n).toBe(1n);
      expect(v.x(8) & 1n).toBe(1n);
      expect(v.sysreg(SR.CONTEXTIDR_EL1)).toBe(1n);
      // The MMU is on and translating through the guest's block: Normal WB from stage 1 now.
      expect(v.translator.stage1Enabled).toBe(true);
    });
  }

  it('with MAIR mangling also on, DC clears at M = 1 but TVM stays (the other policy still needs it)', () => {
    const { v, hyp, exits } = run({ mairMangle: true });
    expect(v.runFor(9)).toBeNull();
    expect(bit(hyp.el2.hcr, HCR.DC)).toBe(0n);
    expect(bit(hyp.el2.hcr, HCR.TVM)).toBe(1n);
    // The two writes after M still trap (on the fast path), the MRS SCTLR too (TRVM).
    expect(exits.filter((e) => e.exit.reason === 'sysreg')).toHaveLength(8);
    expect(hyp.stats.sysregTraps.CONTEXTIDR_EL1!.writes).toBe(2);
  });

  it('an SCTLR_EL1 write that leaves M = 0 keeps DC and TVM', () => {
    const { v, hyp } = run({});
    v.setX(3, v.sysreg(SR.SCTLR_EL1) & ~1n);
    expect(v.runFor(9)).toBeNull();
    expect(bit(hyp.el2.hcr, HCR.DC)).toBe(1n);
    expect(bit(hyp.el2.hcr, HCR.TVM)).toBe(1n);
    expect(hyp.stats.sysregTraps.CONTEXTIDR_EL1!.writes).toBe(2);
  });
});

describe('seed 004: an encoding no table row knows is UNDEFINED for the guest (as KVM injects), or RAZ/WI for bring-up', () => {
  it('MRS S3_0_C15_C2_7 at EL1: an Undefined Instruction exception at the MRS (EC 0x00), Xt untouched, counted', () => {
    expect(findSysreg({ op0: 3, op1: 0, crn: 15, crm: 2, op2: 7 })).toBeUndefined();
    const { v, hyp, exits } = boot([A64.mrsImpdefX0, A64.self], {});
    v.setX(0, 0xffff_ffffn);
    expect(v.runFor(1)).toBeNull();
    expect(v.x(0)).toBe(0xffff_ffffn);
    expect(v.exceptions.byTarget.EL1).toEqual({ unknown: 1 });
    expect(Number(v.sysreg(SR.ESR_EL1))).toBe(0x0200_0000);
    expect(Number(v.sysreg(SR.ELR_EL1))).toBe(BASE);
    expect(hyp.stats.unknownSysregs).toEqual({ S3_0_C15_C2_7: 1 });
    expect(exits[1]!.exit.esr).toBe(0x6200_0000 | (3 << 20) | (7 << 17) | (15 << 10) | (0 << 5) | (2 << 1) | 1);
  });

  it("unknownSysreg 'raz': MRS/MSR S3_0_C15_C2_7 at EL1 read 0, the write is ignored, no exception, counted in unknownSysregs", () => {
    const { v, hyp, exits } = boot([A64.mrsImpdefX0, A64.msrImpdefX1, A64.mrsImpdefX3, A64.self], { unknownSysreg: 'raz' });
    v.setX(0, 0xffff_ffffn);
    v.setX(1, 0x1234n);
    v.setX(3, 0xffff_ffffn);
    expect(v.runFor(4)).toBeNull();
    expect(v.halted).toBeNull();
    expect(v.pc).toBe(BASE + 12);
    expect(v.x(0)).toBe(0n);
    expect(v.x(3)).toBe(0n);
    expect(v.exceptions.byTarget.EL1).toBeUndefined(); // no UNDEFINED injected
    expect(hyp.stats.unknownSysregs).toEqual({ S3_0_C15_C2_7: 3 });
    // ESR_EL2 ISS: Op0 3, Op2 7, Op1 0, CRn 15, Rt 0, CRm 2, read.
    expect(exits[1]!.exit.esr).toBe(0x6200_0000 | (3 << 20) | (7 << 17) | (15 << 10) | (0 << 5) | (2 << 1) | 1);
  });
});

describe('ID registers under HCR_EL2.TID3 come from the sanitised feature set', () => {
  it('MRS ID_AA64MMFR0_EL1 returns hyp/idregs.ts (TGran16 = 1), not the raw core value 0x1124', () => {
    const { v, hyp, exits } = boot([A64.mrsMmfr0X0, A64.self], {});
    expect(bit(hyp.el2.hcr, HCR.TID3)).toBe(1n);
    expect(v.runFor(2)).toBeNull();
    const want = defaultFeatureSet().value('ID_AA64MMFR0_EL1');
    expect(v.x(0)).toBe(want);
    expect(v.x(0)).not.toBe(0x1124n);
    // D19.2 ID_AA64MMFR0_EL1 fields: PARange [3:0] = 2 (40 bits), TGran16 [23:20] = 1,
    // TGran64 [27:24] = 0 and TGran4 [31:28] = 0 (supported).
    expect(Number(v.x(0) & 0xfn)).toBe(2);
    expect(Number((v.x(0) >> 20n) & 0xfn)).toBe(1);
    expect(Number((v.x(0) >> 24n) & 0xfn)).toBe(0);
    expect(Number((v.x(0) >> 28n) & 0xfn)).toBe(0);
    expect(exits[1]!.exit.esr).toBe(ESR_MRS_MMFR0_X0);
    // Answered on the EL2 fast path (hyp/fast-path.ts): no world switch, no context moved.
    expect(hyp.stats.sysregTraps.ID_AA64MMFR0_EL1).toEqual({ reads: 1, writes: 0, fastPath: 1, worldSwitch: 0 });
    // exits[0] is the stage-2 fault of the first instruction fetch (RAM mapped on demand).
    expect(hyp.stats.exits).toMatchObject({ total: 2, fastPath: 1, worldSwitch: 1 });
    expect(exits[1]!.moved).toEqual(exits[0]!.moved);
    expect(hyp.exitPath(exits[1]!.exit)).toBe('fast path');
  });

  for (const mode of ['vhe', 'nvhe'] as const) {
    it(`${mode}, fastPath: false: the same read is a world switch with the same value and syndrome`, () => {
      const { v, hyp, exits } = boot([A64.mrsMmfr0X0, A64.self], { mode, fastPath: false });
      expect(v.runFor(2)).toBeNull();
      expect(v.x(0)).toBe(defaultFeatureSet().value('ID_AA64MMFR0_EL1'));
      expect(exits[1]!.exit.esr).toBe(ESR_MRS_MMFR0_X0);
      expect(hyp.stats.sysregTraps.ID_AA64MMFR0_EL1).toEqual({ reads: 1, writes: 0, fastPath: 0, worldSwitch: 1 });
      expect(hyp.stats.exits).toMatchObject({ total: 2, fastPath: 0, worldSwitch: 2 });
    });
  }

  it('CCSIDR_EL1 on the fast path follows CSSELR_EL1 (Level 1 data, then instruction)', () => {
    // CSSELR_EL1 and CCSIDR_EL1 are ID group 2: trapped only under HCR_EL2.TID2 (set here).
    const code = [0xd51a0001 /* msr csselr_el1, x1 */, 0xd5390002 /* mrs x2, ccsidr_el1 */, A64.self];
    const { v, hyp } = boot(code, {});
    hyp.el2.hcr |= 1n << BigInt(HCR.TID2);
    v.setX(1, 1n); // Level 1, InD = 1: instruction cache
    expect(v.runFor(3)).toBeNull();
    expect(v.x(2)).toBe(defaultFeatureSet().value('CCSIDR_EL1[1]'));
    expect(hyp.stats.sysregTraps.CCSIDR_EL1).toEqual({ reads: 1, writes: 0, fastPath: 1, worldSwitch: 0 });
    // The CSSELR_EL1 write is not an ID read: world switch.
    expect(hyp.stats.sysregTraps.CSSELR_EL1).toEqual({ reads: 0, writes: 1, fastPath: 0, worldSwitch: 1 });
  });

  it('without a hypervisor the core answers itself: 0x1124 (no TGran16)', () => {
    const { v } = boot([A64.mrsMmfr0X0, A64.self], null);
    expect(v.runFor(2)).toBeNull();
    expect(v.x(0)).toBe(0x1124n);
  });
});
