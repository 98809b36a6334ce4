// Spin-loop recognition (emulator/cpu/spin-loop.ts), on real code: the two loops of
// kvm-unit-tests' arm/micro-bench.c (timer_exec's `while (!irq_received && tries--) cpu_relax();`
// and gic_secondary_entry's `while (true) cpu_relax();`, as GCC compiled them: objdump of
// micro-bench.elf), and loops that must not count (a store, a call, a counter read, no hint).
import { describe, expect, it } from 'vitest';
import { classify, inSpinLoop, MAX_LOOP } from '../../emulator/cpu/spin-loop.js';

/** Code at `base`: read(va) as the vCPU would fetch it (null outside). */
function code(base: number, words: number[]): (va: number) => number | null {
  return (va) => (va >= base && va < base + 4 * words.length && va % 4 === 0 ? words[(va - base) / 4]! : null);
}

// timer_exec, 0x314..0x35c (micro-bench.elf)
const TIMER_EXEC = [
  0x39408040, // 314 ldrb w0, [x2, #32]
  0x72001c1f, // 318 tst w0, #0xff
  0x54000121, // 31c b.ne 340
  0x52a20000, // 320 mov w0, #0x10000000
  0x14000003, // 324 b 330
  0x71000400, // 328 subs w0, w0, #1      <- loop
  0x540000a0, // 32c b.eq 340             (tries ran out: leaves)
  0xd503203f, // 330 yield
  0x39408041, // 334 ldrb w1, [x2, #32]
  0x72001c3f, // 338 tst w1, #0xff
  0x54ffff60, // 33c b.eq 328             <- back edge
  0x39408040, // 340 ldrb w0, [x2, #32]
  0x72001c1f, // 344 tst w0, #0xff
  0x54000080, // 348 b.eq 358
  0xb9402440, // 34c ldr w0, [x2, #36]
  0x11000400, // 350 add w0, w0, #1
  0xb9002440, // 354 str w0, [x2, #36]
];
// gic_secondary_entry's tail, 0x3cc..0x3dc
const SECONDARY = [0x3900a001 /* 3cc strb w1, [x0, #40] */, 0xd503203f, 0xd503203f, 0x17fffffe /* 3d8 b 3d0 */, 0xd503201f];

describe('spin-loop recognition (Arm ARM C4.1 encodings, C6.2 YIELD/WFE)', () => {
  it('classifies the instruction groups the check allows', () => {
    expect(classify(0xd503203f, 0).kind).toBe('wait'); // YIELD
    expect(classify(0xd503205f, 0).kind).toBe('wait'); // WFE
    expect(classify(0xd503207f, 0).kind).toBe('other'); // WFI: the scheduler's idle case
    expect(classify(0xd5033bbf, 0).kind).toBe('pure'); // DMB ISH
    expect(classify(0xd5033fdf, 0).kind).toBe('pure'); // ISB
    expect(classify(0x885f7c01, 0).kind).toBe('pure'); // LDXR w1, [x0]
    expect(classify(0x88027c01, 0).kind).toBe('other'); // STXR w2, w1, [x0]
    expect(classify(0xb8200020, 0).kind).toBe('other'); // LDADD w0, w0, [x1] (atomic: writes)
    expect(classify(0xf9000020, 0).kind).toBe('other'); // STR x0, [x1]
    expect(classify(0xd53be041, 0).kind).toBe('other'); // MRS x1, CNTVCT_EL0
    expect(classify(0x94000010, 0).kind).toBe('other'); // BL
    expect(classify(0xd65f03c0, 0).kind).toBe('other'); // RET
    expect(classify(0x54ffff60, 0x33c)).toEqual({ kind: 'branch', target: 0x328, always: false });
    expect(classify(0x17fffffe, 0x3d8)).toEqual({ kind: 'branch', target: 0x3d0, always: true });
    expect(classify(0x3607ffe0, 0x100)).toEqual({ kind: 'branch', target: 0xfc, always: false }); // TBZ w0, #0, -4
    expect(classify(0xb5ffffe0, 0x100)).toEqual({ kind: 'branch', target: 0xfc, always: false }); // CBNZ x0, -4
  });
  it("micro-bench timer_exec: every PC of the wait loop spins; the code around it does not", () => {
    const read = code(0x314, TIMER_EXEC);
    for (let pc = 0x328; pc <= 0x33c; pc += 4) expect(inSpinLoop(pc, read), pc.toString(16)).toBe(true);
    // Before the loop: the scan meets the forward B to 0x330 (not a loop yet); after it, the store.
    for (const pc of [0x314, 0x320, 0x324, 0x340, 0x34c]) expect(inSpinLoop(pc, read), pc.toString(16)).toBe(false);
  });
  it('micro-bench gic_secondary_entry: `while (true) cpu_relax();` spins', () => {
    const read = code(0x3cc, SECONDARY);
    for (const pc of [0x3d0, 0x3d4, 0x3d8]) expect(inSpinLoop(pc, read)).toBe(true);
    expect(inSpinLoop(0x3cc, read)).toBe(false); // the store before it
  });
  it('not a spin: a store, a call or a counter read in the loop, no YIELD/WFE, unreadable code, too long a loop', () => {
    const loop = (body: number[]): boolean => inSpinLoop(0x1000, code(0x1000, [...body, 0x14000000 - body.length + 0x4000000]));
    expect(loop([0xd503203f, 0x39400001])).toBe(true); // yield; ldrb w1, [x0]; b
    expect(loop([0xd503203f, 0x39000001])).toBe(false); // yield; strb w1, [x0]; b
    expect(loop([0xd503203f, 0x94000010])).toBe(false); // yield; bl
    expect(loop([0xd503203f, 0xd53be041])).toBe(false); // yield; mrs x1, cntvct_el0
    expect(loop([0x39400001, 0xd503201f])).toBe(false); // ldrb; nop: no hint, not a spin wait
    expect(loop([0xd503205f])).toBe(true); // wfe; b
    expect(loop([0xd503203f, ...Array<number>(MAX_LOOP - 2).fill(0xd503201f)])).toBe(true);
    expect(loop([0xd503203f, ...Array<number>(MAX_LOOP - 1).fill(0xd503201f)])).toBe(false); // MAX_LOOP + 1 instructions
    expect(inSpinLoop(0x1000, () => null)).toBe(false);
  });
});
