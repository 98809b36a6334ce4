// PMUv3 model (emulator/devices/pmu.ts) against Arm ARM D13 "The Performance Monitors Extension".
import { describe, expect, it } from 'vitest';
import { Pmu, PMU_EVENT, PMCR } from '../../emulator/devices/pmu.js';

const ENC = {
  PMCR: [3, 3, 9, 12, 0], PMCNTENSET: [3, 3, 9, 12, 1], PMCNTENCLR: [3, 3, 9, 12, 2], PMOVSCLR: [3, 3, 9, 12, 3],
  PMSWINC: [3, 3, 9, 12, 4], PMSELR: [3, 3, 9, 12, 5], PMCEID0: [3, 3, 9, 12, 6], PMCEID1: [3, 3, 9, 12, 7],
  PMCCNTR: [3, 3, 9, 13, 0], PMXEVTYPER: [3, 3, 9, 13, 1], PMXEVCNTR: [3, 3, 9, 13, 2], PMUSERENR: [3, 3, 9, 14, 0],
  PMINTENSET: [3, 0, 9, 14, 1], PMCCFILTR: [3, 3, 14, 15, 7],
} as const;
const evcntr = (n: number) => [3, 3, 14, 8 + (n >> 3), n & 7] as const;
const evtyper = (n: number) => [3, 3, 14, 12 + (n >> 3), n & 7] as const;
const e = (a: readonly number[]) => ({ op0: a[0]!, op1: a[1]!, crn: a[2]!, crm: a[3]!, op2: a[4]! });

function rig(opts: { mdcr?: bigint } = {}) {
  const st = { insns: 0, el: 1, irq: false, mdcr: opts.mdcr };
  const pmu = new Pmu({ instructions: () => st.insns, el: () => st.el, setIrq: (l) => (st.irq = l), mdcr: () => st.mdcr });
  const rd = (r: readonly number[]) => pmu.sysregAccess(e(r), true, 0n);
  const wr = (r: readonly number[], v: bigint) => pmu.sysregAccess(e(r), false, v);
  return { st, pmu, rd, wr };
}

describe('PMCR_EL0 and identification (D19.4)', () => {
  it('N = 6, IMP 0x41, IDCODE 1 as QEMU -cpu max; P and C write-only; LC/LP/E read back', () => {
    const { rd, wr } = rig();
    expect(rd(ENC.PMCR)).toBe(0x41013000n);
    wr(ENC.PMCR, PMCR.E | PMCR.P | PMCR.C | PMCR.LC | PMCR.LP);
    expect(rd(ENC.PMCR)).toBe(0x41013000n | PMCR.E | PMCR.LC | PMCR.LP);
  });
  it('PMCEID0/1 advertise SW_INCR, INST_RETIRED, CPU_CYCLES, CHAIN, STALL_FRONTEND/BACKEND only', () => {
    const { rd } = rig();
    expect(rd(ENC.PMCEID0)).toBe((1n << 0n) | (1n << 8n) | (1n << 0x11n) | (1n << 0x1en));
    expect(rd(ENC.PMCEID1)).toBe((1n << 3n) | (1n << 4n));
  });
  it('MDCR_EL2.HPMN limits what EL1 sees (N reads as HPMN, higher counters RAZ/WI)', () => {
    const { rd, wr } = rig({ mdcr: 2n });
    expect((rd(ENC.PMCR)! >> 11n) & 0x1fn).toBe(2n);
    wr(evcntr(3), 5n);
    expect(rd(evcntr(3))).toBe(0n);
    wr(ENC.PMCNTENSET, 0xffff_ffffn);
    expect(rd(ENC.PMCNTENSET)).toBe(0x8000_0003n);
  });
  it('counters >= HPMN count under MDCR_EL2.HPME, not PMCR_EL0.E, and their overflow is not the guest\'s interrupt', () => {
    const { st, pmu, rd, wr } = rig({ mdcr: 2n });
    // EL2 programs counter 4 (INST_RETIRED, about to wrap) with its interrupt enabled.
    st.el = 2;
    wr(evtyper(4), BigInt(PMU_EVENT.INST_RETIRED) | (1n << 27n)); // NSH: count at EL2 too
    wr(evcntr(4), 0xffff_fff0n);
    wr(ENC.PMCNTENSET, 0x10n);
    wr(ENC.PMINTENSET, 0x10n);
    st.el = 1;
    wr(ENC.PMCR, PMCR.E); // the guest's enable does not start EL2's counter
    st.insns = 100;
    pmu.sync();
    st.el = 2;
    expect(rd(evcntr(4))).toBe(0xffff_fff0n);
    expect(st.irq).toBe(false);
    st.mdcr = 2n | 0x80n; // HPME
    st.el = 1;
    wr(ENC.PMCR, 0n); // and the guest's PMCR_EL0.E no longer matters to it
    st.insns = 200;
    pmu.sync();
    st.el = 2;
    expect(rd(evcntr(4))).toBe(0x1_0000_0054n);
    expect(rd(ENC.PMOVSCLR)).toBe(0x10n);
    expect(st.irq).toBe(true);
    st.el = 1;
    expect(rd(ENC.PMOVSCLR)).toBe(0n); // not visible at EL1
  });
});

describe('counting', () => {
  it('cycle counter and INST_RETIRED count exactly the retired instructions while enabled', () => {
    const { st, rd, wr } = rig();
    wr(evtyper(0), BigInt(PMU_EVENT.INST_RETIRED));
    wr(evtyper(1), BigInt(PMU_EVENT.CPU_CYCLES));
    wr(ENC.PMCNTENSET, 0x8000_0003n);
    st.insns = 100; // not counting yet: PMCR.E = 0
    wr(ENC.PMCR, PMCR.E | PMCR.LC);
    st.insns = 1100;
    expect(rd(evcntr(0))).toBe(1000n);
    expect(rd(evcntr(1))).toBe(1000n);
    expect(rd(ENC.PMCCNTR)).toBe(1000n);
    wr(ENC.PMCNTENCLR, 1n);
    st.insns = 1500;
    expect(rd(evcntr(0))).toBe(1000n);
    expect(rd(evcntr(1))).toBe(1400n);
  });
  it('filters: PMEVTYPER.P excludes EL1, U excludes EL0', () => {
    const { st, rd, wr } = rig();
    wr(evtyper(0), BigInt(PMU_EVENT.INST_RETIRED) | (1n << 31n));
    wr(evtyper(1), BigInt(PMU_EVENT.INST_RETIRED) | (1n << 30n));
    wr(ENC.PMCNTENSET, 3n);
    wr(ENC.PMCR, PMCR.E);
    st.insns = 50;
    expect(rd(evcntr(0))).toBe(0n);
    expect(rd(evcntr(1))).toBe(50n);
  });
  it('PMSELR/PMXEVTYPER/PMXEVCNTR reach counter SEL; SEL 31 selects PMCCFILTR', () => {
    const { rd, wr } = rig();
    wr(ENC.PMSELR, 0n);
    wr(ENC.PMXEVTYPER, 0xean);
    wr(ENC.PMXEVCNTR, 0xdeadbeefn);
    expect(rd(evtyper(0))).toBe(0xean);
    expect(rd(evcntr(0))).toBe(0xdeadbeefn);
    wr(ENC.PMSELR, 31n);
    wr(ENC.PMXEVTYPER, 1n << 31n);
    expect(rd(ENC.PMCCFILTR)).toBe(1n << 31n);
  });
  it('SW_INCR counts only when PMCR.E, the enable bit and event 0 are set; 32-bit overflow sets PMOVS', () => {
    const { rd, wr } = rig();
    wr(evtyper(0), 0n);
    wr(evtyper(1), 0n);
    wr(ENC.PMCNTENSET, 3n);
    wr(evcntr(0), 0xffff_fff0n);
    for (let i = 0; i < 100; i++) wr(ENC.PMSWINC, 1n);
    expect(rd(evcntr(0))).toBe(0xffff_fff0n);
    wr(ENC.PMCR, PMCR.E);
    for (let i = 0; i < 100; i++) wr(ENC.PMSWINC, 3n);
    // PMUv3p5: bits [63:0] count, overflow is at bit 31 unless PMCR.LP.
    expect(rd(evcntr(0))).toBe(0xffff_fff0n + 100n);
    expect(rd(evcntr(1))).toBe(100n);
    expect(rd(ENC.PMOVSCLR)).toBe(1n);
  });
  it('CHAIN on the odd counter counts overflows of the even one', () => {
    const { rd, wr } = rig();
    wr(evtyper(0), 0n);
    wr(evtyper(1), BigInt(PMU_EVENT.CHAIN));
    wr(ENC.PMCNTENSET, 3n);
    wr(ENC.PMCR, PMCR.E);
    wr(evcntr(0), 0xffff_ffffn);
    wr(ENC.PMSWINC, 1n);
    expect(rd(evcntr(1))).toBe(1n);
    expect(rd(ENC.PMOVSCLR)).toBe(1n);
  });
  it('overflow interrupt: level while PMCR.E, PMINTENSET[n] and PMOVSSET[n]; instructionsToOverflow bounds the slice', () => {
    const { st, pmu, rd, wr } = rig();
    wr(evtyper(0), BigInt(PMU_EVENT.INST_RETIRED));
    wr(evcntr(0), 0xffff_ff00n);
    wr(ENC.PMCNTENSET, 1n);
    wr(ENC.PMINTENSET, 1n);
    wr(ENC.PMCR, PMCR.E);
    expect(pmu.instructionsToOverflow()).toBe(0x100);
    st.insns = 0x80;
    expect(pmu.instructionsToOverflow()).toBe(0x80);
    pmu.sync();
    expect(st.irq).toBe(false);
    st.insns = 0x100;
    pmu.sync();
    expect(st.irq).toBe(true);
    wr(ENC.PMOVSCLR, 1n);
    expect(st.irq).toBe(false);
    expect(rd(evcntr(0))).toBe(0x1_0000_0000n);
  });
  it('EL0 needs PMUSERENR_EL0 (EN, or CR for cycle-counter reads)', () => {
    const { st, rd, wr } = rig();
    st.el = 0;
    expect(rd(ENC.PMCCNTR)).toBeNull();
    st.el = 1;
    wr(ENC.PMUSERENR, 4n);
    st.el = 0;
    expect(rd(ENC.PMCCNTR)).toBe(0n);
    expect(wr(ENC.PMCCNTR, 1n)).toBeNull();
  });
});

describe('catalogue rows', () => {
  it('the PMU replaces the architectural RAZ/WI PMU rows with device rows it answers', async () => {
    const { SysregCatalogue } = await import('../../emulator/cpu/sysreg-catalogue.js');
    const { ARCH_SYSREGS } = await import('../../emulator/cpu/sysreg-rows.js');
    const { registerPmu, PMU_SYSREGS } = await import('../../emulator/devices/pmu.js');
    const cat = new SysregCatalogue(ARCH_SYSREGS);
    expect(cat.byName('PMCR_EL0')!.device).toBeNull();
    const { pmu } = rig();
    registerPmu(cat, pmu);
    expect(PMU_SYSREGS.length).toBe(17 + 62);
    const pmcr = cat.byName('PMCR_EL0')!;
    expect(pmcr.storage).toBe('device');
    expect(pmcr.device!.read(pmcr)).toBe(0x41013000n);
    const sel = cat.byName('PMSELR_EL0')!;
    sel.device!.write(sel, 3n);
    expect(sel.device!.read(sel)).toBe(3n);
    expect(cat.byName('PMEVTYPER30_EL0')!.device).not.toBeNull();
  });
});

describe('MDCR_EL2.TPM / TPMCR through the trap rules (D19.2 "MDCR_EL2"), on the virt board', () => {
  it('TPMCR traps PMCR_EL0 alone, TPM every PMU register; the trapped access is emulated with the PMU model', async () => {
    const { VirtMachine } = await import('../../emulator/platform/virt.js');
    const { VIRT } = await import('../../emulator/platform/memmap.js');
    const { Hypervisor } = await import('../../hyp/hypervisor.js');
    const B = 0x4008_0000;
    const run = (mdcr: bigint) => {
      const m = new VirtMachine({ uartOut: () => {} });
      try {
        const hyp = new Hypervisor();
        hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
        hyp.el2.set('MDCR_EL2', mdcr);
        m.debugControl = () => hyp.el2.get('MDCR_EL2');
        // mrs x0, pmcr_el0; mrs x1, pmccntr_el0; b .
        [0xd53b9c00, 0xd53b9d01, 0x14000000].forEach((w, i) => m.vcpu.ram.write32(B + 4 * i, w));
        m.vcpu.pc = B;
        const traps: string[] = [];
        m.vcpu.onExit = (e) => {
          if (e.reason === 'sysreg') traps.push(`${(e as { row: { name: string } | null }).row?.name}:${String((e as { trap: unknown }).trap)}`);
        };
        expect(m.vcpu.runFor(20)).toBeNull();
        return { traps, x0: m.vcpu.x(0), pc: m.vcpu.pc, insns: m.vcpu.instructions };
      } finally {
        m.close();
      }
    };
    const plain = run(6n);
    expect(plain.traps).toEqual([]);
    expect(plain.x0).toBe(0x41013000n);
    const tpmcr = run(6n | (1n << 5n));
    expect(tpmcr.traps).toEqual(['PMCR_EL0:MDCR.TPMCR']);
    expect(tpmcr.x0).toBe(0x41013000n);
    const tpm = run(6n | (1n << 6n));
    expect(tpm.pc - B).toBe(8);
    expect(tpm.traps).toEqual(['PMCR_EL0:MDCR.TPM', 'PMCCNTR_EL0:MDCR.TPM']);
  });
});
