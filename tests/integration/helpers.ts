/**
 * Run the built CLI as a user would, capturing stdout, stderr and the exit status.
 *
 * Asynchronous (child_process.spawn + a promise), never spawnSync: a synchronous spawn blocks the
 * vitest worker's event loop for the whole run, and on a loaded machine a guest that takes 60 s
 * or more starves the worker's RPC to vitest, which then reports "Timeout calling onTaskUpdate"
 * and exits 1 with every test passing (vitest 3.2).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const CLI = join(ROOT, 'dist/cli/main.js');
export const guest = (name: string) => join(ROOT, 'guest-images/build', `${name}.elf`);

export interface CliResult {
  /** The exit status; -1 when the process was ended by a signal (the timeout's SIGTERM included). */
  status: number;
  stdout: string;
  stderr: string;
  /** The signal that ended the process, if one did. */
  signal?: NodeJS.Signals;
  stats?: Record<string, any>;
}

/** How long one CLI run may take before it is sent SIGTERM (as spawnSync's `timeout` did). */
const TIMEOUT_MS = 120_000;

/**
 * `node dist/cli/main.js ...args`; `stats` adds `--stats-json FILE` and parses it into `stats`;
 * `input` is written to the child's stdin, which is then closed (an empty stdin by default);
 * `env` adds variables to the child's environment.
 */
export async function hypemu(args: string[], opts: { stats?: boolean; input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm run setup does it)`);
  const statsFile = opts.stats ? join(mkdtempSync(join(tmpdir(), 'hypemu-')), 'stats.json') : null;
  const r = await new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((done, fail) => {
    const env = opts.env === undefined ? process.env : { ...process.env, ...opts.env };
    const p = spawn('node', [CLI, ...args, ...(statsFile ? ['--stats-json', statsFile] : [])], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => p.kill('SIGTERM'), TIMEOUT_MS);
    p.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      done({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A child that exits before reading its input closes the pipe: not this helper's error.
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
  });
  return {
    status: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    ...(r.signal !== null ? { signal: r.signal } : {}),
    ...(statsFile && existsSync(statsFile) ? { stats: JSON.parse(readFileSync(statsFile, 'utf8')) } : {}),
  };
}
