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

/**
 * Stats for comparing a run with another across a snapshot point or another process: without host
 * time (cost.hostNs, host.*) and, for the machine and each vCPU, without Unicorn's TLB refill
 * counters (cold after a snapshot point; QEMU sizes its TLB by host time) and tlb.flushes (the code
 * guard's whole-TLB flushes follow those refills: two uninterrupted Linux boots made 72 and 73), as
 * machine/golden-compare.ts HOST_STATS_FIELDS leaves them out of goldens.
 */
export function coldComparable(s: Record<string, any>): Record<string, any> {
  const c = structuredClone(s);
  delete c.cost.hostNs;
  delete c.host;
  for (const t of [c.tlb, ...(c.vcpus ?? []).map((v: Record<string, any>) => v.tlb)]) {
    delete t.fills;
    delete t.modelFills;
    delete t.modelHits;
    delete t.flushes;
  }
  return c;
}
