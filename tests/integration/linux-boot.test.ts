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
    let out = '';
    let err = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // The command goes in once /init waits for it: input that reaches the
      // UART before the tty is open is drained by the pl011 driver, on
      // hardware as here.
      if (!sent && out.includes(MARKER)) {
        sent = true;
        child.stdin.end('echo hypemu-shell-$((6*7)); uname -m\n');
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(out, err).toContain(MARKER);
    expect(out).toMatch(/^hypemu-shell-42\r?$/m); // the shell expanded it: not the tty's echo
    expect(out).toMatch(/^aarch64\r?$/m);
    expect(out).toContain('HYPEMU-CMD-DONE');
    expect(out).toContain('reboot: Power down');
    expect(status, err).toBe(0);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    expect(stats.halt).toEqual({ kind: 'system-off' });
    expect(stats.instructions).toBeGreaterThan(100_000_000);
  }, 300_000);
});
