/**
 * The CLI's single-file build (scripts/bundle.mjs, cli/bundle-loader.ts) changes start-up time
 * only: the same help, the same console bytes, stats and trace as the CLI loaded module by module
 * (HYPEMU_BUNDLE=off).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshBundle } from '../../cli/bundle-loader.js';
import { ROOT, guest, hypemu, type CliResult } from './helpers.js';

/** Stats without the fields that measure the host. */
const guestStats = (s: Record<string, unknown> | undefined): string =>
  JSON.stringify(s, (k, v: unknown) => (k === 'host' || k === 'hostNs' || k === 'wallNs' ? undefined : v));

async function both(args: string[], stats = false): Promise<[CliResult, CliResult]> {
  const bundled = await hypemu(args, { stats });
  process.env.HYPEMU_BUNDLE = 'off';
  try {
    return [bundled, await hypemu(args, { stats })];
  } finally {
    delete process.env.HYPEMU_BUNDLE;
  }
}

/** The run's summary line names host milliseconds. */
const hostless = (s: string): string => s.replace(/\([\d.]+ ms host/g, '(- ms host');

describe('the bundled CLI', () => {
  beforeAll(() => {
    // After a bare `npx tsc` the bundle is stale (and unused): build it as `npm run build` does.
    if (freshBundle(join(ROOT, 'dist/cli')) === null) {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    expect(freshBundle(join(ROOT, 'dist/cli'))).not.toBeNull();
  }, 120_000);

  it('prints the same help and the same bad-option error as the modules', async () => {
    for (const args of [['--help'], ['run', '--help'], ['check', '--help'], ['run', '--smp', '9', guest('hello')]]) {
      const [b, m] = await both(args);
      expect(b.stdout).toBe(m.stdout);
      expect(b.stderr).toBe(m.stderr);
      expect(b.status).toBe(m.status);
    }
  });

  it('runs a guest to the same console, stats and trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-bundle-'));
    const args = (t: string): string[] => ['run', guest('smp-ipi'), '--smp', '2', '--trace', join(dir, t)];
    const b = await hypemu(args('b.jsonl'), { stats: true });
    process.env.HYPEMU_BUNDLE = 'off';
    const m = await hypemu(args('m.jsonl'), { stats: true }).finally(() => delete process.env.HYPEMU_BUNDLE);
    expect(b.status).toBe(0);
    expect(b.stdout).toBe(m.stdout);
    expect(hostless(b.stderr)).toBe(hostless(m.stderr));
    expect(guestStats(b.stats)).toBe(guestStats(m.stats));
    const trace = (f: string): string => readFileSync(join(dir, f), 'utf8').replace(/"hostNs":\d+,?/g, '');
    expect(trace('b.jsonl')).toBe(trace('m.jsonl'));
    expect(b.stats?.instructions).toBeGreaterThan(0);
  }, 120_000);
});
