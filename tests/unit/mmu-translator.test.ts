// The vCPU's MMU translator (emulator/cpu/mmu-translator.ts) on real A64 code with the stage-1
// MMU on: TLB maintenance and unprivileged loads.
//
// Rules encoded here:
//  - Arm ARM DDI0487 D8.14 "TLB maintenance" / D8.14.1 break-before-make: after a translation
//    table entry is changed, a TLBI VAE1 (by VA) or VMALLE1 (whole stage-1 EL1&0 regime) followed
//    by DSB and ISB guarantees the new entry is used; both paths are checked, with the TLBI
//    executed natively (no hypervisor) and trapped to the EL2 model (Hypervisor attached).
//  - Arm ARM C6.2 LDTR "Load Register (unprivileged)" and D8.4 "Memory access control": an LDTR
//    at EL1 is checked with EL0 permissions (when PSTATE.UAO = 0 and not EL2&0), so on a page
//    with AP[2:1] = 0b00 (EL1 only) it takes a Permission fault, where an LDR succeeds. The fault
//    is taken to EL1 as a Data Abort from the current EL: EC 0x25, DFSC 0b0011ll (permission,
//    level ll), FAR = the VA (D17.2.40 ESR_EL1, ISS for a Data Abort).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../emulator/package-root.js';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import { SR } from '../../emulator/cpu/sysregs.js';
import { Access } from '../../emulator/cpu/translator.js';
import { Hypervisor } from '../../hyp/hypervisor.js';

const BASE = 0x4000_0000;
const RAM_SIZE = 0x40_0000;
const VBAR = BASE + 0x800;
const L1 = BASE + 0x1_0000; // level-1 table (4 KB granule, T0SZ = 25: 39-bit VA, start level 1)
const L2 = BASE + 0x1_1000;
const L3 = BASE + 0x1_2000;
const PAGE_A = BASE + 0x3_0000;
const PAGE_B = BASE + 0x3_1000;
const PAGE_USER = BASE + 0x3_2000;
const VA_K = 0x8000_0000; // L3[0]: kernel-only (AP = 00)
const VA_U = 0x8000_1000; // L3[1]: EL0 and EL1 read/write (AP = 01)

const A64 = {
  ldrX1X10: 0xf9400141, // ldr x1, [x10]
  ldrX2X10: 0xf9400142, // ldr x2, [x10]
  strX12X11: 0xf900016c, // str x12, [x11]
  dsbIshst: 0xd5033a9f,
  dsbIsh: 0xd5033b9f,
  isb: 0xd5033fdf,
  tlbiVae1X13: 0xd508872d, // tlbi vae1, x13
  tlbiVae1X15: 0xd508872f, // tlbi vae1, x15
  tlbiVale1X13: 0xd50887ad, // tlbi vale1, x13
  tlbiVmalle1: 0xd508871f, // tlbi vmalle1
  icIvauX10: 0xd50b752a, // ic ivau, x10 (SYS #3, C7, C5, #1)
  icIvauX14: 0xd50b752e, // ic ivau, x14
  ldtrX3X14: 0xf84009c3, // ldtr x3, [x14]
  ldtrX2X10: 0xf8400942, // ldtr x2, [x10]
  ldtrX2X10p8: 0xf8408942, // ldtr x2, [x10, #8]
  self: 0x14000000, // b .
};

// Stage-1 descriptors (D8.3): AF [10], SH [9:8] = 0b11, AP [7:6], AttrIndx [4:2] = 0 (MAIR Attr0 = 0xff).
const block1G = (pa: number) => BigInt(pa) | 0x701n; // level-1 block, EL1 RW
const table = (pa: number) => BigInt(pa) | 0x3n;
const pageK = (pa: number) => BigInt(pa) | 0x703n; // level-3 page, AP = 00: EL1 RW, EL0 none
const pageU = (pa: number) => BigInt(pa) | 0x743n; // AP = 01: EL1 and EL0 RW (UXN/PXN clear: data only)
const TCR = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 23n) | (2n << 32n);

/** The native TLBI front (tlb-flush.c) is built and not switched off: TLBI by VA on a 4 KiB page completes in C. */
const frontBuilt = existsSync(join(packageRoot(), 'vendor/native/libhypemu-tlb-flush.so')) && process.env.HYPEMU_NATIVE_TLBI !== 'off' && process.env.HYPEMU_TLB_PAGE_FLUSH !== 'off';

let open: Vcpu[] = [];
afterEach(() => {
  for (const v of open) v.close();
  open = [];
});

function w64(v: Vcpu, pa: number, d: bigint): void {
  v.ram.write32(pa, Number(d & 0xffff_ffffn));
  v.ram.write32(pa + 4, Number(d >> 32n));
}

/** A vCPU at EL1 with the MMU on, identity-mapped RAM and the two test pages; optionally under the hypervisor. */
function machine(code: number[], withHyp: boolean) {
  const v = new Vcpu({ ramBase: BASE, ramSize: RAM_SIZE });
  open.push(v);
  code.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
  for (let off = 0; off < 0x800; off += 4) v.ram.write32(VBAR + off, A64.self);
  w64(v, L1 + 1 * 8, block1G(BASE)); // VA 0x4000_0000.. -> itself
  w64(v, L1 + 2 * 8, table(L2)); // VA 0x8000_0000..
  w64(v, L2, table(L3));
  w64(v, L3, pageK(PAGE_A));
  w64(v, L3 + 8, pageU(PAGE_USER));
  w64(v, PAGE_A, 0xaaaa_aaaa_0000_0001n);
  w64(v, PAGE_A + 8, 0xaaaa_aaaa_0000_0002n);
  w64(v, PAGE_B, 0xbbbb_bbbb_0000_0001n);
  w64(v, PAGE_USER, 0x5555_0000_0000_0001n);
  let hyp: Hypervisor | null = null;
  if (withHyp) {
    hyp = new Hypervisor({});
    hyp.attach(v, { ram: { base: BASE, size: RAM_SIZE } });
  }
  v.setSysreg(SR.VBAR_EL1, BigInt(VBAR));
  v.setSysreg(SR.MAIR_EL1, 0xffn);
  v.setSysreg(SR.TCR_EL1, TCR);
  v.setSysreg(SR.TTBR0_EL1, BigInt(L1));
  v.setSysreg(SR.SCTLR_EL1, v.sysreg(SR.SCTLR_EL1) | 1n);
  v.pc = BASE;
  v.setX(10, BigInt(VA_K));
  v.setX(11, BigInt(L3)); // the PTE of VA_K, through the identity block
  v.setX(12, pageK(PAGE_B));
  v.setX(13, BigInt(VA_K / 0x1000)); // TLBI VAE1 operand: VA[55:12] in Xt[43:0], ASID 0
  v.setX(14, BigInt(VA_U));
  return { v, hyp };
}

const el1 = (v: Vcpu) => ({ esr: Number(v.sysreg(SR.ESR_EL1)), far: Number(v.sysreg(SR.FAR_EL1)), elr: Number(v.sysreg(SR.ELR_EL1)) });

describe('TLB maintenance: a changed PTE is used after TLBI + DSB + ISB (D8.14)', () => {
  const program = (tlbi: number) => [A64.ldrX1X10, A64.strX12X11, A64.dsbIshst, tlbi, A64.dsbIsh, A64.isb, A64.ldrX2X10, A64.self];

  for (const withHyp of [false, true]) {
    for (const [name, tlbi] of [
      ['VAE1', A64.tlbiVae1X13],
      ['VALE1', A64.tlbiVale1X13],
      ['VMALLE1', A64.tlbiVmalle1],
    ] as const) {
      it(`TLBI ${name} ${withHyp ? 'under the EL2 model, HCR_EL2.TTLB clear (native, no exit)' : 'executed natively (no hypervisor)'}: the second load reads the new page`, () => {
        const { v, hyp } = machine(program(tlbi), withHyp);
        expect(v.runFor(8)).toBeNull();
        expect(v.halted).toBeNull();
        expect(v.exceptions.byTarget.EL1).toBeUndefined();
        expect(v.pc).toBe(BASE + 7 * 4);
        expect(v.x(1)).toBe(0xaaaa_aaaa_0000_0001n); // old translation: PAGE_A
        expect(v.x(2)).toBe(0xbbbb_bbbb_0000_0001n); // new translation: PAGE_B
        expect(v.tlbiCount).toBe(1);
        // By VA, on a 4 KiB page: completed by the native front, the model TLB told from its queue.
        if (frontBuilt) expect(v.uc.tlbiFront?.handled).toBe(name === 'VMALLE1' ? 0 : 1);
        const t = v.translator.probe(VA_K, Access.READ, 1);
        expect(t.ok ? t.pa : null).toBe(PAGE_B);
        // TTLB clear: no world switch, no exit at all (issue 10); the model TLB was told natively.
        if (hyp) expect(hyp.stats.sysregTraps[`TLBI_${name}`]).toBeUndefined();
        if (hyp) expect(hyp.stats.exits.byReason.sysreg).toBe(0);
      });
    }
  }

  for (const [name, tlbi, op2, crm] of [
    ['VAE1', A64.tlbiVae1X13, 1, 7],
    ['VMALLE1', A64.tlbiVmalle1, 0, 7],
  ] as const) {
    it(`TLBI ${name} with HCR_EL2.TTLB set exits with the exact syndrome (EC 0x18, D19.2.48 TTLB) and the second load reads the new page`, () => {
      const { v, hyp } = machine(program(tlbi), true);
      hyp!.el2.hcr = hyp!.el2.hcr | (1n << 25n); // TTLB
      const seen: number[] = [];
      v.onExit = (e) => {
        if (e.reason === 'sysreg') seen.push(e.esr);
      };
      expect(v.runFor(8)).toBeNull();
      expect(v.x(2)).toBe(0xbbbb_bbbb_0000_0001n);
      if (frontBuilt) expect(v.uc.tlbiFront?.handled).toBe(0);
      expect(hyp!.stats.sysregTraps[`TLBI_${name}`]).toMatchObject({ writes: 1 });
      expect(seen).toHaveLength(1);
      // ISS: Op0 [21:20] = 1, Op2 [19:17], Op1 [16:14] = 0, CRn [13:10] = 8, Rt [9:5], CRm [4:1], Direction [0] = 0 (write).
      const iss = seen[0]! & 0x1ff_ffff;
      expect(seen[0]! >>> 26).toBe(0x18);
      expect([(iss >> 20) & 3, (iss >> 17) & 7, (iss >> 14) & 7, (iss >> 10) & 15, (iss >> 1) & 15, iss & 1]).toEqual([1, op2, 0, 8, crm, 0]);
    });
  }

  it.skipIf(!frontBuilt)('the native TLBI front completes a TLBI by VA of a 4 KiB page and leaves one inside a block Unicorn holds entries from to JavaScript', () => {
    const { v, hyp } = machine([A64.ldrX1X10, A64.strX12X11, A64.dsbIshst, A64.tlbiVae1X15, A64.tlbiVae1X13, A64.dsbIsh, A64.isb, A64.ldrX2X10, A64.self], true);
    v.setX(15, BigInt((BASE + 0x2000) / 0x1000)); // a page of the 1 GiB identity block the code is fetched through
    expect(v.runFor(9)).toBeNull();
    expect(v.x(2)).toBe(0xbbbb_bbbb_0000_0001n);
    expect(v.tlbiCount).toBe(2);
    expect(v.uc.tlbiFront?.handled).toBe(1);
    // Two guest TLBIs, one of them in C: the block's went through JavaScript, neither exited.
    expect(hyp!.stats.exits.byReason.sysreg).toBe(0);
  });

  it('the translator sees stage 1 on, and walks the guest tables (VA -> IPA -> PA under stage 2)', () => {
    const { v } = machine([A64.ldrX1X10, A64.self], true);
    expect(v.runFor(2)).toBeNull();
    expect(v.translator.stage1Enabled).toBe(true);
    const out = v.translator.inspect(VA_K + 0x10);
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.ipa).toBe(PAGE_A + 0x10);
    expect(out.pa).toBe(PAGE_A + 0x10);
    expect(out.s1Level).toBe(3);
    expect(out.attrs.name).toBe('Normal-WB');
  });
});

// IC IVAU (Arm ARM C5.3.13) routed native does something in JavaScript only for a page whose code
// snapshot a TLB entry holds (emulator/cpu/code-guard.ts icInvalidate); the native gate
// (tlb-flush.c) lets every other one run in C, by the translation the native fill cache holds.
describe('the native IC IVAU gate: an IC IVAU whose page holds no code snapshot runs without JavaScript', () => {
  for (const withHyp of [false, true]) {
    it.skipIf(!frontBuilt)(`${withHyp ? 'under the EL2 model' : 'bare vCPU'}: by a VA the fill cache translates, in C; by one it does not hold, in JavaScript`, () => {
      const { v, hyp } = machine([A64.ldrX1X10, A64.icIvauX10, A64.icIvauX14, A64.self], withHyp);
      expect(v.uc.tlbiFront?.hasIcGate).toBe(true);
      expect(v.runFor(4)).toBeNull();
      expect(v.pc).toBe(BASE + 12);
      // VA_K was just loaded from (its data entry is in the fill cache): C; VA_U never accessed: JavaScript.
      expect(v.uc.tlbiFront?.icHandled).toBe(1);
      if (hyp) expect(hyp.stats.exits.byReason.sysreg).toBe(0); // neither trapped
    });
  }

  it.skipIf(!frontBuilt)('an IC IVAU onto a page whose snapshot a TLB entry received goes to JavaScript (the code guard retakes it)', () => {
    const { v } = machine([A64.ldrX1X10, A64.icIvauX10, A64.self], false);
    v.uc.tlbiFront!.addIcPage(PAGE_A); // what the code guard records when it hands out PAGE_A's snapshot
    expect(v.runFor(3)).toBeNull();
    expect(v.uc.tlbiFront?.icHandled).toBe(0);
    // A whole flush empties the set (CodeGuard.tlbFlushed): the same IC IVAU is C's again.
    v.flushTlb();
    v.pc = BASE;
    expect(v.runFor(3)).toBeNull();
    expect(v.uc.tlbiFront?.icHandled).toBe(1);
  });

  it.skipIf(!frontBuilt)('with HCR_EL2.TPU set the gate is closed: the IC IVAU exits with its syndrome (EC 0x18, D19.2.48 TPU)', () => {
    const { v, hyp } = machine([A64.ldrX1X10, A64.icIvauX10, A64.self], true);
    hyp!.el2.hcr = hyp!.el2.hcr | (1n << 24n); // TPU
    const seen: number[] = [];
    v.onExit = (e) => {
      if (e.reason === 'sysreg') seen.push(e.esr);
    };
    expect(v.runFor(3)).toBeNull();
    expect(v.uc.tlbiFront?.icHandled).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]! >>> 26).toBe(0x18);
  });
});

describe('LDTR at EL1 is checked with EL0 permissions (C6.2 LDTR, D8.4)', () => {
  for (const withHyp of [false, true]) {
    it(`${withHyp ? 'under the hypervisor' : 'bare vCPU'}: LDR of a kernel-only page succeeds, LDTR of it faults: EC 0x25, permission level 3, exact FAR`, () => {
      const { v } = machine([A64.ldrX1X10, A64.ldtrX3X14, A64.ldtrX2X10p8, A64.self], withHyp);
      v.setX(2, 0x5eed_5eedn);
      expect(v.runFor(3)).toBeNull();
      expect(v.x(1)).toBe(0xaaaa_aaaa_0000_0001n); // LDR (privileged) of the kernel-only page
      expect(v.x(3)).toBe(0x5555_0000_0000_0001n); // LDTR of a user page works
      // The LDTR of the kernel-only page: Data Abort from the current EL, DFSC 0b001111.
      expect(v.pc).toBe(VBAR + 0x200);
      const r = el1(v);
      expect(r.esr).toBe(0x9600_000f); // EC 0x25, IL 1, WnR 0, DFSC permission level 3
      expect(r.far).toBe(VA_K + 8);
      expect(r.elr).toBe(BASE + 8);
      expect(v.x(2)).toBe(0x5eed_5eedn); // nothing loaded
      expect(v.exceptions.byTarget.EL1).toEqual({ dabt_cur: 1 });
    });
  }

  it('the translator agrees: the kernel-only page is readable at EL1 and a permission fault at level 3 for EL0', () => {
    const { v } = machine([A64.ldrX1X10, A64.self], false);
    expect(v.runFor(2)).toBeNull();
    const p1 = v.translator.probe(VA_K, Access.READ, 1);
    expect(p1.ok).toBe(true);
    const p0 = v.translator.probe(VA_K, Access.READ, 0);
    expect(p0.ok).toBe(false);
    if (p0.ok) return;
    expect(p0.fault).toMatchObject({ stage: 1, fsc: 0x0f, level: 3 });
    const u0 = v.translator.probe(VA_U, Access.WRITE, 0);
    expect(u0.ok).toBe(true);
  });

  it('LDTR after an LDR of the same page: the privileged TLB entry does not leak to the unprivileged access', () => {
    const { v } = machine([A64.ldrX1X10, A64.ldrX1X10, A64.ldtrX2X10, A64.self], true);
    v.setX(2, 0x5eed_5eedn);
    expect(v.runFor(4)).toBeNull();
    expect(v.pc).toBe(VBAR + 0x200);
    expect(el1(v)).toEqual({ esr: 0x9600_000f, far: VA_K, elr: BASE + 8 });
    expect(v.x(2)).toBe(0x5eed_5eedn);
  });
});
