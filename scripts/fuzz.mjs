#!/usr/bin/env node
/**
 * scripts/fuzz: seeded random-instruction guests under hypemu and, where
 * installed, under QEMU (-M virt -cpu max), the oracle.
 *
 *   scripts/fuzz [--seed S] [--count N] [--words W] [--qemu N] [--batch B]
 *                [--max-insns I] [--out DIR] [--json FILE] [--quiet]
 *
 * Guest `seed` is scripts/fuzz-guest.mjs's image with W random words (a
 * prologue installs EL1 vectors that count, log and skip every exception;
 * the report line is "FUZZ n=<count> <esr>@<elr>..."). Guests run in-process
 * through the library API (machine/), B per child process: a child that dies
 * (a signal: SIGABRT, SIGSEGV) marks the guest it was running as a crash and
 * a new child carries on after it; a guest that gives no answer within
 * HANG_MS of wall time is a hang (the child is killed). hypemu results:
 *   ok        exit 0 with the report line
 *   limit     --max-insns reached (the guest loops: an architectural outcome)
 *   fault     status 125 (the run stopped on something hypemu could not handle)
 *   internal  status 70
 *   crash / hang
 * The first --qemu N guests (default 0) also run under QEMU (timeout
 * --qemu-timeout, default 60 s, for a guest hypemu ran to its end; 5 s for
 * one it saw looping):
 * agreement = the same exception count and the same ELR list, or both
 * looping. Every crash, hang, internal error, fault and disagreement keeps a
 * reproducer in DIR (default fuzz-out/): <seed>.elf (runs with `hypemu run`
 * and `qemu-system-aarch64 -M virt -cpu max -nographic -kernel`) and
 * <seed>.json (the words, both results). Exit status 1 if any crash, hang or
 * internal error. Needs `npm run build`.
 */
import { fork, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BLOCK_VA, elf, guestCode, randomWords } from './fuzz-guest.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const HANG_MS = 30_000;

function parseArgs(argv) {
  const o = { seed: 1, count: 100, words: 64, qemu: 0, batch: 50, maxInsns: 2_000_000, out: 'fuzz-out', json: null, quiet: false, qemuTimeout: 60 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--seed') o.seed = Number(v());
    else if (a === '--count') o.count = Number(v());
    else if (a === '--words') o.words = Number(v());
    else if (a === '--qemu') o.qemu = Number(v());
    else if (a === '--batch') o.batch = Number(v());
    else if (a === '--qemu-timeout') o.qemuTimeout = Number(v());
    else if (a === '--max-insns') o.maxInsns = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--json') o.json = v();
    else if (a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: scripts/fuzz [--seed S] [--count N] [--words W] [--qemu N] [--qemu-timeout SECONDS] [--batch B] [--max-insns I] [--out DIR] [--json FILE] [--quiet]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  for (const k of ['seed', 'count', 'words', 'qemu', 'batch', 'maxInsns', 'qemuTimeout']) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new Error(`--${k}: not a non-negative integer`);
  }
  return o;
}

export function guestImage(seed, words) {
  return elf(guestCode(randomWords(seed, words)));
}

/** "FUZZ n=<hex> <esr>@<elr>..." -> { count, log: [{esr, elr}] } */
export function parseReport(text) {
  const m = /FUZZ n=([0-9a-f]+)((?: [0-9a-f]+@[0-9a-f]+)*)\n/.exec(text);
  if (!m) return null;
  const log = m[2].trim() === '' ? [] : m[2].trim().split(' ').map((e) => {
    const [esr, elr] = e.split('@');
    return { esr: parseInt(esr, 16), elr: parseInt(elr, 16) };
  });
  return { count: parseInt(m[1], 16), log };
}

// ------------------------------------------------------------------ child

async function child() {
  const { Machine } = await import(join(here, '../dist/machine/index.js'));
  const [from, to, words, maxInsns] = process.env.FUZZ_CHILD.split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'hypemu-fuzz-'));
  const image = join(dir, 'guest.elf');
  for (let seed = from; seed < to; seed++) {
    writeFileSync(image, guestImage(seed, words));
    writeSync(1, `S ${seed}\n`);
    let out = '';
    const dec = new TextDecoder();
    const m = await Machine.create({ image, maxInsns, quiet: true }, { console: (c) => (out += dec.decode(c)) });
    let r;
    try {
      r = await m.run();
    } finally {
      await m.dispose();
    }
    const msg = r.end && r.end.message ? r.end.message : '';
    writeSync(1, `R ${JSON.stringify({ seed, status: r.status, reason: r.reason, instructions: r.instructions, out, msg })}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

// ------------------------------------------------------------------ parent

function runChildren(o, onResult) {
  return new Promise((done) => {
    let next = o.seed;
    const end = o.seed + o.count;
    const startOne = () => {
      if (next >= end) return done();
      const to = Math.min(end, next + o.batch);
      const c = fork(fileURLToPath(import.meta.url), [], {
        env: { ...process.env, FUZZ_CHILD: `${next},${to},${o.words},${o.maxInsns}` },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        execArgv: [],
      });
      let current = null;
      let timer = null;
      let stderr = '';
      const arm = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          onResult({ seed: current, kind: 'hang', detail: `no answer within ${HANG_MS / 1000} s` });
          next = current + 1;
          current = null;
          c.kill('SIGKILL');
        }, HANG_MS);
      };
      c.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
      const rl = createInterface({ input: c.stdout });
      rl.on('line', (l) => {
        if (l.startsWith('S ')) {
          current = Number(l.slice(2));
          arm();
        } else if (l.startsWith('R ')) {
          const r = JSON.parse(l.slice(2));
          current = null;
          if (timer) clearTimeout(timer);
          next = r.seed + 1;
          onResult(classify(r));
        }
      });
      const closed = new Promise((res) => rl.on('close', res));
      c.on('exit', async (code, signal) => {
        await closed;
        if (timer) clearTimeout(timer);
        if (current !== null) {
          onResult({ seed: current, kind: 'crash', detail: `child died: ${signal ?? 'exit ' + code}; ${stderr.trim().split('\n').slice(-2).join(' | ')}` });
          next = current + 1;
        } else if (code !== 0 && signal !== 'SIGKILL' && next < to) {
          // Died between guests (start-up): do not loop on it.
          onResult({ seed: next, kind: 'crash', detail: `child failed: ${signal ?? 'exit ' + code}; ${stderr.trim().split('\n').slice(-2).join(' | ')}` });
          next++;
        }
        startOne();
      });
    };
    startOne();
  });
}

function classify(r) {
  const report = parseReport(r.out);
  let kind;
  if (r.status === 0 && report) kind = 'ok';
  else if (r.status === 124) kind = 'limit';
  else if (r.status === 70) kind = 'internal';
  else if (r.status === 125) kind = 'fault';
  else kind = `status-${r.status}`;
  return { seed: r.seed, kind, status: r.status, instructions: r.instructions, report, detail: r.msg };
}

function runQemu(seed, words, timeoutMs) {
  const dir = mkdtempSync(join(tmpdir(), 'hypemu-fuzz-q-'));
  const image = join(dir, 'guest.elf');
  writeFileSync(image, guestImage(seed, words));
  const r = spawnSync('qemu-system-aarch64', ['-M', 'virt', '-cpu', 'max', '-m', '256M', '-nographic', '-nic', 'none', '-kernel', image], {
    encoding: 'utf8',
    timeout: timeoutMs,
    input: '',
  });
  rmSync(dir, { recursive: true, force: true });
  const report = parseReport(r.stdout ?? '');
  return { looped: r.error?.code === 'ETIMEDOUT' || (r.signal !== null && !report), report };
}

function qemuInstalled() {
  return spawnSync('qemu-system-aarch64', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** Same count and the same exception addresses; ESR classes may differ (reported, not counted). */
export function compare(h, q) {
  if (q.looped || !q.report) {
    if (h.kind === 'limit' && q.looped) return { agree: true };
    // A random word can end the guest itself (an HVC/SMC with x0 = PSCI SYSTEM_OFF): both
    // ending before the report line, with no loop, is the same outcome.
    if (!q.looped && !q.report && h.kind === 'status-0' && !h.report) return { agree: true };
    return { agree: false, why: `QEMU ${q.looped ? 'loops' : 'gave no report'}, hypemu ${h.kind}` };
  }
  if (!h.report) return { agree: false, why: `hypemu ${h.kind}${h.detail ? ' (' + h.detail + ')' : ''}, QEMU n=${q.report.count}` };
  const a = h.report;
  const b = q.report;
  const n = Math.min(a.log.length, b.log.length);
  for (let i = 0; i < n; i++) {
    if (a.log[i].elr !== b.log[i].elr) {
      return { agree: false, why: `exception ${i}: hypemu at 0x${a.log[i].elr.toString(16)} (ESR 0x${a.log[i].esr.toString(16)}), QEMU at 0x${b.log[i].elr.toString(16)} (ESR 0x${b.log[i].esr.toString(16)})`, index: i };
    }
  }
  if (a.count !== b.count) return { agree: false, why: `count: hypemu ${a.count}, QEMU ${b.count}` };
  const esrDiff = [];
  for (let i = 0; i < n; i++) if (a.log[i].esr >>> 26 !== b.log[i].esr >>> 26) esrDiff.push(i);
  return { agree: true, esrDiff };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const outDir = resolve(o.out);
  const haveQemu = o.qemu > 0 && qemuInstalled();
  if (o.qemu > 0 && !haveQemu) process.stderr.write('fuzz: qemu-system-aarch64 not found: hypemu only\n');
  const results = new Map();
  const t0 = Date.now();
  let done = 0;
  await runChildren(o, (r) => {
    results.set(r.seed, r);
    done++;
    if (!o.quiet && (done % 100 === 0 || done === o.count)) process.stderr.write(`fuzz: ${done}/${o.count} guests (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  });
  const counts = {};
  for (const r of results.values()) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  const keep = (seed, extra) => {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, `${seed}.elf`), guestImage(seed, o.words));
    const words = randomWords(seed, o.words).map((w) => '0x' + w.toString(16).padStart(8, '0'));
    writeFileSync(join(outDir, `${seed}.json`), JSON.stringify({ seed, words: o.words, blockVa: '0x' + BLOCK_VA.toString(16), randomWords: words, hypemu: results.get(seed), ...extra }, null, 2) + '\n');
  };
  const bad = [...results.values()].filter((r) => r.kind !== 'ok' && r.kind !== 'limit');
  for (const r of bad) keep(r.seed, {});
  const disagreements = [];
  let compared = 0;
  let agreed = 0;
  let esrOnly = 0;
  if (haveQemu) {
    const n = Math.min(o.qemu, o.count);
    for (let seed = o.seed; seed < o.seed + n; seed++) {
      const h = results.get(seed);
      if (!h) continue;
      // A guest hypemu ran to its end should end under QEMU too: give QEMU the long timeout there, so
      // a loaded machine does not turn a slow QEMU start into a "loops" disagreement; a guest hypemu
      // saw looping only needs QEMU to still be running after the short one.
      const q = runQemu(seed, o.words, h.kind === 'limit' ? 5000 : o.qemuTimeout * 1000);
      const c = compare(h, q);
      compared++;
      if (c.agree) {
        agreed++;
        if (c.esrDiff && c.esrDiff.length) esrOnly++;
      } else {
        disagreements.push({ seed, why: c.why });
        keep(seed, { qemu: q, why: c.why });
      }
      if (!o.quiet && compared % 50 === 0) process.stderr.write(`fuzz: ${compared}/${n} compared with QEMU\n`);
    }
  }
  const summary = {
    seeds: [o.seed, o.seed + o.count - 1],
    words: o.words,
    guests: results.size,
    kinds: counts,
    crashes: counts.crash ?? 0,
    hangs: counts.hang ?? 0,
    internal: counts.internal ?? 0,
    faults: counts.fault ?? 0,
    qemu: haveQemu ? { compared, agreed, agreement: compared ? agreed / compared : null, esrClassDiffersOnly: esrOnly, disagreements } : null,
    seconds: (Date.now() - t0) / 1000,
    reproducers: bad.length + disagreements.length ? outDir : null,
    problems: bad.map((r) => ({ seed: r.seed, kind: r.kind, detail: r.detail })),
  };
  if (o.json) writeFileSync(o.json, JSON.stringify(summary, null, 2) + '\n');
  const lines = [
    `fuzz: ${summary.guests} guests (seeds ${summary.seeds[0]}..${summary.seeds[1]}, ${o.words} words each) in ${summary.seconds.toFixed(1)} s`,
    `  results: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  crashes ${summary.crashes}, hangs ${summary.hangs}, internal errors ${summary.internal}, stopped runs (125) ${summary.faults}`,
  ];
  if (haveQemu) lines.push(`  QEMU: ${agreed}/${compared} agree (${compared ? ((100 * agreed) / compared).toFixed(1) : '-'}%; ${esrOnly} of them with a different exception class somewhere)`);
  for (const d of disagreements) lines.push(`  disagree seed ${d.seed}: ${d.why}`);
  for (const p of summary.problems.slice(0, 50)) lines.push(`  ${p.kind} seed ${p.seed}: ${p.detail ?? ''}`);
  if (summary.reproducers) lines.push(`  reproducers in ${outDir}`);
  process.stdout.write(lines.join('\n') + '\n');
  process.exit(summary.crashes + summary.hangs + summary.internal > 0 ? 1 : 0);
}

if (process.env.FUZZ_CHILD) await child();
else if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (e) {
    process.stderr.write(`fuzz: ${e.message}\n`);
    process.exit(64);
  }
}
