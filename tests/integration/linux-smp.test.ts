// Linux 6.1 (Debian cloud arm64, scripts/fetch-linux.sh) with --smp 2: the kernel brings the
// secondary up through PSCI CPU_ON, finds its GICv3 redistributor, and `nproc` in the initramfs
// prints 2. Skipped, with the reason printed, only when Debian's arm64 packages cannot be reached
// (fetch-linux.sh exits 3), as the one-vCPU boot test is.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI } from './helpers.js';
import { fetchLinux, type Linux as LinuxImage } from './linux.js';

type Linux = LinuxImage | { skip: string };

describe('Linux 6.1 with --smp 2', () => {
  let linux: Linux;
  beforeAll(() => {
    linux = fetchLinux();
    if ('skip' in linux) console.warn(`skipping the Linux --smp 2 test: ${linux.skip}`);
  }, 600_000);

  it('brings up the secondary CPU; nproc prints 2; powers off', async (ctx) => {
    if ('skip' in linux) return ctx.skip();
    const statsFile = join(mkdtempSync(join(tmpdir(), 'hypemu-linux-smp-')), 'stats.json');
    const child = spawn(
      'node',
      [CLI, 'run', linux.KERNEL, '--initrd', linux.INITRD, '--append', `${linux.CMDLINE} hypemu_cmd=nproc`, '--smp', '2', '--stats-json', statsFile],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(out, err).toContain('GICv3: CPU1: found redistributor 1 region 0:0x00000000080c0000');
    expect(out).toContain('smp: Brought up 1 node, 2 CPUs');
    expect(out).toMatch(/HYPEMU-INIT-OK\r?\n2\r?\nHYPEMU-CMD-DONE/);
    expect(status, err).toBe(0);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8')) as { halt: unknown; vcpus: Array<{ instructions: number; irqsTaken: number }> };
    expect(stats.halt).toEqual({ kind: 'system-off' });
    expect(stats.vcpus).toHaveLength(2);
    // Both CPUs ran the kernel and took interrupts (timer ticks, IPIs).
    for (const v of stats.vcpus) {
      expect(v.instructions).toBeGreaterThan(10_000_000);
      expect(v.irqsTaken).toBeGreaterThan(10);
    }
  }, 600_000);
});
