/**
 * Golden runs (issue 11): `hypemu record IMAGE --golden DIR [run options]` keeps what a run showed
 * the outside world, `hypemu check IMAGE --golden DIR` runs the same thing again and names the
 * first place where it differs. A golden directory holds:
 *
 *   golden.json     {format, hypemu, image, imageSha256, options, status, end, instructions, records}
 *                 image and initrd paths relative to DIR, so a directory committed beside the
 *                 images it was recorded from checks from any working directory
 *   console.txt   the guest's console output, byte for byte
 *   trace.jsonl.gz  the exit trace (machine/trace.ts lines: exits, interrupts, console lines),
 *                 gzip'd: a boot's trace is megabytes of repetitive text, ~25 times smaller so
 *   stats.json    the stats JSON (machine/stats.ts)
 *   checkpoints.bin  register-state fingerprints every N instructions (golden-checkpoints.ts): a
 *                 check names the instruction where the runs part (golden-lockstep.ts)
 *   image.*       with keepImage (`record --keep-image`): a copy of the image, which the golden
 *                 then runs by default and steps as the reference when another image is checked
 *
 * Fields that depend on the host, not on the guest, are never stored, so re-recording an
 * unchanged run rewrites the same bytes (a clean `git diff`): the trace's hostNs, and the stats'
 * host.*, cost.hostNs, Unicorn's TLB refill counters tlb.{fills,modelFills,modelHits} (QEMU
 * resizes its TLB by host time: README, "stats JSON") and tlb.flushes (the code guard's follow them); and the stats' image name as typed (the
 * golden records the image itself). `ignore` names more (dotted paths into trace records and the
 * stats: `cycles`, `sysreg.value`, `exits.byReason.irq`).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../emulator/package-root.js';
import { loadDisassembler } from '../emulator/debug/disasm.js';
import { Machine, type MachineIo } from './machine.js';
import type { MachineConfig } from './config.js';
import { ConfigError } from './errors.js';
import { TraceWriter } from './trace.js';
import { HYPEMU_VERSION } from './snapshot.js';
import type { RunEnd } from './exit-status.js';
import type { GoldenMeta } from './golden-meta.js';
import { HOST_STATS_FIELDS, compareGoldenRuns, type GoldenComparison } from './golden-compare.js';
import { CHECKPOINT_EVERY, CHECKPOINT_FILE, Checkpoints, divergenceWindow, type CheckpointMeta } from './golden-checkpoints.js';
import { lockstep, lockstepReport, type InstructionDivergence } from './golden-lockstep.js';
import { copyFileSync, existsSync } from 'node:fs';
import { extname } from 'node:path';

/** 2: checkpoints and a kept image (format 1 directories are still read and checked). */
export const GOLDEN_FORMAT = 2;
const READS_FORMATS = [1, 2];

export type { GoldenMeta };

export { HOST_STATS_FIELDS };

/**
 * Options that are not part of what a golden run is: outputs the golden directory replaces
 * (--trace, --stats-json), ways of driving or observing a run (--gdb, --snapshot-at, --quiet).
 */
const NOT_GOLDEN = new Set<string>(['trace', 'traceFormat', 'statsJson', 'snapshot', 'snapshotAt', 'gdb', 'gdbWait', 'quiet', 'logLevel', 'restore']);

const flag = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export interface RecordResult {
  readonly dir: string;
  readonly meta: GoldenMeta;
}

export interface GoldenRunOptions {
  /** Human progress lines (the CLI: stderr), e.g. the progress display. */
  readonly io?: Pick<MachineIo, 'log' | 'notice'>;
  /** Called with the machine before it runs (the CLI's progress display attaches here). */
  readonly onMachine?: (m: Machine) => void;
}

export interface RecordOptions extends GoldenRunOptions {
  /** Register-state checkpoint interval in instructions (default CHECKPOINT_EVERY; 0: none). */
  readonly checkpointEvery?: number;
  /** Copy the image into the directory (image.EXT): the golden then holds what it runs. */
  readonly keepImage?: boolean;
}

/**
 * Run `config` and store its console, trace and stats in `dir` (created if needed; the four
 * files are overwritten). `config.image` is required; options that only name outputs or drive
 * the run (NOT_GOLDEN) are refused.
 */
export async function recordGolden(dir: string, config: MachineConfig, opts: RecordOptions = {}): Promise<RecordResult> {
  if (config.image === undefined) throw new ConfigError('record: an IMAGE is required (or none and no run options, to re-record DIR with what it holds)');
  for (const [k, v] of Object.entries(config)) {
    if (v !== undefined && NOT_GOLDEN.has(k)) throw new ConfigError(`record: ${flag(k)} is not a golden run option (the golden directory holds the console, trace and stats)`);
  }
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw new ConfigError(`--golden ${dir}: ${(e as Error).message}`);
  }
  const every = opts.checkpointEvery ?? CHECKPOINT_EVERY;
  if (!Number.isSafeInteger(every) || every < 0 || every % CHECKPOINT_EVERY !== 0) {
    throw new ConfigError(`--checkpoint-every ${every}: a multiple of ${CHECKPOINT_EVERY} instructions, where every run stops anyway (0: no checkpoints)`);
  }
  const run = await runInto(abs, config, opts, every > 0 ? { every, golden: null } : null);
  // Stored gzip'd (and a trace.jsonl an earlier record left goes: one trace per directory).
  writeFileSync(join(abs, 'trace.jsonl.gz'), gzipSync(readFileSync(join(abs, 'trace.jsonl')), { level: 9 }));
  rmSync(join(abs, 'trace.jsonl'));
  if (run.checkpoints !== null) writeFileSync(join(abs, CHECKPOINT_FILE), run.checkpoints.bytes);
  else rmSync(join(abs, CHECKPOINT_FILE), { force: true });
  const { image, initrd, ...rest } = config;
  const options: Record<string, unknown> = { ...rest };
  if (initrd !== undefined) options.initrd = relative(abs, resolve(initrd));
  const imageSha256 = sha256(resolve(image!));
  let imageRel = relative(abs, resolve(image!));
  let source: string | undefined;
  if (opts.keepImage === true) {
    const kept = join(abs, `image${extname(image!)}`);
    if (resolve(image!) !== kept) {
      copyFileSync(resolve(image!), kept);
      source = imageRel;
    } else source = readGoldenSource(abs); // re-recorded from its own copy: keep where that came from
    imageRel = relative(abs, kept);
  }
  const meta: GoldenMeta = {
    format: GOLDEN_FORMAT,
    hypemu: HYPEMU_VERSION,
    image: imageRel,
    imageSha256,
    options,
    status: run.status,
    end: run.end,
    instructions: run.instructions,
    records: run.records,
    ...(run.checkpoints !== null ? { checkpoints: { every, count: run.checkpoints.count, file: CHECKPOINT_FILE, end: run.checkpoints.end } } : {}),
    ...(source !== undefined ? { source } : {}),
  };
  writeFileSync(join(abs, 'golden.json'), JSON.stringify(meta, bigintJson, 2) + '\n');
  return { dir: abs, meta };
}

/** The `source` an existing golden.json names, if any. */
function readGoldenSource(abs: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(abs, 'golden.json'), 'utf8')) as GoldenMeta).source;
  } catch {
    return undefined;
  }
}

/** golden.json of `dir`, or a one-line ConfigError. */
export function readGolden(dir: string): GoldenMeta {
  const file = join(resolve(dir), 'golden.json');
  let meta: GoldenMeta;
  try {
    meta = JSON.parse(readFileSync(file, 'utf8')) as GoldenMeta;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`--golden ${dir}: ${code === 'ENOENT' ? 'no golden.json (record one with `hypemu record IMAGE --golden DIR`)' : `golden.json: ${(e as Error).message}`}`);
  }
  if (!READS_FORMATS.includes(meta.format)) throw new ConfigError(`--golden ${dir}: golden format ${String(meta.format)}; this hypemu reads formats ${READS_FORMATS.join(' and ')}`);
  return meta;
}

/** The MachineConfig a golden directory was recorded with (paths made absolute again); `image` replaces the recorded image. */
export function goldenConfig(dir: string, meta: GoldenMeta, image?: string): MachineConfig {
  const abs = resolve(dir);
  const o = { ...meta.options } as MachineConfig & Record<string, unknown>;
  if (typeof o.initrd === 'string') o.initrd = resolve(abs, o.initrd);
  return { ...o, image: image ?? resolve(abs, meta.image) };
}

/**
 * How many instructions a check run may retire when the golden run ended by itself (not at
 * --max-insns): the golden's count plus an eighth of it, at least 1,000,000 more. A changed image
 * that never ends (a loop, an idle loop with its timers armed) is stopped there and reported as a
 * divergence (exit status 1) instead of running forever; one that ends a little later than the
 * golden still ends and is compared as it is. A golden recorded with --max-insns keeps its limit.
 */
export function checkLimit(meta: Pick<GoldenMeta, 'instructions' | 'end'>): number | null {
  if (meta.end.kind === 'insn-limit') return null;
  return meta.instructions + Math.max(1_000_000, Math.ceil(meta.instructions / 8));
}

export interface GoldenCheck extends GoldenComparison {
  /** Where the actual run's files are (kept when it differs, or with keepActual), else null. */
  readonly actualDir: string | null;
  /** The recorded image's SHA-256 and the checked one's (they may differ: that is the point). */
  readonly image: { readonly path: string; readonly recordedSha256: string; readonly sha256: string };
  /**
   * Where the register state first differed (golden checkpoints): it agreed after `from`
   * instructions and differed by `to`; null when every checkpoint agreed (or none were recorded).
   */
  readonly stateWindow?: { readonly from: number; readonly to: number } | null;
  /** The instruction where the runs part, found by stepping the recorded image and this one (golden-lockstep.ts). */
  readonly instruction?: InstructionDivergence | null;
  /**
   * The check run did not end by itself and was stopped after this many instructions (checkLimit:
   * the golden run ended after `meta.instructions`); null when it ended.
   */
  readonly stoppedAt?: number | null;
  /** isolate: the child process running the guest died (a signal, or an exit status other than 0/1). */
  readonly crashed?: { readonly status: number | null; readonly signal: string | null; readonly stderr: string };
}

export interface CheckOptions extends GoldenRunOptions {
  /** Check this image instead of the recorded one (a new build of it). */
  readonly image?: string;
  /** More fields never compared (dotted paths into trace records and the stats). */
  readonly ignore?: readonly string[];
  /** Keep the actual run's directory even when it matches. */
  readonly keepActual?: boolean;
  /**
   * Run the guest in a child process (`hypemu check --result-json`): a guest that takes its
   * process down (a native crash in the CPU core) or outlives timeoutMs fails this check, not the
   * process that asked. (vitest 3's forks pool ends the whole run when a worker dies: README "A
   * suite of boots".)
   */
  readonly isolate?: boolean;
  /** With isolate: SIGKILL the child after this long (a hung guest); default none. */
  readonly timeoutMs?: number;
  /** With isolate: the child, once spawned (a watchdog of the caller's own). */
  readonly onChild?: (child: ChildProcess) => void;
  /**
   * The image the golden was recorded from, when it is neither kept in the directory nor still at
   * its recorded path (its SHA-256 must be the recorded one): the lockstep's reference.
   */
  readonly recordedImage?: string;
}

/**
 * Run a golden directory's image (or `image`) with its recorded options and compare with what it
 * holds. `ok` when the console, the trace, the stats and the exit status are the same (host-time
 * fields and `ignore` aside); otherwise `report` names the first divergence (README "Golden runs").
 */
export async function checkGolden(dir: string, opts: CheckOptions = {}): Promise<GoldenCheck> {
  if (opts.isolate === true) return checkInChild(dir, opts);
  const meta = readGolden(dir);
  const recorded = goldenConfig(dir, meta, opts.image);
  const limit = recorded.maxInsns === undefined ? checkLimit(meta) : null;
  const config: MachineConfig = limit !== null ? { ...recorded, maxInsns: limit } : recorded;
  const actualDir = mkdtempSync(join(tmpdir(), 'hypemu-check-'));
  let keep = opts.keepActual === true;
  const ignore = opts.ignore ?? [];
  const cp = meta.checkpoints !== undefined && !ignore.includes('checkpoints') ? meta.checkpoints : null;
  try {
    const run = await runInto(actualDir, config, opts, cp !== null ? { every: cp.every, golden: readFileSync(join(resolve(dir), cp.file)) } : null);
    const imagePath = resolve(config.image!);
    const image = { path: imagePath, recordedSha256: meta.imageSha256, sha256: sha256(imagePath) };
    const stateWindow = cp !== null && run.checkpoints !== null ? divergenceWindow(cp, run.checkpoints, run.checkpoints.end) : null;
    let instruction: InstructionDivergence | null = null;
    const stateLines: string[] = [];
    if (cp !== null && stateWindow !== null) {
      const located = await locate(dir, meta, config, image, stateWindow, opts.recordedImage);
      instruction = located.instruction;
      stateLines.push(...located.lines);
    }
    const stoppedAt = limit !== null && run.end.kind === 'insn-limit' ? run.instructions : null;
    if (stoppedAt !== null) {
      stateLines.push(`this run did not end: stopped after ${stoppedAt} instructions (the golden run ended after ${meta.instructions}, exit status ${meta.status}; a check runs at most an eighth more, at least 1,000,000)`);
    }
    const cmp = compareGoldenRuns(resolve(dir), actualDir, meta, run.status, ignore, { checked: cp !== null, window: stateWindow, lines: stateLines });
    keep ||= !cmp.ok;
    const report = cmp.report.replace('{ACTUAL}', keep ? actualDir : '(removed)');
    return { ...cmp, report, actualDir: keep ? actualDir : null, image, stateWindow, instruction, stoppedAt };
  } finally {
    if (!keep) rmSync(actualDir, { recursive: true, force: true });
  }
}

/**
 * Step the recorded image and the checked one through the window where their states parted
 * (golden-lockstep.ts). The reference is the recorded image: the directory's copy or the file at
 * its recorded path (or `recordedImage`), when its SHA-256 is the recorded one.
 */
async function locate(
  dir: string,
  meta: GoldenMeta,
  config: MachineConfig,
  image: { path: string; recordedSha256: string; sha256: string },
  window: { from: number; to: number },
  recordedImage: string | undefined,
): Promise<{ instruction: InstructionDivergence | null; lines: string[] }> {
  const where = `the register state agreed at instruction ${window.from} and differed by instruction ${window.to}`;
  if (image.sha256 === image.recordedSha256) {
    return { instruction: null, lines: [`register state: ${where}; the image is the one recorded, so what changed is hypemu (or the host), not the guest: not stepped`] };
  }
  const candidates = [recordedImage, resolve(resolve(dir), meta.image)].filter((p): p is string => p !== undefined).map((p) => resolve(p));
  const reference = candidates.find((p) => existsSync(p) && sha256(p) === meta.imageSha256);
  if (reference === undefined) {
    return { instruction: null, lines: [`register state: ${where}; the recorded image is not available to step through (not kept in the golden directory and ${candidates.join(', ')} is another file now): record with --keep-image, or pass it to check with --recorded-image FILE`] };
  }
  const cp = meta.checkpoints!;
  const fromHash = window.from === 0 ? null : readFileSync(join(resolve(dir), cp.file)).subarray((window.from / cp.every - 1) * 8, (window.from / cp.every) * 8);
  const r = await lockstep(goldenConfig(dir, meta, reference), config, window, fromHash);
  return { instruction: r.found ? r.divergence : null, lines: lockstepReport(r, window) };
}

/** checkGolden in a child `hypemu check --result-json FILE`; its death is this check's failure. */
async function checkInChild(dir: string, opts: CheckOptions): Promise<GoldenCheck> {
  const meta = readGolden(dir); // bad input is the caller's ConfigError, as without isolate
  const out = join(mkdtempSync(join(tmpdir(), 'hypemu-check-child-')), 'result.json');
  const args = [join(packageRoot(), 'dist/cli/main.js'), 'check', '--golden', resolve(dir), '--result-json', out, '-q', '--no-progress'];
  if (opts.image !== undefined) args.push(resolve(opts.image));
  if (opts.recordedImage !== undefined) args.push('--recorded-image', resolve(opts.recordedImage));
  for (const f of opts.ignore ?? []) args.push('--ignore', f);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  opts.onChild?.(child);
  const timer = opts.timeoutMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4096)));
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('close', (c, s) => r([c, s])));
  if (timer !== null) clearTimeout(timer);
  if (status === 0 || status === 1) {
    const r = JSON.parse(readFileSync(out, 'utf8')) as GoldenCheck;
    rmSync(dirname(out), { recursive: true, force: true });
    return r;
  }
  rmSync(dirname(out), { recursive: true, force: true });
  if (status === 64) throw new ConfigError(stderr.trim().replace(/^hypemu: /, ''));
  const how = signal !== null ? `was killed by ${signal}` : `exited with status ${status}`;
  const imagePath = resolve(opts.image ?? resolve(dir, meta.image));
  return {
    ok: false, divergence: null, consoleDiff: '', statsDiffs: [], status: { expected: meta.status, actual: -1 }, actualDir: null,
    image: { path: imagePath, recordedSha256: meta.imageSha256, sha256: '' },
    crashed: { status, signal, stderr },
    report: `hypemu check: ${resolve(dir)}: the process running the guest ${how}${timer !== null && signal === 'SIGKILL' ? ` (or ran past ${opts.timeoutMs} ms)` : ''}\n${stderr}`,
  };
}

interface RunRecord {
  status: number;
  end: RunEnd;
  instructions: number;
  records: number;
  /** With checkpoints: what they gave. */
  checkpoints: { count: number; bytes: Buffer; end: { instructions: number; hash: string }; firstMismatch: number | null } | null;
}

/**
 * One run of `config` with its console, trace (no hostNs) and stats (no host fields) written into
 * `dir`; with `checkpoints`, the register-state fingerprints every `every` instructions (compared
 * as they come with `golden`'s, when given).
 */
async function runInto(dir: string, config: MachineConfig, opts: GoldenRunOptions, checkpoints: { every: number; golden: Buffer | null } | null): Promise<RunRecord> {
  const chunks: Uint8Array[] = [];
  const m = await Machine.create({ ...config, quiet: true }, { console: (c) => chunks.push(c.slice()), ...opts.io });
  try {
    await loadDisassembler(); // the trace names each trapping instruction
    const trace = new TraceWriter(join(dir, 'trace.jsonl'), m.board.vcpus, m.config.traceFilter, { hostNs: false });
    m.on('exit', trace.exit).on('interrupt', trace.interrupt).on('console', trace.console);
    const cps = checkpoints !== null ? new Checkpoints(m, checkpoints.every, checkpoints.golden) : null;
    opts.onMachine?.(m);
    let r;
    try {
      r = await m.run();
    } finally {
      trace.close();
    }
    const stats = JSON.parse(JSON.stringify(m.stats(), bigintJson)) as Record<string, unknown>;
    for (const f of HOST_STATS_FIELDS) deletePath(stats, f);
    writeFileSync(join(dir, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
    writeFileSync(join(dir, 'console.txt'), Buffer.concat(chunks));
    // TraceWriter applied --trace-filter: count what it kept.
    const records = countLines(join(dir, 'trace.jsonl'));
    const cpOut = cps !== null ? { count: cps.count, bytes: cps.bytes(), end: cps.end(r.instructions), firstMismatch: cps.firstMismatch } : null;
    return { status: r.status ?? 0, end: r.end ?? { kind: 'insn-limit' }, instructions: r.instructions, records, checkpoints: cpOut };
  } finally {
    await m.dispose();
  }
}

function countLines(file: string): number {
  const b = readFileSync(file);
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) n++;
  return n;
}

/** Remove a dotted path (`cost.hostNs`) from an object, if it is there. */
export function deletePath(o: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  let cur: unknown = o;
  for (const p of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[p];
  }
  if (cur !== null && typeof cur === 'object') delete (cur as Record<string, unknown>)[parts.at(-1)!];
}

const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);

function sha256(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch (e) {
    throw new ConfigError(`image ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}
