// Trap routing by HCR_EL2 (hyp/traps.ts). Each rule is an HCR_EL2 field description of the
// Arm ARM DDI0487 D19.2.48 "HCR_EL2, Hypervisor Configuration Register"; MDCR_EL2 rules are
// its D19.2 register description. For every bit: clear -> the access runs natively, set -> it
// traps with that bit as the reason, and a register of another group is unaffected.
import { describe, expect, it } from 'vitest';
import { routeAccess, trapsSmc, routeHvc, routeWfx, routePmuEl0, PMUSERENR, NATIVE, TRAP_UNKNOWN, TRAP_EMULATE, UNDEF, SCTLR_NTWI, SCTLR_NTWE, pmuEventCounterIndex } from '../../hyp/traps.js';
import type { AccessInfo, TrapControls } from '../../hyp/traps.js';
import { findSysreg, sysregByName, SCTLR_EL0_ENABLE, MDCR } from '../../hyp/sysreg-table.js';
import { HCR, hcrOf, splitHcr, type HcrBitName } from '../../hyp/hcr.js';

function acc(name: string, read: boolean, el = 1): AccessInfo {
  const r = sysregByName(name);
  if (!r) throw new Error(`no row ${name}`);
  return { read, el, op0: r.op0, op1: r.op1, crn: r.crn, crm: r.crm, op2: r.op2 };
}
function route(hcr: bigint | TrapControls, name: string, read: boolean, el = 1) {
  return routeAccess(hcr, sysregByName(name), acc(name, read, el));
}
/** What the access does with no trap bit: native, or 'emulate' for rows the core cannot run. */
function untrapped(name: string) {
  return sysregByName(name)!.cpu === 'emulate' ? TRAP_EMULATE : NATIVE;
}

// [bit, what the Arm ARM field traps (D19.2.48), members (name, read), neighbour in another group]
const cases: [HcrBitName, string, [string, boolean][], [string, boolean]][] = [
  ['TVM', 'writes of SCTLR/TTBR0/TTBR1/TCR/ESR/FAR/AFSR0/AFSR1/MAIR/AMAIR/CONTEXTIDR_EL1',
    [['SCTLR_EL1', false], ['TTBR0_EL1', false], ['TTBR1_EL1', false], ['TCR_EL1', false], ['ESR_EL1', false], ['FAR_EL1', false],
     ['AFSR0_EL1', false], ['AFSR1_EL1', false], ['MAIR_EL1', false], ['AMAIR_EL1', false], ['CONTEXTIDR_EL1', false]],
    ['VBAR_EL1', false]],
  ['TRVM', 'reads of the same registers',
    [['SCTLR_EL1', true], ['TTBR1_EL1', true], ['MAIR_EL1', true], ['CONTEXTIDR_EL1', true]], ['TPIDR_EL1', true]],
  ['TID1', 'ID group 1: REVIDR_EL1, AIDR_EL1', [['REVIDR_EL1', true], ['AIDR_EL1', true]], ['MIDR_EL1', true]],
  ['TID2', 'ID group 2: CTR_EL0, CCSIDR_EL1, CCSIDR2_EL1, CLIDR_EL1, CSSELR_EL1 (read and write)',
    [['CTR_EL0', true], ['CCSIDR_EL1', true], ['CCSIDR2_EL1', true], ['CLIDR_EL1', true], ['CSSELR_EL1', true], ['CSSELR_EL1', false]],
    ['DCZID_EL0', true]],
  ['TID4', 'FEAT_EVT cache geometry: CCSIDR_EL1, CCSIDR2_EL1, CLIDR_EL1, CSSELR_EL1 (read and write), not CTR_EL0',
    [['CCSIDR_EL1', true], ['CCSIDR2_EL1', true], ['CLIDR_EL1', true], ['CSSELR_EL1', true], ['CSSELR_EL1', false]],
    ['CTR_EL0', true]],
  ['TID3', 'ID group 3: op0=3 op1=0 CRn=0 CRm=1..7, allocated or not',
    [['ID_AA64PFR0_EL1', true], ['ID_AA64MMFR0_EL1', true], ['ID_PFR0_EL1', true], ['MVFR2_EL1', true], ['S3_0_C0_C3_3', true], ['S3_0_C0_C7_7', true]],
    ['REVIDR_EL1', true]],
  ['TACR', 'ACTLR_EL1', [['ACTLR_EL1', true], ['ACTLR_EL1', false]], ['CPACR_EL1', false]],
  ['TSW', 'DC ISW/CSW/CISW', [['DC_ISW', false], ['DC_CSW', false], ['DC_CISW', false]], ['DC_CIVAC', false]],
  ['TPCP', 'DC IVAC/CVAC/CIVAC/CVAP/CVADP (to the PoC / PoP)',
    [['DC_IVAC', false], ['DC_CVAC', false], ['DC_CIVAC', false], ['DC_CVAP', false], ['DC_CVADP', false]], ['DC_CVAU', false]],
  ['TPU', 'IC IVAU/IALLU/IALLUIS, DC CVAU', [['IC_IVAU', false], ['IC_IALLU', false], ['IC_IALLUIS', false], ['DC_CVAU', false]], ['DC_CVAC', false]],
  ['TTLB', 'TLB maintenance at EL1',
    [['TLBI_VMALLE1IS', false], ['TLBI_VAE1', false], ['TLBI_ASIDE1OS', false], ['TLBI_RVAALE1IS', false], ['TLBI_VALE1NXS', false]],
    ['IC_IALLU', false]],
  ['TDZ', 'DC ZVA', [['DC_ZVA', false]], ['DC_CVAC', false]],
  ['TLOR', 'LORSA/LOREA/LORN/LORC/LORID_EL1', [['LORC_EL1', false], ['LORID_EL1', true]], ['MAIR_EL1', false]],
  ['TERR', 'ERRIDR/ERRSELR/ERX*_EL1', [['ERRIDR_EL1', true], ['ERXSTATUS_EL1', false]], ['ESR_EL1', true]],
];

describe('routeAccess: one HCR_EL2 bit at a time (D19.2.48)', () => {
  for (const [bit, what, members, [nName, nRead]] of cases) {
    it(`${bit} (bit ${HCR[bit]}): ${what}`, () => {
      const set = hcrOf(bit);
      for (const [name, read] of members) {
        expect(route(0n, name, read), `${name} with ${bit} clear`).toBe(untrapped(name));
        const r = route(set, name, read);
        expect(r.route, `${name} with ${bit} set`).toBe('trap');
        expect(r.reason).toBe(bit);
        // Same answer through the split-halves form the hot path uses.
        expect(route(splitHcr(set), name, read)).toBe(r);
      }
      expect(route(set, nName, nRead), `neighbour ${nName}`).toBe(untrapped(nName));
    });
  }

  it('TVM traps writes only and TRVM reads only', () => {
    expect(route(hcrOf('TVM'), 'MAIR_EL1', true)).toBe(NATIVE);
    expect(route(hcrOf('TRVM'), 'MAIR_EL1', false)).toBe(NATIVE);
  });

  it('APK (bit 40) traps the pointer-authentication key registers while CLEAR', () => {
    const r = route(0n, 'APIAKEYLO_EL1', false);
    expect(r.route).toBe('trap');
    expect(r.reason).toBe('APK');
    expect(route(0n, 'APGAKEYHI_EL1', true).reason).toBe('APK');
    expect(route(hcrOf('APK'), 'APIAKEYLO_EL1', false)).toBe(NATIVE);
    expect(route(hcrOf('APK'), 'APDBKEYHI_EL1', true)).toBe(NATIVE);
    expect(route(0n, 'TPIDR_EL1', false)).toBe(NATIVE); // neighbour
  });

  it('TIDCP (bit 20) traps the IMPLEMENTATION DEFINED space op0=3 CRn=11/15; otherwise unknown', () => {
    const impdef = { read: true, el: 1, op0: 3, op1: 1, crn: 15, crm: 2, op2: 0 };
    expect(findSysreg(impdef)).toBeUndefined();
    expect(routeAccess(hcrOf('TIDCP'), undefined, impdef).reason).toBe('TIDCP');
    expect(routeAccess(hcrOf('TIDCP'), undefined, { ...impdef, crn: 11 }).reason).toBe('TIDCP');
    expect(routeAccess(0n, undefined, impdef)).toBe(TRAP_UNKNOWN);
    // Not IMPDEF space: unknown even with TIDCP set.
    expect(routeAccess(hcrOf('TIDCP'), undefined, { ...impdef, crn: 10 })).toBe(TRAP_UNKNOWN);
  });

  it('an unknown register always traps, whatever HCR_EL2 says (seed 004: warn once, RAZ/WI)', () => {
    const e = { read: false, el: 1, op0: 3, op1: 0, crn: 10, crm: 2, op2: 7 };
    expect(findSysreg(e)).toBeUndefined();
    expect(routeAccess(0n, undefined, e)).toBe(TRAP_UNKNOWN);
    expect(routeAccess(~0n, undefined, e)).toBe(TRAP_UNKNOWN);
  });

  it('rows the core cannot run trap as "emulate" when no bit applies (GIC CPU interface, AT, RNDR)', () => {
    for (const n of ['ICC_IAR1_EL1', 'ICC_SRE_EL1', 'AT_S1E1R', 'RNDR']) expect(route(0n, n, n !== 'AT_S1E1R')).toBe(TRAP_EMULATE);
  });

  it('TLBI runs natively while HCR_EL2.TTLB is clear (the vCPU tells the model TLB), and traps when it is set (D19.2.48 TTLB)', () => {
    for (const n of ['TLBI_VMALLE1', 'TLBI_VAALE1IS', 'TLBI_RVAE1OSNXS']) {
      expect(route(0n, n, false)).toBe(NATIVE);
      expect(route(1n << BigInt(HCR.TTLB), n, false).reason).toBe('TTLB');
    }
  });

  it('the answer is one of a fixed set of objects (the hot path allocates nothing)', () => {
    const c: TrapControls = { lo: 0, hi: 0 };
    const row = sysregByName('MAIR_EL1');
    const a = acc('MAIR_EL1', false);
    c.lo = 1 << HCR.TVM;
    const first = routeAccess(c, row, a);
    for (let i = 0; i < 1000; i++) expect(routeAccess(c, row, a)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });
});

describe('routeAccess at EL0', () => {
  const all = ~0n;
  it('EL1-only registers and operations UNDEF at EL0 (to EL1, before any EL2 trap): native', () => {
    for (const [n, read] of [['SCTLR_EL1', false], ['MAIR_EL1', true], ['ID_AA64PFR0_EL1', true], ['ACTLR_EL1', true],
      ['DC_ISW', false], ['DC_IVAC', false], ['TLBI_VMALLE1IS', false], ['IC_IALLU', false], ['REVIDR_EL1', true]] as const)
      expect(route(all, n, read, 0), n).toBe(NATIVE);
  });

  it('TID2 traps CTR_EL0 at EL0 (SCTLR_EL1.UCT = 1), unless UCT = 0 sends it to EL1 first', () => {
    expect(route(hcrOf('TID2'), 'CTR_EL0', true, 0).reason).toBe('TID2');
    const c: TrapControls = { ...splitHcr(hcrOf('TID2')), sctlrEl1: 0 };
    expect(route(c, 'CTR_EL0', true, 0)).toBe(NATIVE);
    c.sctlrEl1 = SCTLR_EL0_ENABLE.UCT;
    expect(route(c, 'CTR_EL0', true, 0).reason).toBe('TID2');
  });

  it('TPU traps IC IVAU and DC CVAU at EL0; TPCP traps DC CIVAC at EL0 (SCTLR_EL1.UCI = 1)', () => {
    expect(route(hcrOf('TPU'), 'IC_IVAU', false, 0).reason).toBe('TPU');
    expect(route(hcrOf('TPU'), 'DC_CVAU', false, 0).reason).toBe('TPU');
    expect(route(hcrOf('TPCP'), 'DC_CIVAC', false, 0).reason).toBe('TPCP');
    const c: TrapControls = { ...splitHcr(hcrOf('TPU')), sctlrEl1: 0 };
    expect(route(c, 'IC_IVAU', false, 0)).toBe(NATIVE); // UCI = 0: trapped to EL1
  });

  it('TDZ traps DC ZVA at EL0 (SCTLR_EL1.DZE = 1)', () => {
    expect(route(hcrOf('TDZ'), 'DC_ZVA', false, 0).reason).toBe('TDZ');
    expect(route({ ...splitHcr(hcrOf('TDZ')), sctlrEl1: 0 }, 'DC_ZVA', false, 0)).toBe(NATIVE);
    expect(route({ ...splitHcr(hcrOf('TDZ')), sctlrEl1: SCTLR_EL0_ENABLE.DZE }, 'DC_ZVA', false, 0).reason).toBe('TDZ');
  });

  it('EL0 context registers are untouched by every HCR bit', () => {
    expect(route(hcrOf('TVM', 'TRVM', 'TID3', 'TACR'), 'TPIDR_EL0', false, 0)).toBe(NATIVE);
    expect(route(hcrOf('TVM', 'TRVM', 'TID3', 'TACR'), 'TPIDRRO_EL0', true, 0)).toBe(NATIVE);
  });
});

describe('routeAccess: MDCR_EL2 (D19.2 "MDCR_EL2")', () => {
  const m = (bits: (keyof typeof MDCR)[]): TrapControls => ({ lo: 0, hi: 0, mdcr: bits.reduce((a, b) => a | (1 << MDCR[b]), 0) });
  it('TDA traps MDSCR_EL1 and the breakpoint registers, not the OS lock', () => {
    expect(route(m(['TDA']), 'MDSCR_EL1', false).reason).toBe('MDCR.TDA');
    expect(route(m(['TDA']), 'DBGBCR0_EL1', true).reason).toBe('MDCR.TDA');
    expect(route(m(['TDA']), 'OSLAR_EL1', false)).toBe(NATIVE);
    expect(route(m([]), 'MDSCR_EL1', false)).toBe(NATIVE);
  });
  it('TDOSA traps OSLAR/OSLSR/OSDLR; TDRA traps MDRAR', () => {
    expect(route(m(['TDOSA']), 'OSLAR_EL1', false).reason).toBe('MDCR.TDOSA');
    expect(route(m(['TDOSA']), 'OSDLR_EL1', false).reason).toBe('MDCR.TDOSA');
    expect(route(m(['TDRA']), 'MDRAR_EL1', true).reason).toBe('MDCR.TDRA');
    expect(route(m(['TDOSA']), 'MDSCR_EL1', true)).toBe(NATIVE);
  });
  it('TPM traps the PMU registers; TPMCR only PMCR_EL0', () => {
    expect(route(m(['TPM']), 'PMCCFILTR_EL0', false).reason).toBe('MDCR.TPM');
    expect(route(m(['TPMCR']), 'PMCR_EL0', true).reason).toBe('MDCR.TPMCR');
    expect(route(m(['TPMCR']), 'PMSELR_EL0', true)).toBe(TRAP_EMULATE);
  });
  it('TDE makes TDA, TDOSA and TDRA apply (MDCR_EL2 description, TDE), and nothing in the PMU', () => {
    expect(route(m(['TDE']), 'DBGBCR0_EL1', false).reason).toBe('MDCR.TDA');
    expect(route(m(['TDE']), 'MDSCR_EL1', true).reason).toBe('MDCR.TDA');
    expect(route(m(['TDE']), 'OSLAR_EL1', false).reason).toBe('MDCR.TDOSA');
    expect(route(m(['TDE']), 'MDRAR_EL1', true).reason).toBe('MDCR.TDRA');
    expect(route(m(['TDE']), 'PMCR_EL0', true)).toBe(TRAP_EMULATE);
  });
});

describe('routeAccess: MDCR_EL2.HPMN (D13.3; the PMEVCNTR<n>_EL0 / PMEVTYPER<n>_EL0 access pseudocode)', () => {
  const ctl = (hpmn: number, bits: (keyof typeof MDCR)[] = [], pmsel?: number): TrapControls => ({
    lo: 0, hi: 0, mdcr: hpmn | bits.reduce((a, b) => a | (1 << MDCR[b]), 0), ...(pmsel === undefined ? {} : { pmsel }),
  });
  it('counters n >= HPMN are UNDEFINED at EL1 and EL0 (PMEVCNTR<n>, PMEVTYPER<n>); below HPMN they reach the PMU', () => {
    for (const el of [1, 0]) {
      expect(route(ctl(4), 'PMEVCNTR3_EL0', true, el)).toBe(TRAP_EMULATE);
      expect(route(ctl(4), 'PMEVTYPER3_EL0', false, el)).toBe(TRAP_EMULATE);
      expect(route(ctl(4), 'PMEVCNTR4_EL0', true, el)).toBe(UNDEF);
      expect(route(ctl(4), 'PMEVCNTR4_EL0', false, el)).toBe(UNDEF);
      expect(route(ctl(4), 'PMEVTYPER5_EL0', true, el)).toBe(UNDEF);
      expect(route(ctl(4), 'PMEVCNTR30_EL0', true, el)).toBe(UNDEF);
    }
    expect(route(ctl(0), 'PMEVCNTR0_EL0', true)).toBe(UNDEF);
    expect(route(ctl(31), 'PMEVCNTR30_EL0', true)).toBe(TRAP_EMULATE);
  });
  it('the cycle counter, its filter and the other PMU registers are not counters HPMN reserves', () => {
    for (const name of ['PMCCFILTR_EL0', 'PMCCNTR_EL0', 'PMCR_EL0', 'PMCNTENSET_EL0', 'PMOVSSET_EL0', 'PMSWINC_EL0']) {
      expect(route(ctl(0), name, name !== 'PMSWINC_EL0')).toBe(TRAP_EMULATE);
    }
  });
  it('MDCR_EL2.TPM is checked first: the access traps to EL2 whatever HPMN says', () => {
    expect(route(ctl(2, ['TPM']), 'PMEVCNTR5_EL0', true).reason).toBe('MDCR.TPM');
    expect(route(ctl(2, ['TPMCR']), 'PMEVCNTR5_EL0', true)).toBe(UNDEF);
  });
  it('PMXEVCNTR_EL0 / PMXEVTYPER_EL0: PMSELR_EL0.SEL >= HPMN is UNDEFINED (as KVM), SEL 31 is the cycle filter', () => {
    expect(route(ctl(4, [], 3), 'PMXEVCNTR_EL0', true)).toBe(TRAP_EMULATE);
    expect(route(ctl(4, [], 4), 'PMXEVCNTR_EL0', true)).toBe(UNDEF);
    expect(route(ctl(4, [], 4), 'PMXEVTYPER_EL0', false)).toBe(UNDEF);
    expect(route(ctl(4, [], 31), 'PMXEVTYPER_EL0', false)).toBe(TRAP_EMULATE);
    expect(route(ctl(4), 'PMXEVCNTR_EL0', true)).toBe(TRAP_EMULATE); // SEL not given: not checked
  });
  it('pmuEventCounterIndex: n = CRm<1:0>:op2 in CRn 14, CRm 8..15, except PMCCFILTR_EL0', () => {
    const key = (n: string) => sysregByName(n)!.key;
    expect(pmuEventCounterIndex(key('PMEVCNTR0_EL0'))).toBe(0);
    expect(pmuEventCounterIndex(key('PMEVCNTR13_EL0'))).toBe(13);
    expect(pmuEventCounterIndex(key('PMEVTYPER30_EL0'))).toBe(30);
    expect(pmuEventCounterIndex(key('PMCCFILTR_EL0'))).toBe(-1);
    expect(pmuEventCounterIndex(key('PMCR_EL0'))).toBe(-1);
    expect(pmuEventCounterIndex(key('CNTKCTL_EL1'))).toBe(-1);
  });
});

describe('EL0 PMU access (PMUSERENR_EL0: EN, SW, CR, ER)', () => {
  const key = (n: string) => sysregByName(n)!.key;
  it('EN enables everything but a PMUSERENR_EL0 write, which is UNDEFINED at EL0', () => {
    expect(routePmuEl0(key('PMCR_EL0'), true, PMUSERENR.EN)).toBe('ok');
    expect(routePmuEl0(key('PMEVTYPER3_EL0'), false, PMUSERENR.EN)).toBe('ok');
    expect(routePmuEl0(key('PMUSERENR_EL0'), true, 0)).toBe('ok');
    expect(routePmuEl0(key('PMUSERENR_EL0'), false, PMUSERENR.EN)).toBe('undefined');
  });
  it('SW: PMSWINC writes; CR: PMCCNTR reads; ER: event counter reads and PMSELR; else a trap to EL1', () => {
    expect(routePmuEl0(key('PMSWINC_EL0'), false, PMUSERENR.SW)).toBe('ok');
    expect(routePmuEl0(key('PMSWINC_EL0'), false, PMUSERENR.CR | PMUSERENR.ER)).toBe('el1');
    expect(routePmuEl0(key('PMCCNTR_EL0'), true, PMUSERENR.CR)).toBe('ok');
    expect(routePmuEl0(key('PMCCNTR_EL0'), false, PMUSERENR.CR)).toBe('el1');
    expect(routePmuEl0(key('PMEVCNTR30_EL0'), true, PMUSERENR.ER)).toBe('ok');
    expect(routePmuEl0(key('PMEVCNTR0_EL0'), false, PMUSERENR.ER)).toBe('el1');
    expect(routePmuEl0(key('PMXEVCNTR_EL0'), true, PMUSERENR.ER)).toBe('ok');
    expect(routePmuEl0(key('PMSELR_EL0'), false, PMUSERENR.ER)).toBe('ok');
    expect(routePmuEl0(key('PMEVTYPER0_EL0'), true, PMUSERENR.ER | PMUSERENR.CR | PMUSERENR.SW)).toBe('el1');
    expect(routePmuEl0(key('PMCR_EL0'), true, 0)).toBe('el1');
  });
});

describe('SMC and WFI/WFE', () => {
  const lo = (b: bigint) => splitHcr(b).lo;
  it('TSC (bit 19) traps SMC at EL1; SMC at EL0 is UNDEFINED, never trapped to EL2', () => {
    expect(trapsSmc(lo(hcrOf('TSC')), 1)).toBe(true);
    expect(trapsSmc(0, 1)).toBe(false);
    expect(trapsSmc(lo(hcrOf('TSC')), 0)).toBe(false);
    expect(trapsSmc(lo(hcrOf('TWI', 'TWE')), 1)).toBe(false); // neighbour bits
  });
  it('TWI (bit 13) traps WFI only, TWE (bit 14) WFE only, at EL1 and EL0', () => {
    expect(routeWfx(lo(hcrOf('TWI')), false, 1)).toBe('el2');
    expect(routeWfx(lo(hcrOf('TWI')), true, 1)).toBe('native');
    expect(routeWfx(lo(hcrOf('TWE')), true, 1)).toBe('el2');
    expect(routeWfx(lo(hcrOf('TWE')), false, 1)).toBe('native');
    expect(routeWfx(0, false, 1)).toBe('native');
    expect(routeWfx(lo(hcrOf('TWI')), false, 0)).toBe('el2');
    expect(routeWfx(lo(hcrOf('TSC')), false, 1)).toBe('native');
  });
  it('HVC: UNDEFINED at EL0 and under HCD (bit 29); otherwise to EL2', () => {
    expect(routeHvc(0, 1)).toBe('el2');
    expect(routeHvc(lo(hcrOf('HCD')), 1)).toBe('undefined');
    expect(routeHvc(0, 0)).toBe('undefined');
    expect(routeHvc(lo(hcrOf('TSC', 'TWI', 'TWE')), 1)).toBe('el2'); // other bits
  });
  it('an EL0 WFx that SCTLR_EL1.nTWI/nTWE = 0 traps goes to EL1 first', () => {
    expect(routeWfx(lo(hcrOf('TWI')), false, 0, 0)).toBe('el1');
    expect(routeWfx(lo(hcrOf('TWI')), false, 0, SCTLR_NTWI)).toBe('el2');
    expect(routeWfx(lo(hcrOf('TWE')), true, 0, SCTLR_NTWE)).toBe('el2');
    expect(routeWfx(0, true, 0, SCTLR_NTWE)).toBe('native');
    expect(routeWfx(lo(hcrOf('TWI')), false, 1, 0)).toBe('el2'); // SCTLR_EL1.nTWx only concerns EL0
  });
});
