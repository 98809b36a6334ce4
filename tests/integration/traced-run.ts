/**
 * One CLI run with --stats-json and --trace: stdout as bytes, the stats and the trace with its
 * host-time field removed, for byte-for-byte comparisons of runs. Asynchronous: a long spawnSync
 * would block the vitest worker until its RPC to vitest timed out.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from './helpers.js';

export interface TracedRun {
  status: number;
  stdout: Buffer;
  stderr: string;
  stats: Record<string, any>;
  trace: string[];
}

/** `refusable`: a run refused before it starts writes no stats or trace; they are left empty. */
export async function tracedRun(args: string[], dir: string, tag: string, opts: { refusable?: boolean } = {}): Promise<TracedRun> {
  const stats = join(dir, `${tag}.json`);
  const trace = join(dir, `${tag}.trace`);
  const r = await new Promise<{ status: number | null; stdout: Buffer; stderr: Buffer }>((resolve) => {
    const p = spawn('node', [CLI, 'run', ...args, '--stats-json', stats, '--trace', trace], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  });
  let s: Record<string, any> = {};
  let t: string[] = [];
  try {
    s = JSON.parse(readFileSync(stats, 'utf8'));
    t = readFileSync(trace, 'utf8').split('\n').filter((l) => l !== '').map(stripTraceHost);
  } catch (e) {
    if (opts.refusable !== true) throw e;
  }
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString(), stats: s, trace: t };
}

export function stripTraceHost(line: string): string {
  const o = JSON.parse(line) as Record<string, unknown>;
  delete o['hostNs'];
  return JSON.stringify(o);
}
