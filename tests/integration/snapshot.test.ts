/**
 * Snapshots (issue 11): a run restored from a snapshot prints the same bytes and ends with the same
 * statistics and trace as the run that saved it, and as an uninterrupted run; corrupt or foreign
 * files and options that would change the machine are one-line errors (status 64). And
 * determinism: every guest run twice gives identical console output, stats and traces.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Machine } from 'hypemu';
import { CLI, ROOT, guest } from './helpers.js';
import { coldComparable, tracedRun, type TracedRun } from './traced-run.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'hypemu-snap-'));

/** A refused run (bad snapshots, refused options) writes no stats or trace: they are left empty. */
const run = (args: string[], dir: string, tag: string): Promise<TracedRun> => tracedRun(args, dir, tag, { refusable: true });

/**
 * Between two separate runs or across a snapshot point (traced-run.ts coldComparable): QEMU
 * resizes its TLB by host time, so Unicorn's refill count varies on long runs (README, "stats
 * JSON"), and a snapshot point leaves the TLBs cold; everything the guest sees does not vary.
 */
const acrossRuns = coldComparable;

/** The JSON section of a snapshot file (emulator/snapshot/README.md: its length at offset 12, the JSON at 56). */
function snapshotJson(file: string): Record<string, any> {
  const b = readFileSync(file);
  return JSON.parse(b.subarray(56, 56 + b.readUInt32LE(12)).toString('utf8'));
}

/**
 * Where each snapshot point falls, checked in the file, so that the test covers what it says:
 * smp-ipi with secondaries powered on and one in the middle of its quantum, nested-l1 while its L2
 * guest runs on a shadow stage 2, nested-irq while its L2 runs with IRQs routed to L1.
 */
const AT: Record<string, (j: Record<string, any>) => void> = {
  'smp-ipi --smp 2': (j) => expect(j.components.smp.power.states).toEqual(['on', 'on']),
  'smp-ipi --smp 4': (j) => {
    expect(j.components.smp.power.states).toEqual(['on', 'on', 'on', 'off']);
    // vCPU 2 in the middle of its quantum (how far in moves with the guest's code layout).
    const sched = j.components.smp.sched as { pos: number; left: number; quantum: number };
    expect(sched.pos).toBe(2);
    expect(sched.left).toBeGreaterThan(0);
    expect(sched.left).toBeLessThan(sched.quantum);
  },
  'nested-l1 --nested': (j) => expect(j.components.hyp.nested).toMatchObject({ model: { mode: 'l2' }, current: 0 }),
  'nested-irq --nested': (j) => {
    // L2 runs while L1 routes physical IRQs to itself (its HCR_EL2.IMO, bit 4): the timer IRQ comes after N
    expect(j.components.hyp.nested).toMatchObject({ model: { mode: 'l2' }, current: 0 });
    const hcr = (j.components.hyp.nested.model.vel2.values.$m as Array<[string, { $b: string }]>).find(([n]) => n === 'HCR_EL2')![1].$b;
    expect((BigInt(`0x${hcr}`) >> 4n) & 1n).toBe(1n);
  },
};

describe('snapshot at N, restore, continue: the same bytes, stats and trace', () => {
  for (const [name, opts, at] of [
    ['timer-irq', [], 5_000_123], ['demo', [], 100_000], ['mmu-faults', [], 150_001],
    ['smp-ipi', ['--smp', '2'], 262_345], ['smp-ipi', ['--smp', '4'], 265_200],
    ['nested-l1', ['--nested'], 140_378], ['nested-irq', ['--nested'], 63_801],
  ] as const) {
    const label = [name, ...opts].join(' ');
    it(`${label}: snapshot at ${at}`, async () => {
      const dir = tmp();
      const image = [guest(name), ...opts];
      const whole = await run([...image, '-q'], dir, 'whole');
      expect(whole.status, whole.stderr).toBe(0);
      expect(whole.stats.instructions).toBeGreaterThan(at);
      const snap = join(dir, 's.snap');
      const saving = await run([...image, '-q', '--snapshot-at', String(at), '--snapshot', snap], dir, 'saving');
      AT[label]?.(snapshotJson(snap));
      expect(saving.status, saving.stderr).toBe(0);
      // Taking a snapshot does not change the run.
      expect(saving.stdout.equals(whole.stdout)).toBe(true);
      expect(saving.trace).toEqual(whole.trace);
      const restored = await run(['--restore', snap], dir, 'restored');
      expect(restored.status, restored.stderr).toBe(0);
      expect(restored.stderr).toMatch(new RegExp(`^hypemu: restored .* at instruction ${at}\\) in [\\d.]+ ms \\([\\d.]+ ms CPU\\)$`, 'm'));
      // Console: what the run prints up to N (--max-insns N) followed by the restored run's output
      // is the uninterrupted output, byte for byte.
      const head = await run([...image, '-q', '--max-insns', String(at)], dir, 'head');
      expect(head.status).toBe(124);
      expect(Buffer.concat([head.stdout, restored.stdout]).equals(whole.stdout)).toBe(true);
      if (name === 'timer-irq') expect(restored.stdout.toString()).toMatch(/^tick \d+: work/m); // interrupts after N
      // Trace: the restored run's records are the uninterrupted run's from N on.
      expect(restored.trace.length).toBeGreaterThan(0);
      expect(restored.trace).toEqual(whole.trace.slice(whole.trace.length - restored.trace.length));
      // (with --smp a record's `insn` is its vCPU's count, N the sum over the vCPUs)
      if (opts.length === 0) expect(JSON.parse(restored.trace[0]!).insn).toBeGreaterThanOrEqual(at);
      // Stats: identical to the saving run's and the uninterrupted run's but for host time and
      // Unicorn's TLB refills (cold after the snapshot point; QEMU also resizes its TLB by host time).
      expect(acrossRuns(restored.stats)).toEqual(acrossRuns(saving.stats));
      expect(acrossRuns(restored.stats)).toEqual(acrossRuns(whole.stats));
      expect(restored.stats.exits.total).toBe(whole.stats.exits.total);
    }, 240_000);
  }

  it('the library: run({ until: { instructions } }), m.snapshot(file), Machine.restore(file)', async () => {
    const dir = tmp();
    const file = join(dir, 'lib.snap');
    const out = (m: Machine, sink: string[]): void => void m.on('console', (t) => sink.push(t));
    const whole: string[] = [];
    const a = await Machine.create({ image: guest('timer-irq') });
    out(a, whole);
    await a.run();
    const wholeStats = a.stats();
    await a.dispose();

    const before: string[] = [];
    const b = await Machine.create({ image: guest('timer-irq') });
    out(b, before);
    expect((await b.run({ until: { instructions: 3_000_000 } })).reason).toBe('instructions');
    await b.snapshot(file);
    await b.dispose();

    const t0 = performance.now();
    const c = await Machine.restore(file);
    const restoreMs = performance.now() - t0;
    expect(c.instructions).toBe(3_000_000);
    const after: string[] = [];
    out(c, after);
    const r = await c.run();
    expect(r.status).toBe(0);
    expect(before.join('') + after.join('')).toBe(whole.join(''));
    expect(acrossRuns(c.stats())).toEqual(acrossRuns(wholeStats));
    await c.dispose();
    expect(restoreMs).toBeLessThan(2000); // tens of ms unloaded; generous for a shared CI machine
  }, 120_000);
});

describe('bad snapshots and refused options: one line, status 64', () => {
  const dir = tmp();
  const snap = join(dir, 'ok.snap');
  const mk = (): Buffer => {
    const r = spawnSync('node', [CLI, 'run', guest('demo'), '-q', '--snapshot-at', '50000', '--snapshot', snap], { input: '' });
    expect(r.status).toBe(0);
    return readFileSync(snap);
  };
  const restore = (file: string, extra: string[] = []) => spawnSync('node', [CLI, 'run', '--restore', file, ...extra], { input: '', encoding: 'utf8' });
  it.each([
    ['foreign', (b: Buffer) => Buffer.from('not a snapshot at all, but long enough to have a header........'), /not a hypemu snapshot \(bad magic\)/],
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 10), /truncated or padded/],
    ['newer version', (b: Buffer) => { const c = Buffer.from(b); c.writeUInt32LE(99, 8); return c; }, /format version 99; this hypemu reads versions 2 and 3/],
    ['version 1 (zlib pages)', (b: Buffer) => { const c = Buffer.from(b); c.writeUInt32LE(1, 8); return c; }, /^hypemu: snapshot .*: snapshot format version 1; this hypemu reads versions 2 and 3\n$/],
    ['damaged JSON', (b: Buffer) => { const c = Buffer.from(b); c[80] ^= 0x20; return c; }, /JSON section damaged \(SHA-256 mismatch\)/],
    ['damaged pages', (b: Buffer) => { const c = Buffer.from(b); c[c.length - 20] ^= 0xff; return c; }, /region (ram|blob\d+): /],
  ])('%s', (what, damage, message) => {
    const file = join(dir, `${what.replace(/ /g, '-')}.snap`);
    writeFileSync(file, damage(mk()));
    const r = restore(file);
    expect(r.status).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
  it('a version 2 file (one vCPU, no --nested: the same layout) still restores', () => {
    const v2 = Buffer.from(mk());
    expect(v2.readUInt32LE(8)).toBe(3);
    v2.writeUInt32LE(2, 8); // the version is outside the SHA-256'd JSON section
    const file = join(dir, 'v2.snap');
    writeFileSync(file, v2);
    const r = restore(file, ['--max-insns', '60000']);
    expect(r.stderr).toMatch(/^hypemu: restored .* at instruction 50000\)/m);
    expect(r.status, r.stderr).toBe(124);
  });
  it('options that would change the machine are refused; run options are taken', () => {
    mk();
    for (const extra of [['--mem', '512M'], ['--gic', 'v2'], ['--hyp-mode', 'nvhe'], [guest('hello')], ['--mair-mangle']]) {
      const r = restore(snap, extra);
      expect(r.status, extra.join(' ')).toBe(64);
      expect(r.stderr).toMatch(/^hypemu: --restore: .* would change the machine; a restored run takes it from the snapshot\n$/);
    }
    const r = restore(snap, ['--max-insns', '60000', '-q']);
    expect(r.status).toBe(124);
    expect(restore(join(dir, 'missing.snap')).stderr).toBe(`hypemu: snapshot ${join(dir, 'missing.snap')}: no such file\n`);
    const before = spawnSync('node', [CLI, 'run', '--restore', snap, '--snapshot-at', '10', '--snapshot', join(dir, 'x.snap')], { input: '', encoding: 'utf8' });
    expect(before.status).toBe(64);
    expect(before.stderr).toMatch(/--snapshot-at 10: the snapshot is already at instruction 50000/);
  });
});

/** Guests hypemu runs (guests.list: where is not qemu-el2), with the options they need. */
function hypemuGuests(): Array<{ name: string; args: string[] }> {
  const list = readFileSync(join(ROOT, 'guest-images/guests.list'), 'utf8');
  const out: Array<{ name: string; args: string[] }> = [];
  for (const line of list.split('\n')) {
    const [name, where] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (name === undefined || name === '' || where === 'qemu-el2') continue;
    // smp guests run with 4 vCPUs, as guests.list says (QEMU -smp 4)
    const args = where === 'nested' ? ['--nested'] : where === 'both-raw' ? ['--format', 'raw'] : where === 'smp' ? ['--smp', '4'] : [];
    out.push({ name, args: where === 'both-raw' ? [join(ROOT, 'guest-images/build', `${name}.bin`), ...args] : [guest(name), ...args] });
  }
  return out;
}

describe('determinism: every guest twice, identical console, stats and trace; once restored mid-run', () => {
  // Long guests (600M-iteration loops, 4 MiB floods) are compared over their first 3M instructions.
  const LIMIT = '3000000';
  for (const g of hypemuGuests()) {
    it(g.name, async () => {
      const dir = tmp();
      const a = await run([...g.args, '-q', '--max-insns', LIMIT], dir, 'a');
      const b = await run([...g.args, '-q', '--max-insns', LIMIT], dir, 'b');
      expect(a.stats.instructions, a.stderr).toBeGreaterThan(0);
      expect(b.status).toBe(a.status);
      expect(b.stdout.toString('latin1')).toBe(a.stdout.toString('latin1'));
      expect(acrossRuns(b.stats)).toEqual(acrossRuns(a.stats));
      expect(b.trace).toEqual(a.trace);
      // The guest hypervisors finish well within the limit, observed by --trace too (an observer
      // that did not forward the nested interrupt routing left nested-irq spinning to the limit).
      if (g.args.includes('--nested')) expect(a.status, a.stderr).toBe(0);
      const mid = Math.floor(a.stats.instructions / 2);
      const snap = join(dir, 'mid.snap');
      const s = await run([...g.args, '-q', '--max-insns', LIMIT, '--snapshot-at', String(mid), '--snapshot', snap], dir, 's');
      expect(s.stdout.toString('latin1')).toBe(a.stdout.toString('latin1'));
      const r = await run(['--restore', snap, '-q', '--max-insns', LIMIT], dir, 'r');
      expect(r.status, r.stderr).toBe(a.status);
      expect(a.stdout.subarray(a.stdout.length - r.stdout.length).toString('latin1')).toBe(r.stdout.toString('latin1'));
      expect(r.trace).toEqual(s.trace.slice(s.trace.length - r.trace.length));
      expect(acrossRuns(r.stats)).toEqual(acrossRuns(s.stats));
    }, 300_000);
  }
});

/**
 * An extra stop does not move an interrupt (reported once, not reproduced: issue 11). A library
 * run paused at several instruction counts (a stop inside what would be one slice, where a pending
 * interrupt could otherwise be taken at the next slice start) and snapshotted at one of them
 * (which also drops every cached translation) prints the same bytes and writes the same trace
 * (host time aside) as the same guest run without a stop: timer-irq (timer interrupts every
 * tick), smp-ipi with 2 and 4 vCPUs (SGIs between vCPUs, CPU_ON hand-overs).
 */
describe('extra stops (pauses, a snapshot) move no interrupt', () => {
  const stripHost = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    delete o['hostNs'];
    return JSON.stringify(o);
  });
  async function traced(image: string, smp: number, dir: string, tag: string, stops: readonly number[], snapAt: number | null): Promise<{ out: Buffer; trace: string[]; interrupts: number }> {
    const out: Buffer[] = [];
    const trace = join(dir, `${tag}.trace`);
    const m = await Machine.create({ image, smp, quiet: true, trace }, { console: (b) => out.push(Buffer.from(b)) });
    for (const n of stops) {
      const r = await m.run({ until: { instructions: n } });
      expect(r.reason).toBe('instructions');
      if (n === snapAt) await m.snapshot(join(dir, `${tag}.snap`));
    }
    expect((await m.run()).status).toBe(0);
    await m.dispose();
    const t = stripHost(trace);
    return { out: Buffer.concat(out), trace: t, interrupts: t.filter((l) => l.includes('"type":"interrupt"')).length };
  }
  for (const [name, smp, stops, snapAt] of [
    ['timer-irq', 1, [1, 999, 123_457, 1_000_001, 2_500_003, 5_000_123, 7_777_777, 9_999_991, 12_000_000], 5_000_123],
    ['smp-ipi', 2, [1, 5_001, 20_011, 100_003, 250_000, 262_345], 100_003],
    ['smp-ipi', 4, [777, 10_001, 33_333, 200_000, 265_200, 300_007, 420_000], 265_200],
  ] as const) {
    it(`${name} --smp ${smp}: paused at ${stops.length} counts, snapshotted at ${snapAt}`, async () => {
      const dir = tmp();
      const plain = await traced(guest(name), smp, dir, 'plain', [], null);
      const stopped = await traced(guest(name), smp, dir, 'stopped', stops, snapAt);
      expect(plain.interrupts).toBeGreaterThan(smp === 1 ? 20 : 3); // timer ticks; SGIs to and from the secondaries
      expect(stopped.out.equals(plain.out)).toBe(true);
      expect(stopped.trace).toEqual(plain.trace);
    }, 120_000);
  }
});
