// The Debug Communications Channel registers at EL0 (issue 13): MDCCSR_EL0, DBGDTR_EL0 and
// DBGDTRRX_EL0/DBGDTRTX_EL0 are accessible at EL0 unless MDSCR_EL1.TDCC is set, which traps the
// access to EL1 as a system access trap, EC 0x18 (Arm ARM D19, the registers' access pseudocode:
// "if PSTATE.EL == EL0 then if MDSCR_EL1.TDCC == '1' then AArch64.SystemAccessTrap(EL1, 0x18)").
// With no external debugger they read as zero and ignore writes (KVM: trap_raz_wi).
// QEMU 7.2 -cpu max agrees for MDCCSR_EL0 with TDCC clear (a local debug-fuzz variant that prints
// each access's outcome); it implements neither TDCC nor DBGDTR*_EL0 (both UNDEFINED there, at EL1
// too; QEMU 8 added them as above).
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor, DEFAULT_HYP_CONFIG } from '../../hyp/hypervisor.js';
import { SR } from '../../emulator/cpu/sysregs.js';

const B = 0x4008_0000;
const USER = B + 0x100;
const VBAR = 0x4009_0000;
// EL1: MDSCR_EL1 = x9, then ERET to USER at EL0t (SPSR_EL1 = 0, ELR_EL1 = USER).
const EL1 = [
  0xd5100249, // msr mdscr_el1, x9
  0xd5033fdf, // isb
  0xd69f03e0, // eret
];
// EL0 (aarch64-linux-gnu-as):
const EL0 = [
  0xd5330100, // mrs x0, mdccsr_el0
  0xd5330401, // mrs x1, dbgdtr_el0
  0xd5130505, // msr dbgdtrtx_el0, x5
  0xd5330502, // mrs x2, dbgdtrrx_el0
  0xd2800023, // mov x3, #1
  0x14000000, // b .
];

let machine: VirtMachine | null = null;
afterEach(() => {
  machine?.close();
  machine = null;
});

function run(mdscr: bigint, insns: number, code = EL0, at = USER) {
  const m = new VirtMachine({ uartOut: () => {} });
  machine = m;
  const hyp = new Hypervisor({ ...DEFAULT_HYP_CONFIG });
  hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
  const v = m.vcpu;
  EL1.forEach((w, i) => v.ram.write32(B + 4 * i, w));
  code.forEach((w, i) => v.ram.write32(at + 4 * i, w));
  for (let i = 0; i < 0x800 / 4; i++) v.ram.write32(VBAR + 4 * i, 0xd503201f); // nops
  v.setSysreg(SR.VBAR_EL1, BigInt(VBAR));
  v.setSysreg(SR.SPSR_EL1, 0n); // EL0t
  v.setSysreg(SR.ELR_EL1, BigInt(USER));
  v.setX(9, mdscr);
  for (const r of [0, 1, 2]) v.setX(r, 0x55n);
  v.setX(5, 0x1234n);
  v.pc = at === USER ? B : at;
  expect(v.runFor(insns)).toBeNull();
  return { v, hyp };
}

describe('DCC registers at EL0 (MDSCR_EL1.TDCC)', () => {
  it('TDCC clear: EL0 reads them as zero and writes DBGDTRTX_EL0, no exception', () => {
    const { v } = run(0n, EL1.length + 5);
    expect(v.el).toBe(0);
    expect([v.x(0), v.x(1), v.x(2), v.x(3)]).toEqual([0n, 0n, 0n, 1n]);
    expect(v.pc).toBe(USER + 0x14);
    expect(v.exceptions.byTarget.EL1).toBeUndefined();
  });

  it('TDCC set: the first access traps to EL1 with EC 0x18 and its ISS, ELR at the MRS', () => {
    const { v } = run(1n << 12n, EL1.length + 2);
    expect(v.el).toBe(1);
    // EC 0x18, IL, ISS: Op0 2 [21:20], Op2 0, Op1 3 [16:14], CRn 0, Rt 0, CRm 1 [4:1], read.
    expect(Number(v.sysreg(SR.ESR_EL1))).toBe(0x6220_c003);
    expect(Number(v.sysreg(SR.ELR_EL1))).toBe(USER);
    expect(v.x(0)).toBe(0x55n);
    expect(v.pc).toBe(VBAR + 0x400 + 4); // lower EL, AArch64, synchronous; one nop run
  });

  it('at EL1 too: DBGDTR_EL0 reads as zero (was UNDEFINED: an unknown encoding)', () => {
    const B1 = B + 0x200;
    const { v } = run(0n, 3, [0xd5330401, 0xd5130505, 0xd5330502, 0x14000000], B1);
    expect(v.el).toBe(1);
    expect([v.x(1), v.x(2)]).toEqual([0n, 0n]);
    expect(v.pc).toBe(B1 + 12);
    expect(v.exceptions.byTarget.EL1).toBeUndefined();
  });
});
