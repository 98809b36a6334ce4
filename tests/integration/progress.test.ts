/**
 * The progress line (issue 11): on a terminal a long run redraws one line on stderr with
 * instructions/s, exits/s and virtual time; piped, in CI ($CI) or with --no-progress, nothing.
 * `script` (util-linux, in every Debian) gives the child a pseudo-terminal.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, guest } from './helpers.js';

// 300M instructions of bench-loop: a few seconds under load, well past the line's first second.
const args = [CLI, 'run', guest('bench-loop'), '--max-insns', '3e8'];
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (extra.CI === undefined) delete e.CI; // vitest under CI sets it; the positive case is a user's terminal
  return e;
};
const onTerminal = (extra: string[], e: NodeJS.ProcessEnv): string =>
  spawnSync('script', ['-qec', ['node', ...args, ...extra].join(' '), '/dev/null'], { encoding: 'utf8', env: e, timeout: 120_000 }).stdout;

describe('progress line', () => {
  it('on a terminal: one refreshing line with instructions/s, exits/s and virtual time, erased at the end', () => {
    const out = onTerminal([], env());
    expect(out).toMatch(/\r\x1b\[Khypemu: [\d.]+[kMG]? insns \([\d.]+[kMG]?\/s\), \d+ exits \([\d.]+[kMG]?\/s\), virtual \d+\.\d{6} s, [\d.]+ s host/);
    // Erased before the closing line, which starts at column 0.
    expect(out).toMatch(/\r\x1b\[Khypemu: instruction limit reached after 300000000 instructions/);
  }, 120_000);

  it('not with --no-progress, not in CI, not when stderr is a pipe', () => {
    expect(onTerminal(['--no-progress'], env())).not.toContain('\x1b[K');
    expect(onTerminal([], env({ CI: 'true' }))).not.toContain('\x1b[K');
    const piped = spawnSync('node', args, { encoding: 'utf8', env: env(), timeout: 120_000 });
    expect(piped.status).toBe(124);
    expect(piped.stderr).not.toContain('\r');
  }, 120_000);
});
