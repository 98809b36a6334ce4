// Exact instruction counts around system instructions the EL2 model or a device answers
// (issue 13, "a counting bug"): the hook that answers an MRS skips it and moves PC; nothing
// after it may run or be counted before the CPU resumes at the new PC.
//
// Rules encoded here:
//  - Arm ARM DDI0487 D19.2.48 HCR_EL2: TID3 traps the ID group 3 registers (ID_AA64MMFR0_EL1),
//    TID4 (FEAT_EVT) the cache geometry registers (CCSIDR_EL1, CLIDR_EL1); both set for every
//    guest (hyp/hypervisor.ts HCR_GUEST_DEFAULT), answered on the EL2 fast path.
//  - CNTVCT_EL0 (D11.2 "The generic timer") is answered from virtual time by the vCPU; RNDR
//    (FEAT_RNG, C5.2.16) from the seeded generator. Neither is executed by Unicorn.
//  - An instruction retires once: after k instructions of straight-line code PC has moved by
//    exactly 4k and every instruction before it has had its effect (QEMU -icount shift=0 counts
//    the same way: one per executed instruction).
import { afterEach, describe, expect, it } from 'vitest';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import { Hypervisor } from '../../hyp/hypervisor.js';

const BASE = 0x4000_0000;
const RAM_SIZE = 0x20_0000;

// Instruction words (aarch64-linux-gnu-as).
const ADD_X1 = 0x91000421; // add x1, x1, #1
const SELF = 0x14000000; // b .
const ANSWERED = {
  'ID_AA64MMFR0_EL1 (TID3, fast path)': 0xd5380700, // mrs x0, id_aa64mmfr0_el1
  'CCSIDR_EL1 (TID4)': 0xd5390002, // mrs x2, ccsidr_el1
  'CLIDR_EL1 (TID4)': 0xd5390023, // mrs x3, clidr_el1
  'CNTVCT_EL0 (virtual time)': 0xd53be044, // mrs x4, cntvct_el0
  'RNDR (FEAT_RNG)': 0xd53b2405, // mrs x5, rndr
} as const;
// Executed by Unicorn itself (no trap): the control.
const NATIVE_MRS = 0xd5380006; // mrs x6, midr_el1

let open: Vcpu[] = [];
afterEach(() => {
  for (const v of open) v.close();
  open = [];
});

/** N times { mrs; add x1, x1, #1 }, then b . */
function boot(mrs: number, n: number) {
  const v = new Vcpu({ ramBase: BASE, ramSize: RAM_SIZE });
  open.push(v);
  const code: number[] = [];
  for (let i = 0; i < n; i++) code.push(mrs, ADD_X1);
  code.push(SELF);
  code.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
  v.pc = BASE;
  const hyp = new Hypervisor({});
  hyp.attach(v, { ram: { base: BASE, size: RAM_SIZE } });
  return v;
}

const cases: Array<[string, number]> = [...Object.entries(ANSWERED), ['MIDR_EL1 (native)', NATIVE_MRS]];

describe('instruction counts around answered MRS', () => {
  it.each(cases)('%s: 2N instructions run N pairs exactly, in one budget', (_name, mrs) => {
    const n = 40;
    const v = boot(mrs, n);
    expect(v.runFor(2 * n)).toBeNull();
    expect(v.instructions).toBe(2 * n);
    expect(v.pc).toBe(BASE + 8 * n);
    expect(v.x(1)).toBe(BigInt(n));
  });

  it.each(cases)('%s: every budget split lands on the instruction the count says', (_name, mrs) => {
    const n = 12;
    const v = boot(mrs, n);
    // Budgets of 1, 2, 3 ... instructions: stops right after an MRS, right after an ADD, and
    // across several pairs.
    let done = 0;
    for (let k = 1; done + k <= 2 * n; k++) {
      expect(v.runFor(k)).toBeNull();
      done += k;
      expect(v.instructions).toBe(done);
      expect(v.pc).toBe(BASE + 4 * done);
      expect(v.x(1)).toBe(BigInt(Math.floor(done / 2)));
    }
  });

  it('the answered reads are exits the model counted, once each', () => {
    const n = 25;
    const v = boot(ANSWERED['ID_AA64MMFR0_EL1 (TID3, fast path)'], n);
    expect(v.runFor(2 * n)).toBeNull();
    expect(v.instructions).toBe(2 * n);
    expect(v.x(1)).toBe(BigInt(n));
    expect(v.exceptions.byTarget.EL2?.sys64).toBe(n);
  });
});

// An MRS of an EL2 register at EL1 is UNDEFINED (Arm ARM D19.2, ELR_EL2: accessible from EL2 and
// EL3 only): the exception is taken at the MRS, from the system-instruction hook, in the middle of
// a translation block. The MRS is counted (as Unicorn's own counter counts an instruction whose
// exception it takes), the rest of its block is not: per-block counting must settle the count at
// the MRS, not at the block's end, even though PC has already moved to the vector.
describe('an exception taken at a system instruction mid-block', () => {
  it('counts up to the MRS, then only what the handler runs', () => {
    const v = new Vcpu({ ramBase: BASE, ramSize: RAM_SIZE });
    open.push(v);
    const ADD_X2 = 0x91000442; // add x2, x2, #1
    const code = [
      0xd2a80009, // movz x9, #0x4000, lsl #16
      0x91200129, // add x9, x9, #0x800
      0xd518c009, // msr vbar_el1, x9
      ADD_X1,
      ADD_X1,
      0xd53c4020, // mrs x0, elr_el2
      ADD_X1, ADD_X1, ADD_X1, ADD_X1, ADD_X1,
      SELF,
    ];
    code.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
    // VBAR_EL1 + 0x200: synchronous, current EL with SP_ELx.
    for (let i = 0; i < 30; i++) v.ram.write32(BASE + 0xa00 + i * 4, ADD_X2);
    v.ram.write32(BASE + 0xa00 + 30 * 4, SELF);
    v.pc = BASE;
    new Hypervisor({}).attach(v, { ram: { base: BASE, size: RAM_SIZE } });
    expect(v.runFor(6 + 10)).toBeNull();
    expect(v.instructions).toBe(16);
    expect(v.x(1)).toBe(2n);
    expect(v.x(2)).toBe(10n);
    expect(v.pc).toBe(BASE + 0xa00 + 40);
  });
});
