// CI boots real Linux: Debian bookworm's 6.1 cloud arm64 kernel with a busybox
// initramfs (scripts/fetch-linux.sh, cached in .cache/linux/), under the whole
// EL2 model, to the marker its /init prints; then a shell command sent on the
// UART input through a pipe (stdin is not a terminal) runs, and the guest
// powers off (PSCI SYSTEM_OFF, exit status 0).
// Skipped, with the reason printed, only when Debian's arm64 packages cannot
// be reached (fetch-linux.sh exits 3).
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CLI } from './helpers.js';
import { fetchLinux, type Linux } from './linux.js';


const MARKER = 'HYPEMU-INIT-OK';
const IDLE_MS = 3000;

/** user + system CPU seconds of a process (/proc/PID/stat fields 14 and 15, in clock ticks). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

describe('Linux 6.1 (Debian cloud arm64) + busybox under the EL2 model', () => {
  let linux: Linux | { skip: string };
  beforeAll(() => {
    linux = fetchLinux();
    if ('skip' in linux) console.warn(`skipping the Linux boot test: ${linux.skip}`);
  }, 600_000);

  it('boots to /init, runs a command piped to the UART, powers off', async (ctx) => {
    if ('skip' in linux) return ctx.skip();
    expect(existsSync(CLI)).toBe(true);
    const statsFile = join(mkdtempSync(join(tmpdir(), 'hypemu-linux-')), 'stats.json');
    const child = spawn(
      'node',
      [CLI, 'run', linux.KERNEL, '--initrd', linux.INITRD, '--append', linux.CMDLINE, '--stats-json', statsFile],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const t0 = process.hrtime.bigint();
    let out = '';
    let err = '';
    let sent = false;
    let idleCpu = -1;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // The command goes in once /init waits for it, after IDLE_MS of the guest idle at its
      // `read` with the input open (timers armed, receive interrupt on): that costs no host CPU.
      if (!sent && out.includes(MARKER)) {
        sent = true;
        const c0 = cpuSeconds(child.pid!);
        setTimeout(() => {
          idleCpu = cpuSeconds(child.pid!) - c0;
          child.stdin.end('echo hypemu-shell-$((6*7)); uname -m; cat /proc/uptime\n');
        }, IDLE_MS);
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    expect(out, err).toContain(MARKER);
    expect(out).toMatch(/^hypemu-shell-42\r?$/m); // the shell expanded it: not the tty's echo
    expect(out).toMatch(/^aarch64\r?$/m);
    // Idle at the prompt did not spin (it went through 300 s of virtual time per host second),
    // and the guest's clock did not run ahead of the host's (/proc/uptime: seconds since boot).
    expect(idleCpu, 'CPU seconds while idle at the prompt').toBeGreaterThanOrEqual(0);
    expect(idleCpu, 'CPU seconds while idle at the prompt').toBeLessThan(0.3 * (IDLE_MS / 1000));
    const uptime = Number(/^(\d+\.\d+) \d+\.\d+\r?$/m.exec(out)?.[1]);
    expect(uptime).toBeGreaterThan(0.5 * (IDLE_MS / 1000));
    expect(uptime).toBeLessThan(wallS);
    expect(out).toContain('HYPEMU-CMD-DONE');
    expect(out).toContain('reboot: Power down');
    expect(status, err).toBe(0);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    expect(stats.halt).toEqual({ kind: 'system-off' });
    expect(stats.instructions).toBeGreaterThan(100_000_000);
  }, 300_000);
});
