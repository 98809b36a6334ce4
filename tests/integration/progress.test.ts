/**
 * The progress line (issue 11): on a terminal a long run redraws one line on stderr with
 * instructions/s, exits/s and virtual time; piped, in CI ($CI) or with --no-progress, nothing.
 * `script` (util-linux, in every Debian) gives the child a pseudo-terminal.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, guest } from './helpers.js';

// 1.5G instructions of bench-loop: a few seconds (2 s on a quiet machine), past the line's first second.
const args = [CLI, 'run', guest('bench-loop'), '--max-insns', '1.5e9'];
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (extra.CI === undefined) delete e.CI; // vitest under CI sets it; the positive case is a user's terminal
  return e;
};
/** Run a command to its end without blocking the vitest worker (a long spawnSync times out its RPC). */
function run(cmd: string, argv: string[], e: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, argv, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
const onTerminal = async (extra: string[], e: NodeJS.ProcessEnv): Promise<string> =>
  (await run('script', ['-qec', ['node', ...args, ...extra].join(' '), '/dev/null'], e)).stdout;

describe('progress line', () => {
  it('on a terminal: one refreshing line with instructions/s, exits/s and virtual time, erased at the end', async () => {
    const out = await onTerminal([], env());
    expect(out).toMatch(/\r\x1b\[Khypemu: [\d.]+[kMG]? insns \([\d.]+[kMG]?\/s\), \d+ exits \([\d.]+[kMG]?\/s\), virtual \d+\.\d{6} s, [\d.]+ s host/);
    // Erased before the closing line, which starts at column 0.
    expect(out).toMatch(/\r\x1b\[Khypemu: instruction limit reached after 1500000000 instructions/);
  }, 120_000);

  it('not with --no-progress, not in CI, not when stderr is a pipe', async () => {
    expect(await onTerminal(['--no-progress'], env())).not.toContain('\x1b[K');
    expect(await onTerminal([], env({ CI: 'true' }))).not.toContain('\x1b[K');
    const piped = await run('node', args, env());
    expect(piped.status).toBe(124);
    expect(piped.stderr).not.toContain('\r');
  }, 240_000);
});
