// No guest access to a debug register can crash or hang the process (issue 13, "Debug
// architecture"): guest-images/src/debug-fuzz.c makes 3,000 seeded random MSR/MRS accesses (about
// 3 in 4 are writes) to every op0 = 0b10 encoding (DBGB/W VR/CR 0-15, MDSCR_EL1, the OS lock and
// double lock, claim, DCC, DBGVCR32_EL2, random encodings) with random values at EL1 (PSTATE.D
// clear or set) and EL0, arming breakpoints, watchpoints and software step on its own code and
// data, which its handler disarms again. Bounded by --max-insns: a loop ends as status 124, not as
// a hung test. QEMU 7.2 runs the same guest to the same RESULT line (scripts/guests-under-qemu.sh).
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

// The guest retires about 485,000 instructions (448,000 under --trap-debug).
const BOUND = ['--max-insns', '5000000', '--log-level', 'error'];

describe('debug-register fuzz (guest debug-fuzz)', () => {
  it('3,000 random accesses at EL1 and EL0 end with a normal status, the same twice; EL1 debug registers UNDEFINED at EL0', async () => {
    const a = await hypemu(['run', guest('debug-fuzz'), '-q', ...BOUND], { stats: true });
    expect(a.signal).toBeUndefined();
    expect(a.stdout).toContain('RESULT debug-fuzz: 0 failures');
    expect(a.status).toBe(0);
    // The random values did arm software step (breakpoint and watchpoint addresses rarely meet).
    const el1 = a.stats!.exceptions.byTarget.EL1 as Record<string, number>;
    expect((el1.sstep_low ?? 0) + (el1.sstep_cur ?? 0)).toBeGreaterThan(0);
    expect(el1.unknown).toBeGreaterThan(1000);
    const b = await hypemu(['run', guest('debug-fuzz'), '-q', ...BOUND], { stats: true });
    expect(b.stdout).toBe(a.stdout);
    expect(b.stats!.instructions).toBe(a.stats!.instructions);
  }, 180_000);

  it('the same under --trap-debug (MDCR_EL2.TDE: every debug exception and register access goes to the EL2 model first)', async () => {
    const plain = await hypemu(['run', guest('debug-fuzz'), '-q', ...BOUND]);
    const r = await hypemu(['run', guest('debug-fuzz'), '-q', '--trap-debug', ...BOUND], { stats: true });
    // Each access is UNDEFINED (or not) as without routing: an unimplemented DBGBVR6_EL1 or an MSR
    // to read-only MDRAR_EL1 is UNDEFINED before MDCR_EL2.TDA/TDRA could trap it (the guest's
    // outcome hash line; 505 of 3,000 accesses differed before).
    expect(r.stdout).toBe(plain.stdout);
    expect(r.signal).toBeUndefined();
    expect(r.stdout).toContain('RESULT debug-fuzz: 0 failures');
    expect(r.status).toBe(0);
    const el2 = r.stats!.exceptions.byTarget.EL2 as Record<string, number>;
    // Software step armed by the random MDSCR_EL1 values: routed to EL2 (D2.3).
    expect(el2.sstep_low).toBeGreaterThan(0);
  }, 180_000);
});
