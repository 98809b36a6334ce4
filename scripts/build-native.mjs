#!/usr/bin/env node
/**
 * Builds hypemu's native helpers: every emulator/unicorn/native/NAME.c into
 * vendor/native/libhypemu-NAME.so (README "Architecture"). It is the package's `postinstall`,
 * so a project that installs hypemu from npm gets the same helpers as a checkout after
 * `npm run setup`: without the system-instruction filter an instruction after a trapped MRS may
 * be counted twice, so instruction counts would differ from the repository's.
 *
 * Every .c found is built (not a fixed list: new helpers join by being there), each only when its
 * source or a header beside it (block-count.h) is newer than the library, into a temporary file
 * renamed into place (a running hypemu never maps a half-written library). Without a C compiler it
 * prints one warning line and exits 0: hypemu runs without the helpers (slower, and counts may
 * differ), and the install still succeeds.
 *
 * Usage: node scripts/build-native.mjs [--quiet] [--strict]   (CC picks the compiler; default cc)
 *   --strict: a missing compiler or a helper that does not compile is an error (exit 1): what
 *   scripts/setup.sh uses, so a checkout's CI catches broken C instead of running without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'emulator/unicorn/native');
const outDir = join(root, 'vendor/native');
const quiet = process.argv.includes('--quiet');
const strict = process.argv.includes('--strict');
const cc = process.env.CC || 'cc';
const say = (msg) => { if (!quiet) process.stderr.write(`[hypemu] ${msg}\n`); };

const sources = existsSync(srcDir) ? readdirSync(srcDir).filter((f) => f.endsWith('.c')).sort() : [];
if (sources.length === 0) process.exit(0);
/** The newest header beside the sources: any .c may include it. */
const headersMtime = Math.max(0, ...readdirSync(srcDir).filter((f) => f.endsWith('.h')).map((f) => statSync(join(srcDir, f)).mtimeMs));

const probe = spawnSync(cc, ['--version'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  // One line, always printed (even with --quiet): what is lost and how to get it back.
  process.stderr.write(`[hypemu] warning: no C compiler (${cc}) found, so the native helpers (${sources.length} in ${srcDir}) are not built: hypemu runs slower and an instruction after a trapped MRS may be counted twice; install a C compiler (Debian: apt-get install gcc) and run \`node ${join(root, 'scripts/build-native.mjs')}\`\n`);
  process.exit(strict ? 1 : 0);
}

mkdirSync(outDir, { recursive: true });
let failed = 0;
for (const file of sources) {
  const name = file.slice(0, -2);
  const src = join(srcDir, file);
  const lib = join(outDir, `libhypemu-${name}.so`);
  if (existsSync(lib) && statSync(lib).mtimeMs >= Math.max(statSync(src).mtimeMs, headersMtime)) {
    say(`native helper up to date: ${lib}`);
    continue;
  }
  const tmp = `${lib}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-o', tmp, src], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    process.stderr.write(`[hypemu] warning: ${cc} failed on ${src}; hypemu runs without libhypemu-${name}.so\n`);
    failed++;
    continue;
  }
  renameSync(tmp, lib);
  say(`${cc} ${src} -> ${lib}`);
}
// A failed helper is a warning, not a failed install: hypemu runs without any of them.
if (failed > 0) say(`${failed} native helper(s) not built; hypemu runs without them`);
if (failed > 0 && strict) process.exit(1);
