// MDCR_EL2.TDE (--trap-debug): the guest's debug exceptions reach the EL2 model first (Arm ARM
// D2.3 "Routing debug exceptions"), with the EL2 syndromes (ESR_EL2 EC 0x30 breakpoint, 0x34
// watchpoint, 0x32 software step, 0x3C BRK); the model reflects what the guest's own controls
// generate to its EL1 vector. The guest (guest-images/src/debug-el2.c, validated under QEMU 7.2)
// prints the same with and without routing; the trace shows the exits.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

interface DebugRec { insn: number; pc: string; ec: string; esr: string; far: string; reflected: boolean; el: number }

async function run(extra: string[]) {
  const trace = join(mkdtempSync(join(tmpdir(), 'hypemu-debug-el2-')), 'trace.jsonl');
  const r = await hypemu(['run', guest('debug-el2'), '-q', '--trace', trace, '--trace-filter', 'debug', ...extra], { stats: true });
  const recs = readFileSync(trace, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DebugRec);
  return { r, recs };
}

describe('debug-el2 under --trap-debug (MDCR_EL2.TDE)', () => {
  it('the guest sees the same exceptions; without the option no debug exit happens', async () => {
    const plain = await run([]);
    const routed = await run(['--trap-debug']);
    expect(plain.r.stdout).toContain('RESULT debug-el2: 0 failures');
    expect(plain.r.stdout).not.toContain('FAIL');
    expect(routed.r.stdout).toBe(plain.r.stdout);
    expect(routed.r.status).toBe(0);
    expect(plain.recs).toEqual([]);
    expect(plain.r.stats!.exits.byReason).not.toHaveProperty('debug');
    const el2 = routed.r.stats!.exceptions.byTarget.EL2 as Record<string, number>;
    // Breakpoint: 3 in parts 1-2, 4 with PSTATE.D = 1 (part 6); watchpoint: the store, the LDADD
    // and poke()'s store, each reflected then resumed with D = 1 (6), and 7 with D = 1 (part 6:
    // 4 LDADDs, a load, LDR Xn, [Xn], a STR).
    expect(el2.breakpoint_low).toBe(7);
    expect(el2.watchpoint_low).toBe(13);
    // Each resumed event's instruction runs once: the guest retires as many instructions as
    // without routing (a breakpoint or watchpoint resumed past used to run, and count, twice).
    expect(routed.r.stats!.instructions).toBe(plain.r.stats!.instructions);
    expect(el2.brk64).toBe(1);
    expect(el2.sstep_low).toBeGreaterThan(3);
    expect(routed.r.stats!.exits.byReason.debug).toBe(routed.recs.length);
  }, 120_000);

  it('software step of EL1 (guest sstep): the guest sees the same syndromes; the first reflected step has ISV = 0', async () => {
    // Under TDE the EL2 model steps EL1 from the MDSCR_EL1 write on (D2.4) and steps the MSR
    // DAIFClr that makes the guest's own step active: ESR_EL2 has ISV = 1 (a stepped instruction),
    // the guest's view ISV = 0 (its step became active, active-pending: D2.12; QEMU 7.2 alike).
    const plain = await hypemu(['run', guest('sstep'), '-q']);
    const trace = join(mkdtempSync(join(tmpdir(), 'hypemu-sstep-')), 'trace.jsonl');
    const routed = await hypemu(['run', guest('sstep'), '-q', '--trap-debug', '--trace', trace, '--trace-filter', 'debug']);
    expect(plain.stdout).toContain('RESULT sstep: 0 failures');
    expect(routed.stdout).toBe(plain.stdout);
    const recs = readFileSync(trace, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DebugRec);
    const reflected = recs.filter((e) => e.reflected);
    expect(reflected.map((e) => e.esr)).toEqual(['0xcb000022', '0xcb000022', '0xcb000022', '0xcb000022']);
    // Before it, EL1 stepped by EL2 alone (KDE = 1 but PSTATE.D = 1): the first after the MDSCR_EL1 write has ISV = 0.
    expect(recs[0]).toMatchObject({ esr: '0xca000022', reflected: false, el: 1 });
  }, 120_000);

  it('each event is an EL2 exit with the EC from a lower EL; those the guest enabled are reflected', async () => {
    const { recs } = await run(['--trap-debug']);
    const bp = recs.filter((e) => e.ec === 'breakpoint_low');
    // D = 0: reflected (the guest's EC 0x31); its handler returns with PSTATE.D = 1 to the same
    // nop, and the call with D = 1: both generated only because the debug target is EL2, so the
    // model's own, resumed past (D2.4).
    expect(bp.map((e) => [e.esr, e.reflected])).toEqual([['0xc2000022', true], ...Array(6).fill(['0xc2000022', false])]);
    // Part 6: one exit per execution, one instruction apart (each resumed access runs once).
    expect(bp.slice(3).map((e, i, a) => (i === 0 ? 0 : e.insn - a[i - 1]!.insn))).toEqual([0, 3, 3, 3]);
    const wp = recs.filter((e) => e.ec === 'watchpoint_low');
    expect(wp.map((e) => e.reflected)).toEqual([true, false, true, false, true, false, false, false, false, false, false, false, false]);
    expect(wp[0]).toMatchObject({ esr: '0xd2000062', reflected: true });
    expect(wp.slice(6, 10).map((e, i, a) => (i === 0 ? 0 : e.insn - a[i - 1]!.insn))).toEqual([0, 1, 1, 1]);
    expect(wp.every((e) => e.far === wp[0]!.far && e.far !== '0x0')).toBe(true);
    const brk = recs.filter((e) => e.ec === 'brk64');
    expect(brk).toEqual([expect.objectContaining({ esr: '0xf2000077', reflected: true })]);
    // Software step: the three EL0 steps are the guest's (EC 0x32, the first with ISV = 1: the
    // model stepped the ERET into EL0); EL1 code runs stepped by EL2 alone (KDE = 0), not reflected.
    const steps = recs.filter((e) => e.ec === 'sstep_low');
    expect(steps.filter((e) => e.reflected).map((e) => e.esr)).toEqual(['0xcb000022', '0xcb000022', '0xcb000022']);
    expect(steps.filter((e) => e.reflected).every((e) => e.el === 0)).toBe(true);
    expect(steps.filter((e) => !e.reflected).every((e) => e.el === 1)).toBe(true);
  }, 120_000);
});
