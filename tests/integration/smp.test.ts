// --smp N: the smp-ipi guest (guest-images/src/smp-ipi.c) brings up secondaries with PSCI CPU_ON,
// sends SGIs between them (target lists and the IRM broadcast), remaps a page they have cached
// and invalidates it with TLBI VAE1IS, then turns them off; the same guest passes under QEMU
// -smp 4 (scripts/guests-under-qemu.sh). Two runs print the same bytes and the same stats; each
// secondary prints its "CPU n online" line, which the trace attributes to it. Options that are not
// SMP-aware yet are refused with one line (status 64).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { guest, hypemu } from './helpers.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  stats: Record<string, unknown> & { vcpus?: Array<Record<string, unknown>> };
}

/** One CLI run with its stats (the shared asynchronous helper; stats are always written here). */
async function run(args: string[]): Promise<Run> {
  const r = await hypemu(['run', ...args, '-q'], { stats: true });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stats: r.stats as Run['stats'] };
}

/** Stats fields that do not depend on host time (README: tlb fills vary with QEMU's TLB resizing). */
function stable(s: Run['stats']): unknown {
  const { host, cost, tlb, vcpus, ...rest } = s as Record<string, unknown> & { cost: Record<string, unknown>; vcpus: Array<Record<string, unknown>> };
  void host;
  void tlb;
  return { ...rest, cost: { ...cost, hostNs: 0 }, vcpus: vcpus.map(({ tlb: _t, ...v }) => v) };
}

describe('--smp: PSCI bring-up, SGIs, broadcast TLBI (smp-ipi guest)', () => {
  for (const n of [2, 4]) {
    it(`--smp ${n}: every check passes; stats per vCPU and in total`, async () => {
      const r = await run([guest('smp-ipi'), '--smp', String(n)]);
      expect(r.stdout).toContain(`${n} CPUs`);
      expect(r.stdout).not.toContain('FAIL');
      expect(r.stdout).toContain('RESULT smp-ipi: 0 failures');
      expect(r.status, r.stderr).toBe(0);
      const v = r.stats.vcpus!;
      expect(v).toHaveLength(n);
      // Every vCPU ran; the secondaries ended powered off (CPU_OFF), vCPU 0 on.
      expect(v.map((c) => c.power)).toEqual(['on', ...Array<string>(n - 1).fill('off')]);
      for (const c of v) expect(c.instructions as number).toBeGreaterThan(1000);
      // The top-level counts are the totals.
      expect(r.stats.instructions).toBe(v.reduce((a, c) => a + (c.instructions as number), 0));
      const exits = (r.stats.exits as { total: number }).total;
      expect(exits).toBe(v.reduce((a, c) => a + (c.exits as { total: number }).total, 0));
      // Each secondary took its SGIs as interrupts (1, the broadcast 3, the wake-up 4).
      for (const c of v.slice(1)) expect(c.irqsTaken).toBe(3);
      // Virtual time is the machine's: less than the instructions of all vCPUs together.
      expect(r.stats.virtualTimeNs as number).toBeLessThan(r.stats.instructions as number);
    }, 120_000);
  }

  it('--trace: each console line carries the vCPU that wrote it, at that vCPU\'s clock', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'hypemu-smp-trace-')), 't.jsonl');
    const r = await run([guest('smp-ipi'), '--smp', '4', '--trace', trace, '--trace-filter', 'console']);
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { vcpu: number; text: string; insn: number; vtimeNs: number });
    expect(lines.map((l) => l.text).join('')).toBe(r.stdout);
    for (const n of [1, 2, 3]) {
      const l = lines.find((x) => x.text === `CPU ${n} online\n`)!;
      expect(l.vcpu).toBe(n);
      // Its own clock: a secondary has retired only a few hundred instructions by then.
      expect(l.insn).toBeLessThan(r.stats.vcpus![n]!.instructions as number);
      expect(l.insn).toBeLessThan(10_000);
      expect(l.vtimeNs).toBeGreaterThan(200_000); // ... but the machine's time: it started late
    }
    expect(lines.filter((l) => !/^CPU \d online/.test(l.text)).every((l) => l.vcpu === 0)).toBe(true);
  }, 120_000);

  it('is deterministic: two runs print the same bytes and the same statistics', async () => {
    const a = await run([guest('smp-ipi'), '--smp', '3']);
    const b = await run([guest('smp-ipi'), '--smp', '3']);
    expect(b.stdout).toBe(a.stdout);
    expect(stable(b.stats)).toEqual(stable(a.stats));
  }, 120_000);

  it('a guest that never starts the secondaries runs as on one vCPU (they stay off)', async () => {
    const one = await run([guest('timer-irq')]);
    const two = await run([guest('timer-irq'), '--smp', '2']);
    expect(two.status).toBe(0);
    expect(two.stdout).toBe(one.stdout);
    expect(two.stats.instructions).toBe(one.stats.instructions);
    expect(two.stats.vcpus!.map((c) => c.power)).toEqual(['on', 'off']);
  }, 120_000);

  it('bad values and options that support one vCPU only are one line, status 64', async () => {
    for (const [args, msg] of [
      [['--smp', '9'], /^hypemu: --smp: '9' is not a number of vCPUs from 1 to 8\n$/],
      [['--smp', '0'], /^hypemu: --smp: '0' is not a number of vCPUs from 1 to 8\n$/],
      [['--smp', 'two'], /^hypemu: --smp: 'two' is not a number of vCPUs from 1 to 8\n$/],
      [['--smp', '2', '--nested'], /^hypemu: --smp 2: --nested supports one vCPU only for now \(use --smp 1\)\n$/],
    ] as const) {
      const r = await hypemu(['run', guest('hello'), ...args]);
      expect(r.status, r.stderr).toBe(64);
      expect(r.stderr).toMatch(msg);
    }
  });
});

// The smp-spin guest (guest-images/src/smp-spin.c) waits the way kvm-unit-tests' micro-bench
// does: spinning on YIELD, for another vCPU's answer (an IPI round trip) and for a 10 ms timer
// while every other vCPU spins too. The scheduler's hand-over and its spin warp
// (emulator/cpu/smp-scheduler.ts) are what make both cheap; the guest passes under QEMU -smp 4.
describe('--smp: vCPUs that spin on YIELD (smp-spin guest)', () => {
  /** The longest IPI round trip the guest measured, in counter ticks (62.5 MHz: 16 ns each). */
  const longestRoundTrip = (out: string): number => Number(/IPI round trip, longest: (\d+) counter ticks/.exec(out)![1]);

  it('hand-over: an SGI ends the sender\'s quantum and the target\'s EOI ends its own, so a round trip is not a quantum (10,000 ns)', async () => {
    const r = await run([guest('smp-spin'), '--smp', '2']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('RESULT smp-spin: 0 failures');
    // Without the hand-over vCPU 0 spins out its quantum after the SGI and vCPU 1 runs out its
    // own after the EOI: the longest of the 8 round trips is then a quantum, 625 ticks or more.
    expect(longestRoundTrip(r.stdout) * 16).toBeLessThan(1000);
    const sched = r.stats['scheduler'] as { quantum: number; handovers: number };
    expect(sched.quantum).toBe(10_000);
    expect(sched.handovers).toBeGreaterThanOrEqual(1 + 8); // CPU_ON, then each SGI
  }, 120_000);

  for (const n of [2, 4]) {
    it(`--smp ${n}: 16 waits of 10 ms with every vCPU spinning cost a spin warp each, not 10M instructions per vCPU`, async () => {
      const r = await run([guest('smp-spin'), '--smp', String(n)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('PASS 10 ms timer waits ended by the timer IRQ');
      expect(r.stdout).toContain('PASS no timer IRQ taken before its deadline');
      const warp = (r.stats['scheduler'] as { spinWarp: { warps: number; ns: number } }).spinWarp;
      expect(warp.warps).toBe(16);
      expect(warp.ns).toBeGreaterThan(16 * 9_900_000);
      expect(r.stats.virtualTimeNs as number).toBeGreaterThan(160_000_000); // the time did pass ...
      expect(r.stats.instructions as number).toBeLessThan(5_000_000); // ... without 160 ms x n of spinning (320M+)
    }, 120_000);
  }

  it('is deterministic: two runs print the same bytes and the same statistics', async () => {
    const a = await run([guest('smp-spin'), '--smp', '4']);
    const b = await run([guest('smp-spin'), '--smp', '4']);
    expect(b.stdout).toBe(a.stdout);
    expect(stable(b.stats)).toEqual(stable(a.stats));
  }, 120_000);
});

// Cross-modified code (guest-images/src/smp-code.c; passes under QEMU -smp 4 too): vCPU 0 patches a
// function vCPU 1 has run and publishes it with DC CVAU + IC IVAU, then with IC IALLUIS (Arm ARM
// B2.4.4); vCPU 1 must run the new instruction. Each vCPU is its own Unicorn instance with its own
// translated code, so the broadcast has to reach it (emulator/cpu/maintenance.ts): before it did,
// rounds 2 and 3 read 1 (vCPU 1's old translation), and Linux --smp 2 restored from a snapshot
// ended short of the uninterrupted boot (tests/integration/linux-smp-snapshot.test.ts).
describe('--smp: code patched on one vCPU runs on another after IC IVAU / IC IALLUIS (smp-code guest)', () => {
  for (const n of [2, 4]) {
    it(`--smp ${n}`, async () => {
      const r = await run([guest('smp-code'), '--smp', String(n)]);
      expect(r.stdout).toContain('PASS round 2: CPU 1 sees the patch after IC IVAU');
      expect(r.stdout).toContain('PASS round 3: CPU 1 sees the patch after IC IALLUIS');
      expect(r.stdout).not.toContain('FAIL');
      expect(r.stdout).toContain('RESULT smp-code: 0 failures');
      expect(r.status, r.stderr).toBe(0);
    }, 120_000);
  }
});
