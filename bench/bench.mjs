// hypemu benchmarks. Each case runs a guest under hypemu and the same work
// under QEMU in this process tree, takes the best of N wall-clock runs, and
// prints the ratio (QEMU time / hypemu time: above 1 means hypemu is faster).
// Usage: node bench/bench.mjs [--runs N] [--only NAME] [--json FILE]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('--runs', '3'));
const ONLY = opt('--only', null);
const JSON_OUT = opt('--json', join(root, 'bench/out/bench.json'));
const guest = (name) => join(root, 'guest-images/build', `${name}.elf`);
const hypemu = (image, extra = []) => ['node', [join(root, 'dist/cli/main.js'), 'run', image, '-q', ...extra]];
const qemu = (image, machine = 'virt', extra = []) => [
  'qemu-system-aarch64',
  ['-M', machine, '-cpu', 'max', '-m', '256M', '-nographic', '-no-reboot', ...extra, '-kernel', image],
];

/** Wall time of one command in seconds; fails loudly if it does not exit 0. */
function timeOnce([cmd, argv], statsFile) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, statsFile ? [...argv, '--stats-json', statsFile] : argv, { encoding: 'utf8', timeout: 300_000 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr?.slice(-500)}`);
  return { seconds: s, stdout: r.stdout };
}

function best(cmd, statsFile) {
  let min = Infinity;
  let last;
  for (let i = 0; i < RUNS; i++) {
    last = timeOnce(cmd, statsFile);
    min = Math.min(min, last.seconds);
  }
  return { seconds: min, stdout: last.stdout };
}

const cases = [
  {
    name: 'compute-loop',
    what: 'bench-loop: 600M iterations of add/cmp/b.ne at EL1 (1.8G instructions), MMU off',
    hypemu: hypemu(guest('bench-loop')),
    qemu: qemu(guest('bench-loop'), 'virt', ['-icount', 'shift=0']),
    qemuLabel: 'QEMU -icount shift=0',
    target: 'hypemu >= 0.8x QEMU -icount shift=0',
  },
  {
    name: 'compute-loop-default-tcg',
    what: 'same loop against QEMU without -icount (not deterministic: for reference)',
    hypemu: hypemu(guest('bench-loop')),
    qemu: qemu(guest('bench-loop')),
    qemuLabel: 'QEMU (default TCG)',
  },
];

const results = [];
for (const c of cases) {
  if (ONLY && c.name !== ONLY) continue;
  const image = c.hypemu[1][2];
  if (!existsSync(image)) {
    console.error(`bench: ${c.name}: ${image} is not built; run npm run setup`);
    continue;
  }
  process.stderr.write(`bench: ${c.name} (${RUNS} runs each) ... `);
  const statsFile = join(root, 'bench/out', `${c.name}.stats.json`);
  mkdirSync(dirname(statsFile), { recursive: true });
  const h = best(c.hypemu, statsFile);
  const q = best(c.qemu);
  const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
  const r = {
    name: c.name,
    what: c.what,
    hypemuSeconds: +h.seconds.toFixed(3),
    qemuSeconds: +q.seconds.toFixed(3),
    qemu: c.qemuLabel,
    ratio: +(q.seconds / h.seconds).toFixed(2),
    instructions: stats.instructions,
    hypemuMips: Math.round(stats.instructions / h.seconds / 1e6),
    ...(c.target ? { target: c.target } : {}),
  };
  results.push(r);
  process.stderr.write('done\n');
}

console.log(`\n${'case'.padEnd(26)} ${'hypemu s'.padStart(9)} ${'QEMU s'.padStart(8)}  ratio  reference`);
for (const r of results) {
  console.log(`${r.name.padEnd(26)} ${r.hypemuSeconds.toFixed(3).padStart(9)} ${r.qemuSeconds.toFixed(3).padStart(8)}  ${r.ratio.toFixed(2).padStart(5)}  ${r.qemu}${r.target ? `  (target: ${r.target})` : ''}`);
}
console.log('\nratio = QEMU seconds / hypemu seconds (wall clock, best of', RUNS, 'runs, process start included); > 1: hypemu faster');
mkdirSync(dirname(JSON_OUT), { recursive: true });
writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, results }, null, 2) + '\n');
console.log(`results: ${JSON_OUT}`);
