// Issue 11, snapshots of a real boot: Linux 6.1 (Debian cloud arm64) + busybox snapshotted right
// after /init printed its marker, restored, run to power-off: the same console bytes, exit trace
// and final statistics as the uninterrupted boot (host time and Unicorn's TLB refill counters
// aside, README "Snapshots"). Three CLI runs (uninterrupted, saving, restored): about two boots.
// Skipped, with the reason printed, only when Debian's arm64 packages cannot be reached
// (scripts/fetch-linux.sh exits 3), as tests/integration/linux-boot.test.ts.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchLinux, type Linux } from './linux.js';
import { coldComparable, tracedRun } from './traced-run.js';


const run = tracedRun;

const MARKER = 'HYPEMU-INIT-OK';

describe('Linux boot snapshotted at /init and restored', () => {
  let linux: Linux | { skip: string };
  beforeAll(() => {
    linux = fetchLinux();
    if ('skip' in linux) console.warn(`skipping the Linux snapshot test: ${linux.skip}`);
  }, 600_000);

  it('the restored run prints the same bytes, writes the same trace and ends with the same stats', async (ctx) => {
    if ('skip' in linux) return ctx.skip();
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-linux-snap-'));
    const boot = [linux.KERNEL, '--initrd', linux.INITRD, '--append', `${linux.CMDLINE} hypemu_cmd=true`, '-q'];
    const whole = await run(boot, dir, 'whole');
    expect(whole.status, whole.stderr).toBe(0);
    expect(whole.stdout.toString()).toContain('HYPEMU-CMD-DONE');
    // N: right after the store of the marker line's last byte (its console record carries the
    // instruction count before that store).
    const marker = whole.trace.map((l) => JSON.parse(l)).find((o) => o.type === 'console' && String(o.text).includes(MARKER));
    expect(marker).toBeDefined();
    const at = (marker.insn as number) + 1;

    const snap = join(dir, 'init.snap');
    const saving = await run([...boot, '--snapshot-at', String(at), '--snapshot', snap], dir, 'saving');
    expect(saving.status, saving.stderr).toBe(0);
    // Taking the snapshot does not change the run (bytes, trace, stats).
    expect(saving.stdout.equals(whole.stdout)).toBe(true);
    expect(saving.trace).toEqual(whole.trace);
    expect(coldComparable(saving.stats)).toEqual(coldComparable(whole.stats));

    const restored = await run(['--restore', snap], dir, 'restored');
    expect(restored.status, restored.stderr).toBe(0);
    const ms = Number(/restored .* at instruction (\d+)\) in ([\d.]+) ms/.exec(restored.stderr)?.[2]);
    expect(restored.stderr).toContain(`at instruction ${at})`);
    console.log(`Linux /init snapshot: ${(readFileSync(snap).byteLength / 1048576).toFixed(1)} MiB, restored in ${ms} ms`);
    // Console: the uninterrupted output is the output up to the marker line, then the restored run's.
    const head = whole.stdout.subarray(0, whole.stdout.length - restored.stdout.length);
    expect(head.toString().endsWith(`${MARKER}\r\n`)).toBe(true);
    expect(Buffer.concat([head, restored.stdout]).equals(whole.stdout)).toBe(true);
    expect(restored.stdout.toString()).toContain('reboot: Power down');
    // Trace: the restored run's records are the uninterrupted run's from N on, byte for byte.
    expect(restored.trace.length).toBeGreaterThan(10);
    expect(JSON.parse(restored.trace[0]!).insn).toBeGreaterThanOrEqual(at);
    expect(restored.trace).toEqual(whole.trace.slice(whole.trace.length - restored.trace.length));
    expect(whole.trace.slice(0, whole.trace.length - restored.trace.length).every((l) => JSON.parse(l).insn <= at)).toBe(true);
    // Stats: the same final statistics (instructions, exits by reason, EL2 costs, guest counters).
    expect(restored.stats.instructions).toBe(whole.stats.instructions);
    expect(coldComparable(restored.stats)).toEqual(coldComparable(whole.stats));
    expect(ms).toBeLessThan(10_000); // well under 0.5 s on a quiet machine (README); generous for a loaded CI host
  }, 600_000);
});
