// The GICv3 ITS end to end: the its-lpi guest (guest-images/src/its-lpi.c) programs the LPI
// tables of every Redistributor and the ITS's Device/Collection tables and command queue in its
// own memory, sends MSIs through GITS_TRANSLATER (DeviceID 0: a CPU's store) and ITS commands
// (MAPD, MAPC, MAPTI, MAPI, INT, INV, INVALL, CLEAR, DISCARD, MOVI, MOVALL, SYNC), and each CPU
// counts the LPIs (INTID >= 8192) it takes from ICC_IAR1_EL1. QEMU 7.2 (`-M virt,gic-version=3
// -smp 2/3/4`) prints the same bytes (scripts/guests-under-qemu.sh its-lpi). Arm IHI0069 ch. 5.
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  stats: Record<string, unknown> & { vcpus: Array<Record<string, unknown>> };
}

/** One CLI run with its stats (the shared asynchronous helper; stats are always written here). */
async function run(args: string[]): Promise<Run> {
  const r = await hypemu(['run', ...args, '-q'], { stats: true });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, stats: r.stats as Run['stats'] };
}

describe('GICv3 ITS: MSIs become LPIs on the CPUs the collections name (its-lpi guest)', () => {
  for (const n of [2, 4]) {
    it(`--smp ${n}: every check passes, LPIs taken on every CPU`, async () => {
      const r = await run([guest('its-lpi'), '--smp', String(n)]);
      expect(r.stdout).not.toContain('FAIL');
      expect(r.stdout).toContain(`${n} CPUs`);
      expect(r.stdout).toContain('PASS MOVALL: CPU 0\'s pending LPI taken by CPU 1 only');
      expect(r.stdout).toContain('RESULT its-lpi: 0 failures');
      expect(r.status, r.stderr).toBe(0);
      // Every CPU took interrupts (its LPIs; the secondaries also the final wake-up SGI).
      for (const v of r.stats.vcpus) expect(v.irqsTaken as number).toBeGreaterThan(1);
    }, 120_000);
  }

  it('is deterministic: two runs print the same bytes and count the same instructions', async () => {
    const a = await run([guest('its-lpi'), '--smp', '3']);
    const b = await run([guest('its-lpi'), '--smp', '3']);
    expect(a.stdout).toContain('RESULT its-lpi: 0 failures');
    expect(b.stdout).toBe(a.stdout);
    expect(b.stats.instructions).toBe(a.stats.instructions);
    expect(b.stats.vcpus.map((v) => v.irqsTaken)).toEqual(a.stats.vcpus.map((v) => v.irqsTaken));
  }, 120_000);
});
