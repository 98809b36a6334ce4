/** --trace FILE and --trace-filter (issue 11): every EL2 exit as one JSON line, deterministic but for host ns. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

const lines = (f: string): Record<string, any>[] => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('--trace', () => {
  it('one line per exit and console line; the same trace twice apart from hostNs; as many exits as the stats count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-trace-'));
    const a = await hypemu(['run', guest('demo'), '--mair-mangle', '-q', '--trace', join(dir, 'a.jsonl')], { stats: true });
    const b = await hypemu(['run', guest('demo'), '--mair-mangle', '-q', '--trace', join(dir, 'b.jsonl')]);
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    const ta = lines(join(dir, 'a.jsonl'));
    const strip = (r: Record<string, any>[]) => r.map(({ hostNs: _h, ...rest }) => rest);
    expect(strip(ta)).toEqual(strip(lines(join(dir, 'b.jsonl'))));
    const exits = ta.filter((r) => r.type === 'exit');
    expect(exits).toHaveLength(a.stats!.exits.total);
    const mair = exits.find((r) => r.reason === 'sysreg' && r.sysreg.name === 'MAIR_EL1' && r.sysreg.write);
    expect(mair).toMatchObject({
      vcpu: 0, el: 1, ec: 'sys64', il: 1, path: 'fastPath', action: 'resume', insnText: expect.stringMatching(/^msr mair_el1, x\d+$/),
      sysreg: { value: '0x4404ff' }, syndrome: expect.stringMatching(/^sys64 write op0=3 op1=0 CRn=10 CRm=2 op2=0 Rt=\d+$/),
    });
    expect(mair!.esr).toMatch(/^0x62[0-9a-f]{6}$/);
    expect(typeof mair!.hostNs).toBe('number');
    expect(mair!.cycles).toBeGreaterThan(0);
    // UART writes: emulated MMIO (on the EL2 fast path when the model coalesces PL011 TX, else in user space).
    const mmio = exits.find((r) => r.mmio?.write);
    expect(mmio).toMatchObject({ reason: 'dabt_s2', mmio: { ipa: '0x9000000', size: 4 }, insnText: expect.stringMatching(/^str w\d+, \[x\d+\]$/) });
    expect(['fastPath', 'userspace']).toContain(mmio!.path);
    expect(exits.at(-1)).toMatchObject({ reason: 'hvc', function: '0xc6000001', action: 'halt', insnText: 'hvc #0' });
    const text = ta.filter((r) => r.type === 'console').map((r) => r.text).join('');
    expect(text).toBe(a.stdout);
    // Virtual time never goes backwards along the trace.
    for (let i = 1; i < ta.length; i++) expect(ta[i]!.vtimeNs).toBeGreaterThanOrEqual(ta[i - 1]!.vtimeNs);
  });

  it('--trace-filter keeps the named reasons, registers and record kinds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-trace-'));
    const f = join(dir, 't.jsonl');
    expect((await hypemu(['run', guest('demo'), '--mair-mangle', '-q', '--trace', f, '--trace-filter', 'MAIR_EL1,hvc'])).status).toBe(0);
    const t = lines(f);
    expect(t.length).toBeGreaterThan(1);
    for (const r of t) expect(r.reason === 'hvc' || r.sysreg?.name === 'MAIR_EL1').toBe(true);
    const bad = await hypemu(['run', guest('demo'), '--trace', f, '--trace-filter', 'not-a-thing!']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/^hypemu: --trace-filter: 'not-a-thing!' is not an exit reason/);
  });
});

describe('--trace-format perfetto', () => {
  it('Chrome trace-event JSON: a vCPU track of guest/EL2 slices, interrupt instants, exits/s counters, virtual-time ts; the same bytes twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-perfetto-'));
    const run = (f: string) => hypemu(['run', guest('timer-irq'), '-q', '--trace', join(dir, f), '--trace-format', 'perfetto'], { stats: true });
    const a = await run('a.json');
    expect(a.status, a.stderr).toBe(0);
    expect((await run('b.json')).status).toBe(0);
    const text = readFileSync(join(dir, 'a.json'), 'utf8');
    expect(readFileSync(join(dir, 'b.json'), 'utf8')).toBe(text); // virtual time only: deterministic
    const doc = JSON.parse(text) as { traceEvents: Record<string, any>[]; displayTimeUnit: string };
    expect(Array.isArray(doc.traceEvents)).toBe(true);
    const ev = doc.traceEvents;
    for (const e of ev) {
      expect(['M', 'X', 'i', 'C']).toContain(e.ph);
      expect(e.pid).toBe(1);
      if (e.ph !== 'C' && e.ph !== 'M') expect(typeof e.tid).toBe('number');
      if (e.ph !== 'M') expect(typeof e.ts).toBe('number');
      if (e.ph === 'X') expect(e.dur).toBeGreaterThanOrEqual(0);
      if (e.ph === 'i') expect(e.s).toBe('t');
    }
    expect(ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args.name)).toEqual(['console', 'vCPU 0']);
    // ts never goes backwards on a track (slices, instants) or a counter; slices on a track do not overlap.
    const last = new Map<string, number>();
    const sliceEnd = new Map<number, number>();
    for (const e of ev.filter((x) => x.ph !== 'M')) {
      const key = e.ph === 'C' ? `C:${e.name}` : `T:${e.tid}`;
      expect(e.ts, JSON.stringify(e)).toBeGreaterThanOrEqual(last.get(key) ?? 0);
      last.set(key, e.ts);
      if (e.ph === 'X') {
        expect(e.ts + 1e-9, JSON.stringify(e)).toBeGreaterThanOrEqual(sliceEnd.get(e.tid) ?? 0);
        sliceEnd.set(e.tid, e.ts + e.dur);
      }
    }
    const el2 = ev.filter((e) => e.ph === 'X' && e.cat.startsWith('el2'));
    const guestSlices = ev.filter((e) => e.ph === 'X' && e.cat === 'guest');
    expect(el2).toHaveLength(a.stats!.exits.total); // one EL2 slice per exit
    expect(guestSlices.length).toBeGreaterThan(0);
    expect(el2.find((e) => e.name === 'EL2 irq')).toMatchObject({ tid: 1, args: { path: expect.any(String), insn: expect.any(Number), pc: expect.stringMatching(/^0x/) } });
    // The trapping instruction, disassembled (capstone), as in the JSONL trace: the exit call's HVC.
    expect(el2.at(-1)!.args.insnText).toBe('hvc #0');
    // timer-irq takes 24 timer interrupts: an instant each on the vCPU track.
    const irqs = ev.filter((e) => e.ph === 'i' && e.cat === 'interrupt');
    expect(irqs.length).toBe(a.stats!.exceptions.byTarget.EL1.irq ?? irqs.length);
    expect(irqs.length).toBeGreaterThanOrEqual(24);
    // Timestamps are virtual time in µs: the last exit (the guest's exit call) is at the run's virtual time.
    expect(Math.abs(el2.at(-1)!.ts * 1000 - a.stats!.virtualTimeNs)).toBeLessThanOrEqual(1);
    expect(el2.at(-1)!.name).toBe('EL2 hvc 0xc6000001');
    // Counters: exits per second of virtual time, summing to the exits (100 µs buckets).
    const counters = ev.filter((e) => e.ph === 'C' && e.name === 'exits/s');
    const sum = counters.reduce((s, e) => s + e.args['vCPU 0'] / 10_000, 0);
    expect(Math.round(sum)).toBe(a.stats!.exits.total);
    const consoleLines = ev.filter((e) => e.ph === 'i' && e.cat === 'console');
    expect(consoleLines.map((e) => e.args.text).join('')).toBe(a.stdout);
  });
});
