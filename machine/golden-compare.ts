/**
 * Comparing a run with a golden run (machine/golden.ts): the exit trace record by record (the
 * first record that differs is the divergence: the instruction count and PC where what the EL2
 * model saw stopped being the same), the console as a unified diff, the stats field by field,
 * and the exit status. Ignored fields (dotted paths) are removed from both sides first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import type { GoldenMeta } from './golden-meta.js';
import { unifiedDiff } from './text-diff.js';

/**
 * Stats fields never stored or compared (machine/golden.ts). tlb.flushes counts the code guard's
 * whole-TLB flushes too, which follow Unicorn's fills: two Linux boots of the same image made 72
 * and 73 (same console, trace and every other stat). Also dropped from a golden that has them.
 */
export const HOST_STATS_FIELDS = ['host', 'cost.hostNs', 'tlb.fills', 'tlb.modelFills', 'tlb.modelHits', 'tlb.flushes', 'image'] as const;

/** Trace records shown before the divergence ("the last lines before it"). */
const CONTEXT_RECORDS = 3;
/** Stats fields listed in the report (all are in statsDiffs). */
const STATS_SHOWN = 8;

export interface Divergence {
  /** 1-based line of trace.jsonl where the runs first differ. */
  readonly record: number;
  /** Instruction count and PC of the earlier of the two differing records (where they part). */
  readonly instructions: number | null;
  readonly pc: string | null;
  /** The trapping instruction of that record, disassembled (insnText), when it is an exit. */
  readonly insnText: string | null;
  /** The golden record and the actual one at that line (null: that trace had ended). */
  readonly expected: string | null;
  readonly actual: string | null;
  /** The records before it, identical in both runs (at most CONTEXT_RECORDS). */
  readonly before: readonly string[];
}

export interface GoldenComparison {
  readonly ok: boolean;
  /** The first trace record that differs, or null when the traces agree. */
  readonly divergence: Divergence | null;
  /** `diff -u` of golden and actual console output ('' when identical). */
  readonly consoleDiff: string;
  /** Stats fields that differ, as `path: expected -> actual`. */
  readonly statsDiffs: readonly string[];
  readonly status: { readonly expected: number; readonly actual: number };
  /** The human report `hypemu check` prints ({ACTUAL} stands for the kept actual directory). */
  readonly report: string;
}

const readText = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** trace.jsonl of a directory, or its trace.jsonl.gz (how a golden directory stores it). */
function traceLines(dir: string): string[] {
  const plain = join(dir, 'trace.jsonl');
  const gz = plain + '.gz';
  const t = existsSync(plain) ? readText(plain) : existsSync(gz) ? gunzipSync(readFileSync(gz)).toString('utf8') : '';
  const l = t.split('\n');
  if (l.at(-1) === '') l.pop();
  return l;
}

function without(o: unknown, ignore: readonly string[]): unknown {
  for (const path of ignore) {
    const parts = path.split('.');
    let cur: unknown = o;
    for (const p of parts.slice(0, -1)) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
    if (cur !== null && typeof cur === 'object') delete (cur as Record<string, unknown>)[parts.at(-1)!];
  }
  return o;
}

/** A trace line with the ignored fields (and hostNs, never compared) removed. */
function normalise(line: string, ignore: readonly string[]): string {
  try {
    return JSON.stringify(without(JSON.parse(line), ['hostNs', ...ignore]));
  } catch {
    return line; // not JSON: compared as text
  }
}

function firstDivergence(expected: string[], actual: string[], ignore: readonly string[]): Divergence | null {
  const n = Math.max(expected.length, actual.length);
  const fast = ignore.length === 0;
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const a = actual[i];
    if (e !== undefined && a !== undefined && (fast ? e === a : normalise(e, ignore) === normalise(a, ignore))) continue;
    if (fast && e !== undefined && a !== undefined && normalise(e, []) === normalise(a, [])) continue; // hostNs only
    const pe = parse(e);
    const pa = parse(a);
    // The earlier of the two records is where the runs part: the golden run trapped at an
    // instruction where the actual one did not (or the other way round).
    const first = pe === null ? pa : pa === null ? pe : (pa.insn ?? Infinity) < (pe.insn ?? Infinity) ? pa : pe;
    const text = (r: Record<string, unknown> | null): string | null => (typeof r?.insnText === 'string' ? r.insnText : null);
    // The same place, a different instruction there (the image changed): name both.
    const both = pe !== null && pa !== null && pe.pc === pa.pc && text(pe) !== text(pa);
    return {
      record: i + 1,
      instructions: typeof first?.insn === 'number' ? first.insn : null,
      pc: typeof first?.pc === 'string' ? first.pc : null,
      insnText: both ? `golden: ${text(pe) ?? '?'}; this run: ${text(pa) ?? '?'}` : text(first),
      expected: e ?? null,
      actual: a ?? null,
      before: expected.slice(Math.max(0, i - CONTEXT_RECORDS), i),
    };
  }
  return null;
}

function parse(line: string | undefined): Record<string, unknown> | null {
  if (line === undefined) return null;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Leaf paths where two JSON values differ, as `path: a -> b`. */
function jsonDiffs(a: unknown, b: unknown, path: string, out: string[]): void {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) jsonDiffs((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`, out);
    return;
  }
  const sa = JSON.stringify(a);
  const sb = JSON.stringify(b);
  if (sa !== sb) out.push(`${path}: ${sa ?? '(absent)'} -> ${sb ?? '(absent)'}`);
}

/** The register-state checkpoints' verdict (machine/golden.ts): whether they were compared, the window where they first differ, the report's lines about it. */
export interface StateComparison {
  readonly checked: boolean;
  readonly window: { readonly from: number; readonly to: number } | null;
  readonly lines: readonly string[];
}

export function compareGoldenRuns(
  goldenDir: string,
  actualDir: string,
  meta: GoldenMeta,
  actualStatus: number,
  ignore: readonly string[],
  state: StateComparison = { checked: false, window: null, lines: [] },
): GoldenComparison {
  const expTrace = traceLines(goldenDir);
  const actTrace = traceLines(actualDir);
  const divergence = firstDivergence(expTrace, actTrace, ignore);
  const expConsole = readText(join(goldenDir, 'console.txt'));
  const actConsole = readText(join(actualDir, 'console.txt'));
  const consoleDiff = unifiedDiff(expConsole, actConsole, { a: `${goldenDir}/console.txt`, b: 'actual console' });
  const statsDiffs: string[] = [];
  const expStats = without(JSON.parse(readText(join(goldenDir, 'stats.json')) || '{}'), [...HOST_STATS_FIELDS, ...ignore]);
  const actStats = without(JSON.parse(readText(join(actualDir, 'stats.json')) || '{}'), ignore);
  jsonDiffs(expStats, actStats, '', statsDiffs);
  const status = { expected: meta.status, actual: actualStatus };
  const ok = divergence === null && consoleDiff === '' && statsDiffs.length === 0 && status.expected === status.actual && state.window === null;
  return { ok, divergence, consoleDiff, statsDiffs, status, report: report(goldenDir, meta, { ok, divergence, consoleDiff, statsDiffs, status, expTrace, actTrace, expConsole, state }) };
}

function report(
  dir: string,
  meta: GoldenMeta,
  r: {
    ok: boolean;
    divergence: Divergence | null;
    consoleDiff: string;
    statsDiffs: string[];
    status: { expected: number; actual: number };
    expTrace: string[];
    actTrace: string[];
    expConsole: string;
    state: StateComparison;
  },
): string {
  if (r.ok) {
    return `hypemu check: ${dir}: the run matches the golden run (${r.expTrace.length} trace records, ${Buffer.byteLength(r.expConsole)} console bytes, ${meta.instructions} instructions, exit status ${meta.status})\n`;
  }
  const out = [`hypemu check: ${dir}: the run DIFFERS from the golden run`];
  // The instruction where the runs part comes first: the trace shows where it first reached the EL2 model.
  out.push(...r.state.lines);
  if (r.state.checked && r.state.window === null) out.push('register state: the same at every checkpoint');
  const d = r.divergence;
  if (d !== null) {
    const where = d.instructions !== null ? `instruction ${d.instructions}` : 'an unnumbered record';
    const pc = d.pc !== null ? `, PC ${d.pc}${d.insnText !== null ? ` (${d.insnText})` : ''}` : '';
    out.push(`first divergence at ${where}${pc}: trace record ${d.record} (golden: ${r.expTrace.length} records, this run: ${r.actTrace.length})`);
    out.push(`  expected: ${d.expected ?? '(the golden trace ends here)'}`);
    out.push(`  actual:   ${d.actual ?? '(this run\'s trace ends here)'}`);
    if (d.before.length > 0) {
      out.push(`the ${d.before.length} record(s) before it, the same in both runs:`);
      for (const l of d.before) out.push(`  ${l}`);
    } else out.push('(it is the first record)');
  } else out.push('trace: the same in both runs');
  out.push(`console: ${r.consoleDiff === '' ? 'the same in both runs' : 'differs (unified diff below)'}`);
  if (r.statsDiffs.length > 0) {
    out.push(`stats: ${r.statsDiffs.length} field(s) differ: ${r.statsDiffs.slice(0, STATS_SHOWN).join('; ')}${r.statsDiffs.length > STATS_SHOWN ? '; ...' : ''}`);
  } else out.push('stats: the same in both runs');
  out.push(r.status.expected === r.status.actual ? `exit status: ${r.status.actual} in both runs` : `exit status: expected ${r.status.expected}, actual ${r.status.actual}`);
  out.push('this run\'s files (console.txt, trace.jsonl, stats.json): {ACTUAL}');
  out.push(`if the change is intended, record the golden run again: hypemu record --golden ${dir}`);
  return out.join('\n') + '\n' + r.consoleDiff;
}
