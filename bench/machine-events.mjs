// @ts-check
// Does the library's event machinery cost anything when nobody listens?
// Wall time of the sysreg-storm guest (1M trapped MAIR_EL1 accesses, --mair-mangle) run
// (a) by the CLI, (b) by Machine with no listener, (c) by Machine with an 'exit' listener.
// Each variant runs N times, alternating; the minimum is reported (the machine is shared).
// Usage: node bench/machine-events.mjs [N]     (after npm run build)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Machine } from 'hypemu'; // this package (package.json exports: dist/machine/index.js)

const root = fileURLToPath(new URL('..', import.meta.url));
const image = `${root}guest-images/build/sysreg-storm.elf`;
const n = Number(process.argv[2] ?? 3);
/** @param {bigint} t0 */
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** @param {boolean} listen */
async function lib(listen) {
  const m = await Machine.create({ image, mairMangle: true });
  const t0 = process.hrtime.bigint();
  let exits = 0;
  if (listen) m.on('exit', () => exits++);
  const r = await m.run();
  await m.dispose();
  if (r.status !== 0) throw new Error(`status ${r.status}`);
  return { ms: ms(t0), exits };
}
function cli() {
  // The CLI's own measure (stats host.wallNs: from building the machine to the end of the run),
  // so Node's start-up and module loading, which the in-process runs do not pay, are left out.
  const stats = `${tmpdir()}/hypemu-bench-${process.pid}.json`;
  const r = spawnSync('node', [`${root}dist/cli/main.js`, 'run', image, '--mair-mangle', '-q', '--stats-json', stats], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`status ${r.status}`);
  return { ms: JSON.parse(readFileSync(stats, 'utf8')).host.wallNs / 1e6, exits: 0 };
}
const best = { cli: Infinity, none: Infinity, listener: Infinity };
let exits = 0;
for (let i = 0; i < n; i++) {
  best.cli = Math.min(best.cli, cli().ms);
  best.none = Math.min(best.none, (await lib(false)).ms);
  const l = await lib(true);
  best.listener = Math.min(best.listener, l.ms);
  exits = l.exits;
}
console.log(`sysreg-storm, best of ${n}: CLI process ${best.cli.toFixed(0)} ms; Machine, no listener ${best.none.toFixed(0)} ms; Machine, 'exit' listener ${best.listener.toFixed(0)} ms (${exits} events)`);
