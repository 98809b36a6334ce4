// @ts-check
// hypemu benchmarks. Each case runs guests under hypemu and under QEMU in
// this process tree and derives its figures from the best (minimum) of N
// wall-clock runs of every command. The runs are interleaved (round 1 runs
// every command once, then round 2, ... each in another order: roundOrder) so a burst of load on the machine
// hits all commands alike rather than one of them N times.
// Usage: node bench/bench.mjs [--runs N] [--only NAME[,NAME...]] [--json FILE]
// Cases: compute-loop, compute-loop-default-tcg, compute-loop-mmu, tlb-fill, sysreg-trap, and
// (bench/system-cases.mjs) startup, startup-16g, linux-boot, counter-poll, uart-throughput, tlbi-storm.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync, copyFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { systemCases } from './system-cases.mjs';

/** @typedef {import('./bench-types.js').BenchCase} BenchCase */
/** @typedef {import('./bench-types.js').Command} Command */
/** @typedef {import('./bench-types.js').Measure} Measure */
/** @typedef {import('./bench-types.js').Row} Row */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
/** @param {string} name @param {string | null} dflt */
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const OPTIONS = ['--runs', '--only', '--json'];
/** @param {string[]} names the cases */
const usage = (names) => `usage: npm run bench -- [--runs N] [--only CASE[,CASE...]] [--json FILE]
  --runs N      runs of every command, interleaved; figures come from the best (default 3)
  --only CASES  comma-separated cases (default: all): ${names.join(', ')}
  --json FILE   where the figures go (default bench/out/bench.json)`;
const HELP = args.includes('--help') || args.includes('-h');
for (let i = 0; i < args.length && !HELP; i += 2) {
  if (!OPTIONS.includes(args[i]) || args[i + 1] === undefined) {
    console.error(`bench: ${OPTIONS.includes(args[i]) ? `${args[i]} needs a value` : `unknown argument '${args[i]}'`} (npm run bench -- --help)`);
    process.exit(64);
  }
}
const RUNS = Number(opt('--runs', '3'));
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error(`bench: --runs wants a positive integer, not '${opt('--runs', '3')}'`);
  process.exit(64);
}
const ONLY = opt('--only', null)?.split(',') ?? null;
const JSON_OUT = /** @type {string} */ (opt('--json', join(root, 'bench/out/bench.json')));
const OUT = join(root, 'bench/out');
const gi = join(root, 'guest-images');
/** @param {string} name */
const guest = (name) => join(gi, 'build', `${name}.elf`);
/** @param {string} dir @param {string} name */
const variant = (dir, name) => join(gi, 'build/bench-variants', dir, `${name}.elf`);

const TLB_PAGES = 16384; // guest-images/src/tlb-storm.c TLB_STORM_PAGES (default)
const TLB_ROUNDS = 32; // guest-images/Makefile TLB_STORM_ROUNDS (default)
const TLB_ROUNDS_QEMU = 320; // the QEMU-only long variant
const STORM_TRAPS = 1_000_000; // MAIR_EL1 writes in sysreg-storm / el2-storm

/** A command to time: a display string, argv, and whether it is hypemu (then it writes --stats-json). @param {string} image @param {string[]} extra @returns {Command} */
const hypemu = (image, extra = []) => ({
  kind: 'hypemu',
  image,
  // The command users run (package.json "bin"): Node under bin/hypemu, which spares its start-up
  // the parsing of NODE_EXTRA_CA_CERTS (README "Start-up").
  argv: [join(root, 'bin/hypemu'), 'run', image, '-q', ...extra],
});
/** @param {string} image @param {string} machine @param {string[]} extra @returns {Command} */
const qemu = (image, machine = 'virt', extra = []) => ({
  kind: 'qemu',
  image,
  argv: ['qemu-system-aarch64', '-M', machine, '-cpu', 'max', '-m', '256M', '-nographic', '-no-reboot', '-nic', 'none', ...extra, '-kernel', image],
});
/** @param {Command} c */
const show = (c) => c.argv.map((a) => (a.startsWith(root) ? relative(root, a) : a)).join(' ');
/** @param {Command} c */
const key = (c) => c.argv.join('\0');

// ------------------------------------------------------------------ cases
// Each case lists the commands it needs (by role) and computes its result
// from their best times and (hypemu) the stats of the best run.

/**
 * @param {string} name @param {string} what @param {string} image @param {Command} qemuCmd
 * @param {string} qemuLabel @param {number | null} target
 * @returns {BenchCase}
 */
const loopCase = (name, what, image, qemuCmd, qemuLabel, target) => ({
  name,
  what,
  cmds: { hypemu: hypemu(image), qemu: qemuCmd },
  compute: (m) => {
    const h = m.hypemu, q = m.qemu;
    const ratio = q.seconds / h.seconds;
    return {
      rows: [{
        case: name,
        hypemu: `${h.seconds.toFixed(2)} s`,
        qemu: `${q.seconds.toFixed(2)} s`,
        figure: `ratio ${ratio.toFixed(2)}`,
        reference: qemuLabel + (target ? `; target >= ${target}` : ''),
        met: target ? ratio >= target : null,
      }],
      data: {
        hypemuSeconds: +h.seconds.toFixed(3),
        qemuSeconds: +q.seconds.toFixed(3),
        qemu: qemuLabel,
        ratio: +ratio.toFixed(2),
        instructions: h.stats.instructions,
        hypemuMips: Math.round(h.stats.instructions / h.seconds / 1e6),
        ...(target ? { target: `ratio >= ${target}`, met: ratio >= target } : {}),
      },
    };
  },
});

/** Warnings the cases raise while computing (printed after the table). @type {string[]} */
const warnings = [];

/** @type {BenchCase[]} */
const cases = [
  loopCase('compute-loop', 'bench-loop: 600M iterations of add/cmp/b.ne at EL1 (1.8G instructions), MMU off',
    guest('bench-loop'), qemu(guest('bench-loop'), 'virt', ['-icount', 'shift=0']), 'QEMU -icount shift=0', 0.8),
  loopCase('compute-loop-default-tcg', 'same loop against QEMU without -icount (not deterministic: for reference)',
    guest('bench-loop'), qemu(guest('bench-loop')), 'QEMU default TCG (reference)', null),
  loopCase('compute-loop-mmu', 'bench-loop-mmu: the same loop with the stage-1 MMU on (4 KB granule, 4 levels)',
    guest('bench-loop-mmu'), qemu(guest('bench-loop-mmu'), 'virt', ['-icount', 'shift=0']), 'QEMU -icount shift=0', 0.8),
  {
    name: 'tlb-fill',
    what: `tlb-storm: ${TLB_PAGES} pages x ${TLB_ROUNDS} rounds of one load per page + TLBI VMALLE1; every touch a fresh fill (stage 1 + hypemu's stage 2)`,
    build: true,
    cmds: {
      storm: hypemu(guest('tlb-storm')),
      base: hypemu(variant('tlb-storm-r0', 'tlb-storm')),
      noTlbi: hypemu(variant('tlb-storm-notlbi', 'tlb-storm')),
      qStorm: qemu(guest('tlb-storm')),
      qBase: qemu(variant('tlb-storm-r0', 'tlb-storm')),
      // QEMU's fills are ~0.1 us: 32 rounds add ~0.05 s, inside its start-up noise.
      // Its per-fill figure comes from a 10x-rounds build of the same guest.
      qLong: qemu(variant('tlb-storm-r320', 'tlb-storm')),
    },
    compute: (m) => {
      const walks = m.storm.stats.tlb.modelFills - m.base.stats.tlb.modelFills;
      const ucFills = m.storm.stats.tlb.fills - m.base.stats.tlb.fills;
      const us = ((m.storm.seconds - m.base.seconds) / walks) * 1e6;
      const hitFills = m.noTlbi.stats.tlb.fills - m.base.stats.tlb.fills;
      const hitWalks = m.noTlbi.stats.tlb.modelFills - m.base.stats.tlb.modelFills;
      const usHit = ((m.noTlbi.seconds - m.base.seconds) / hitFills) * 1e6;
      const qus = ((m.qLong.seconds - m.qBase.seconds) / (TLB_PAGES * TLB_ROUNDS_QEMU)) * 1e6;
      return {
        rows: [
          {
            case: 'tlb-fill',
            hypemu: `${us.toFixed(2)} us/fill`,
            qemu: `${qus.toFixed(2)} us/fill`,
            figure: `x${(us / qus).toFixed(1)}`,
            reference: `(tlb-storm ${m.storm.seconds.toFixed(2)} s - R=0 ${m.base.seconds.toFixed(2)} s) / ${walks} model walks; target < 2 us. QEMU (context, stage 1 only): tlb-storm ${m.qStorm.seconds.toFixed(2)} s, R=0 ${m.qBase.seconds.toFixed(2)} s, R=${TLB_ROUNDS_QEMU} ${m.qLong.seconds.toFixed(2)} s`,
            met: us < 2,
          },
          {
            case: 'tlb-fill-model-hit',
            hypemu: `${usHit.toFixed(2)} us/fill`,
            qemu: '-',
            figure: '-',
            reference: `no-TLBI variant ${m.noTlbi.seconds.toFixed(2)} s: ${hitFills} Unicorn fills, ${hitWalks} walks (answered by the model's TLB); diagnostic`,
            met: null,
          },
        ],
        data: {
          hypemuStormSeconds: +m.storm.seconds.toFixed(3),
          hypemuBaseSeconds: +m.base.seconds.toFixed(3),
          hypemuNoTlbiSeconds: +m.noTlbi.seconds.toFixed(3),
          qemuStormSeconds: +m.qStorm.seconds.toFixed(3),
          qemuBaseSeconds: +m.qBase.seconds.toFixed(3),
          qemuLongSeconds: +m.qLong.seconds.toFixed(3),
          qemuLongRounds: TLB_ROUNDS_QEMU,
          modelWalks: walks,
          unicornFills: ucFills,
          usPerFill: +us.toFixed(3),
          usPerFillModelHit: +usHit.toFixed(3),
          noTlbiUnicornFills: hitFills,
          noTlbiModelWalks: hitWalks,
          qemuUsPerFill: +qus.toFixed(3),
          qemuTouches: TLB_PAGES * TLB_ROUNDS_QEMU,
          qemuUsPerFillMethod: `(R=${TLB_ROUNDS_QEMU} s - R=0 s) / (${TLB_PAGES} x ${TLB_ROUNDS_QEMU}) touches`,
          qemu: 'QEMU default TCG (stage 1 only: no EL2 in -M virt)',
          target: 'usPerFill < 2',
          met: us < 2,
          stormTlb: m.storm.stats.tlb,
          baseTlb: m.base.stats.tlb,
        },
      };
    },
  },
  {
    name: 'sysreg-trap',
    what: 'sysreg-storm: 1,000,000 MAIR_EL1 writes, trapped (hypemu --mair-mangle) vs untrapped; QEMU el2-storm (EL2 handler, trap + ERET) vs sysreg-storm at EL1',
    cmds: {
      base: hypemu(guest('sysreg-storm')),
      fast: hypemu(guest('sysreg-storm'), ['--mair-mangle']),
      nvhe: hypemu(guest('sysreg-storm'), ['--mair-mangle', '--no-fast-path', '--hyp-mode', 'nvhe']),
      vhe: hypemu(guest('sysreg-storm'), ['--mair-mangle', '--no-fast-path', '--hyp-mode', 'vhe']),
      qBase: qemu(guest('sysreg-storm')),
      qTrap: qemu(guest('el2-storm'), 'virt,virtualization=on'),
    },
    compute: (m) => {
      const qus = ((m.qTrap.seconds - m.qBase.seconds) / STORM_TRAPS) * 1e6;
      /** @type {Row[]} */
      const rows = [];
      /** @type {{ configs: Record<string, unknown> } & Record<string, unknown>} */
      const data = { qemuTrapSeconds: +m.qTrap.seconds.toFixed(3), qemuBaseSeconds: +m.qBase.seconds.toFixed(3), qemuUsPerTrap: +qus.toFixed(3), hypemuBaseSeconds: +m.base.seconds.toFixed(3), configs: {} };
      /** @type {[string, string, number][]} */
      const configs = [['fast', 'fast path (vhe)', 2], ['nvhe', 'world switch nvhe', 5], ['vhe', 'world switch vhe', 5]];
      for (const [role, label, target] of configs) {
        const r = /** @type {Measure} */ (m[role]);
        const us = ((r.seconds - m.base.seconds) / STORM_TRAPS) * 1e6;
        const ratio = us / qus;
        const ex = r.stats.exits;
        const sysExits = ex.byReason.sysreg;
        const hostNsPerExit = r.stats.cost.hostNs / ex.total;
        const cyclesPerExit = r.stats.cost.modelCycles / ex.total;
        const cyclesPerSysregExit = r.stats.cost.byReason.sysreg / sysExits;
        // What the cost model (hyp/cost.ts, echoed in the stats) says a sysreg exit of this kind costs.
        const cm = r.stats.hyp.costModel, mode = r.stats.hyp.mode;
        const expected = role === 'fast' ? cm.trap + cm.fastPath : cm.trap + cm.worldSwitch[mode] + cm.handler.sysreg;
        if (Math.round(cyclesPerSysregExit) !== expected)
          warnings.push(`sysreg-trap ${label}: the stats charge ${Math.round(cyclesPerSysregExit)} model cycles per sysreg exit, the cost model gives ${expected} (trap ${cm.trap}${role === 'fast' ? ` + fastPath ${cm.fastPath}` : ` + worldSwitch.${mode} ${cm.worldSwitch[mode]} + handler.sysreg ${cm.handler.sysreg}`}); difference ${Math.round(cyclesPerSysregExit) - expected}${Math.round(cyclesPerSysregExit) - expected === cm.userspace ? ' = userspace: a user-space return charged to exits that never left EL2' : ''}`);
        rows.push({
          case: `sysreg-trap ${label}`,
          hypemu: `${us.toFixed(2)} us/trap`,
          qemu: `${qus.toFixed(2)} us/trap`,
          figure: `x${ratio.toFixed(2)}`,
          reference: `${r.seconds.toFixed(2)} s vs ${m.base.seconds.toFixed(2)} s; hostNs/exit ${Math.round(hostNsPerExit)}, model cycles/exit ${Math.round(cyclesPerExit)} (sysreg ${Math.round(cyclesPerSysregExit)}); target <= ${target}x`,
          met: ratio <= target,
        });
        data.configs[role] = {
          command: show(r.cmd),
          seconds: +r.seconds.toFixed(3),
          usPerTrap: +us.toFixed(3),
          ratioToQemu: +ratio.toFixed(2),
          target: `ratio <= ${target}`,
          met: ratio <= target,
          exits: ex,
          hostNsPerExit: Math.round(hostNsPerExit),
          modelCyclesPerExit: Math.round(cyclesPerExit),
          modelCyclesPerSysregExit: Math.round(cyclesPerSysregExit),
          modelCyclesPerSysregExitExpected: expected,
        };
      }
      return { rows, data };
    },
  },
];

cases.push(...systemCases({ root, guest, hypemu, qemu, OUT }));

// ------------------------------------------------------------------ running

/** Builds the tlb-storm variants (make is a no-op when they are up to date). */
function buildVariants() {
  for (const [dir, vars] of [['tlb-storm-r0', ['TLB_STORM_ROUNDS=0']], ['tlb-storm-notlbi', ['TLB_STORM_DEFS=-DTLB_STORM_NO_TLBI']], ['tlb-storm-r320', [`TLB_STORM_ROUNDS=${TLB_ROUNDS_QEMU}`]]]) {
    const b = `build/bench-variants/${dir}`;
    const r = spawnSync('make', ['-s', '-C', gi, `B=${b}`, ...vars, `${b}/tlb-storm.elf`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench: building ${b}/tlb-storm.elf failed:\n${r.stdout}${r.stderr}`);
  }
}

/** GNU time (Debian package `time`) reports the peak RSS of a command; without it RSS is not measured. */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const RSS_TAG = 'HYPEMU_BENCH_MAXRSS_KB=';

/**
 * Wall time (seconds) and peak RSS (KiB, or null) of one command; fails loudly if it does not
 * exit 0 or its output lacks cmd.expect (default /done/; null: no check).
 * @param {Command} c @param {string} statsFile
 */
function timeOnce(c, statsFile) {
  let argv = c.kind === 'hypemu' ? [...c.argv, '--stats-json', statsFile] : c.argv;
  if (c.rss && GNU_TIME) argv = [GNU_TIME, '-f', `${RSS_TAG}%M %U %S %R`, ...argv];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${show(c)} exited ${r.status}: ${r.stderr?.slice(-500)}`);
  const expect = c.expect === undefined ? /done/ : c.expect;
  if (/^FAIL/m.test(r.stdout) || (expect && !expect.test(r.stdout))) throw new Error(`${show(c)}: guest did not finish cleanly:\n${r.stdout.slice(-500)}`);
  // Peak RSS (KiB) and CPU time (user + system, s): on a shared machine CPU time is the steadier figure.
  // The system part and the minor page faults (pages touched for the first time: zero-filled, or
  // copied from a file) are first-touch costs, which vary with the host's memory (issue 10).
  const g = c.rss && GNU_TIME ? new RegExp(`${RSS_TAG}(\\d+) ([\\d.]+) ([\\d.]+) (\\d+)`).exec(r.stderr) : null;
  return { s, rss: g ? Number(g[1]) : null, cpu: g ? Number(g[2]) + Number(g[3]) : null, sys: g ? Number(g[3]) : null, faults: g ? Number(g[4]) : null };
}

if (HELP) {
  console.log(usage(cases.map((c) => c.name)));
  process.exit(0);
}
const selected = cases.filter((c) => !ONLY || ONLY.includes(c.name));
if (ONLY) for (const n of ONLY) if (!cases.some((c) => c.name === n)) {
  console.error(`bench: unknown case '${n}' (cases: ${cases.map((c) => c.name).join(', ')})`);
  process.exit(64);
}
if (selected.some((c) => c.build)) buildVariants();
// The CLI as `npm run build` leaves it: its single-file bundle and code cache (cli/bundle-loader.ts),
// rebuilt when tsc ran since (a bare `npx tsc` leaves it stale, and the CLI then loads module by module).
const bundleFresh = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('./dist/cli/bundle-loader.js'); process.exit(m.freshBundle() ? 0 : 1)"], { cwd: root }).status === 0;
if (!bundleFresh && process.env.HYPEMU_BUNDLE !== 'off') {
  process.stderr.write('bench: dist/cli/bundle.cjs missing or older than tsc\'s output: node scripts/bundle.mjs\n');
  if (spawnSync(process.execPath, [join(root, 'scripts/bundle.mjs')], { stdio: 'inherit' }).status !== 0) throw new Error('bench: scripts/bundle.mjs failed');
}
// Cases that need inputs made or fetched first (the Linux kernel) build their commands now.
for (const c of selected) if (typeof c.cmds === 'function') c.cmds = c.cmds();
/** The commands of a case once built. @param {BenchCase} c */
const commandsOf = (c) => /** @type {Record<string, Command>} */ (c.cmds);

/** @type {Map<string, Measure>} */
const measures = new Map(); // key -> { cmd, seconds, stats, statsFile }
for (const c of selected) {
  for (const [role, cmd] of Object.entries(commandsOf(c))) {
    if (!existsSync(cmd.image)) throw new Error(`bench: ${cmd.image} is not built; run make -C guest-images`);
    if (!measures.has(key(cmd)))
      measures.set(key(cmd), { cmd, seconds: Infinity, rssKb: null, rssRuns: [], stats: null, runs: [], statsFile: join(OUT, 'stats', `${c.name}.${role}.json`) });
  }
}
mkdirSync(join(OUT, 'stats'), { recursive: true });
/**
 * The commands in the order round `round` runs them: rotated, and reversed every other round, so
 * that no command follows the same one in every round. A short command measured right after a
 * long one ran slower on this VM (first touches cost more after another process freed a lot of
 * memory: `startup` 0.23-0.31 s against 0.11-0.14 s alone), and best-of-N cannot undo an effect
 * every round repeats. @template T @param {T[]} list @param {number} round @returns {T[]}
 */
function roundOrder(list, round) {
  const step = Math.max(1, Math.floor(list.length / RUNS));
  const k = ((round - 1) * step) % Math.max(1, list.length);
  const rotated = [...list.slice(k), ...list.slice(0, k)];
  return round % 2 === 0 ? rotated.reverse() : rotated;
}
const load0 = loadavg();
const t0 = Date.now();
for (let round = 1; round <= RUNS; round++) {
  process.stderr.write(`bench: round ${round}/${RUNS} (${measures.size} commands) `);
  for (const m of roundOrder([...measures.values()], round)) {
    const tmp = join(OUT, 'stats', 'run.tmp.json');
    const { s, rss, cpu, sys, faults } = timeOnce(m.cmd, tmp);
    m.runs.push(+s.toFixed(3));
    if (rss !== null) m.rssRuns.push(rss);
    if (cpu !== null && cpu < (m.cpuSeconds ?? Infinity)) {
      m.cpuSeconds = cpu;
      m.sysSeconds = sys ?? undefined;
      m.minorFaults = faults ?? undefined;
    }
    if (s < m.seconds) {
      m.seconds = s;
      m.rssKb = rss;
      if (m.cmd.kind === 'hypemu') copyFileSync(tmp, m.statsFile);
    }
    process.stderr.write('.');
  }
  process.stderr.write('\n');
}
rmSync(join(OUT, 'stats', 'run.tmp.json'), { force: true });
for (const m of measures.values()) if (m.cmd.kind === 'hypemu') m.stats = JSON.parse(readFileSync(m.statsFile, 'utf8'));

const results = [];
/** @type {Row[]} */
const rows = [];
for (const c of selected) {
  const ms = Object.fromEntries(Object.entries(commandsOf(c)).map(([role, cmd]) => [role, /** @type {Measure} */ (measures.get(key(cmd)))]));
  const { rows: r, data } = c.compute(ms);
  rows.push(...r);
  results.push({
    name: c.name,
    what: c.what,
    commands: Object.fromEntries(Object.entries(ms).map(([role, m]) => [role, {
      command: show(m.cmd),
      bestSeconds: +m.seconds.toFixed(3),
      runs: m.runs,
      ...(m.rssKb !== null ? { rssKbOfBestRun: m.rssKb, rssKbRuns: m.rssRuns, bestCpuSeconds: m.cpuSeconds, sysSecondsOfBestCpuRun: m.sysSeconds, minorFaultsOfBestCpuRun: m.minorFaults } : {}),
      ...(m.cmd.kind === 'hypemu' ? { stats: relative(root, m.statsFile) } : {}),
    }])),
    ...data,
  });
}

/** @param {unknown} s @param {number} n */
const w = (s, n) => String(s).padEnd(n);
const cw = Math.max(...rows.map((r) => r.case.length)) + 1;
console.log(`\n${w('case', cw)} ${w('hypemu', 16)} ${w('QEMU', 16)} ${w('hyp vs QEMU', 12)} ${w('target', 7)} how`);
for (const r of rows) {
  const met = r.met === null ? '-' : r.met ? 'met' : 'MISSED';
  console.log(`${w(r.case, cw)} ${w(r.hypemu, 16)} ${w(r.qemu, 16)} ${w(r.figure, 12)} ${w(met, 7)} ${r.reference}`);
}
console.log(`\nbest of ${RUNS} interleaved wall-clock runs per command, process start included.`);
console.log('compute loops: ratio = QEMU s / hypemu s (> 1: hypemu faster). tlb-fill: hypemu us per fill, xN = hypemu / QEMU.');
console.log('sysreg-trap: per trap = (storm with traps - storm without) / 1e6 on each emulator; xN = hypemu / QEMU trap-and-return.');
for (const w of warnings) console.log(`WARNING ${w}`);
console.log(`load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
mkdirSync(dirname(JSON_OUT), { recursive: true });
const qv = spawnSync('qemu-system-aarch64', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
writeFileSync(JSON_OUT, JSON.stringify({
  date: new Date().toISOString(),
  runs: RUNS,
  host: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, qemu: qv, loadavgBefore: load0, loadavgAfter: loadavg(), seconds: (Date.now() - t0) / 1000 },
  table: rows,
  warnings,
  results,
}, null, 2) + '\n');
console.log(`results: ${relative(process.cwd(), JSON_OUT) || JSON_OUT}`);
