#!/usr/bin/env node
/**
 * The CLI's single-file build, the last step of `npm run build` (after tsc): dist/cli/program.js
 * and everything it imports from dist/ become dist/cli/bundle.cjs (packages and Node built-ins
 * stay outside but commander, built in), with dist/cli/bundle.json (its id, the dist/ files it was built from and their sizes) and
 * dist/cli/bundle.cache (V8's code cache, from one trivial guest run with the bundle).
 * cli/bundle-loader.ts explains why and when the CLI uses them; without them (or when they are
 * older than tsc's output) the CLI loads its modules one by one, with the same behaviour.
 *
 *   node scripts/bundle.mjs [--no-cache]
 *
 * esbuild is a dev dependency (npm run setup installs it); an installed package ships the
 * result (prepack runs npm run build).
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = join(root, 'dist/cli');
const TAG = '//hypemu-bundle '; // cli/bundle-loader.ts BUNDLE_TAG

/** Packages built into the bundle (plain JavaScript the CLI loads on every run); the others stay outside. */
const INSIDE = new Set(['commander']);
/** @type {import('esbuild').Plugin} */
const outside = {
  name: 'outside',
  setup(b) {
    // Left out: cli/main.ts has already loaded it and holds signals with it.
    b.onResolve({ filter: /\/early-signals\.js$/ }, () => ({ path: './early-signals.js', external: true }));
    // koffi (native), pino and capstone (loaded only when needed): from node_modules at run time.
    b.onResolve({ filter: /^[^./]/ }, (a) => (INSIDE.has(a.path.split('/')[0] ?? '') || a.path.startsWith('node:') ? undefined : { path: a.path, external: true }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/program.js'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // No keepNames: its __name(fn, "name") wrappers made hot paths much slower (1M trapped MAIR_EL1
  // writes on the EL2 fast path, bench sysreg-trap: 3.4-3.8 s with it, 1.7-1.9 s without, 1.9-2.2 s
  // as ES modules). Without it esbuild keeps every name as written except where two modules'
  // top-level names collide (e.g. classify2), which only stack traces show; no class is renamed,
  // and the snapshot code names only built-in typed-array constructors.
  keepNames: false,
  define: { 'import.meta.url': '__hypemuImportMetaUrl' },
  banner: { js: 'var __hypemuImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [outside],
  metafile: true,
  write: false,
  logLevel: 'warning',
});

// esbuild writes strings and identifiers as ASCII; a comment it kept may not be. An ASCII bundle
// is read as latin1 (a third of UTF-8 decoding's cost, cli/bundle-loader.ts), so make it ASCII.
const code = asciiComments(result.outputFiles[0].text);
const id = createHash('sha256').update(code).digest('hex');
// Staleness is judged by tsc's output only: the packages built in are frozen at bundle time.
const inputs = Object.keys(result.metafile.inputs).filter((f) => f.startsWith('dist/')).sort().map((f) => [relative(cliDir, join(root, f)), statSync(join(root, f)).size]);

/** @param {string} file @param {string | Buffer} data */
const writeAtomically = (file, data) => {
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
};
// A cache made from another bundle is never used (its id differs), but do not leave one behind.
rmSync(join(cliDir, 'bundle.cache'), { force: true });
writeAtomically(join(cliDir, 'bundle.cjs'), `${TAG}${id}\n${code}`);
writeAtomically(join(cliDir, 'bundle.json'), `${JSON.stringify({ id, inputs })}\n`);

let cacheNote = 'no code cache (--no-cache)';
if (!process.argv.includes('--no-cache')) cacheNote = trainCache();
process.stderr.write(`bundle: dist/cli/bundle.cjs, ${(code.length / 1024).toFixed(0)} KiB from ${inputs.length} modules; ${cacheNote}\n`);

/**
 * The bundle with non-ASCII characters in comment lines replaced by '?'; one anywhere else
 * (where esbuild should have escaped it) fails the build.
 * @param {string} text @returns {string}
 */
function asciiComments(text) {
  return text.split('\n').map((line, i) => {
    if (!/[^\x00-\x7f]/.test(line)) return line;
    if (!/^\s*(\/\/|\/\*|\*)/.test(line)) throw new Error(`bundle: a non-ASCII character outside a comment, line ${i + 1}: ${line.trim().slice(0, 80)}`);
    return line.replace(/[^\x00-\x7f]/g, '?');
  }).join('\n');
}

/**
 * One run of a 3-instruction guest (PSCI SYSTEM_OFF) through the bundle; the loader writes V8's
 * cache at its exit. A run that fails (no libunicorn yet) leaves no cache: only slower.
 * @returns {string}
 */
function trainCache() {
  const dir = mkdtempSync(join(tmpdir(), 'hypemu-bundle-'));
  try {
    const image = join(dir, 'system-off.bin');
    const words = [0xd2800100, 0xf2b08000, 0xd4000002]; // movz x0,#8; movk x0,#0x8400,lsl #16; hvc #0
    const b = Buffer.alloc(12);
    words.forEach((w, i) => b.writeUInt32LE(w, i * 4));
    writeFileSync(image, b);
    const r = spawnSync(process.execPath, [join(cliDir, 'main.js'), 'run', image, '--format', 'raw', '-q'], {
      env: { ...process.env, HYPEMU_BUNDLE_TRAIN: '1', HYPEMU_BUNDLE: 'on' },
      encoding: 'utf8',
    });
    if (r.status !== 0) return `no code cache: the trial run failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').pop()}`;
    return 'code cache from a trial run';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
