/**
 * Loads the CLI from its single-file build (dist/cli/bundle.cjs, made by scripts/bundle.mjs as
 * the last step of `npm run build`) with V8's code cache, instead of from the ~165 ES modules tsc
 * writes. A plain `hypemu run` of a trivial guest spent ~80 ms of its ~0.3 s of CPU in Node's ESM
 * loader (resolving, stat'ing, reading and compiling each module) and ~20 ms more compiling
 * functions on first call; one file compiled from a cache of the bytecode a trial run produced
 * costs neither. Node 20 has no compile cache for ES modules (module.enableCompileCache is Node
 * 22), hence CommonJS run through vm.Script with cachedData.
 *
 * Nothing here may change behaviour: the bundle is the same code. It is used only when it is
 * newer than every dist/ file it was built from (bundle.json lists them): after a bare
 * `npx tsc` the modules load as before, until `npm run build` (or `node scripts/bundle.mjs`)
 * builds it again. The code cache is used only when it was made from this very bundle (both carry
 * the bundle's SHA-256; V8 itself checks only the source length, its version and flags).
 * HYPEMU_BUNDLE=off loads the modules (stack traces then name the TypeScript build's files).
 * Imports only Node built-ins: it runs before anything heavy, with signals held (cli/main.ts).
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import * as earlySignals from './early-signals.js';

/** What the CLI program module exports (cli/program.ts). */
export interface ProgramModule {
  main: () => Promise<void>;
}

/** bundle.json, written by scripts/bundle.mjs beside the bundle. */
export interface BundleManifest {
  /** SHA-256 of bundle.cjs after its first line (that line names it). */
  id: string;
  /** The dist/ files it was built from, relative to dist/cli/, with their sizes then. */
  inputs: [file: string, size: number][];
}

/** dist/cli/: the bundle, its manifest (bundle.json) and its code cache (bundle.cache) are here. */
const HERE = dirname(fileURLToPath(import.meta.url));
/** The bundle's first line: `//hypemu-bundle <id>`. */
export const BUNDLE_TAG = '//hypemu-bundle ';

/** The bundle's source and manifest when it is there and up to date, else null. */
export function freshBundle(dir = HERE): { source: string; manifest: BundleManifest } | null {
  let manifest: BundleManifest;
  let source: string;
  try {
    const built = statSync(join(dir, 'bundle.cjs')).mtimeMs;
    manifest = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8')) as BundleManifest;
    // A file tsc wrote after the bundle (or one that is gone) means the bundle is stale; so does
    // one of another size (npm pack gives every file the same mtime).
    for (const [f, size] of manifest.inputs) {
      const st = statSync(join(dir, f));
      if (st.mtimeMs > built || st.size !== size) return null;
    }
    // ASCII (scripts/bundle.mjs makes sure): latin1 reads it without UTF-8 decoding.
    source = readFileSync(join(dir, 'bundle.cjs'), 'latin1');
  } catch {
    return null;
  }
  return source.slice(0, source.indexOf('\n')) === BUNDLE_TAG + manifest.id ? { source, manifest } : null;
}

/** The program from the bundle, or null when there is none, it is stale, or HYPEMU_BUNDLE=off. */
export function loadBundle(dir = HERE): ProgramModule | null {
  if (process.env.HYPEMU_BUNDLE === 'off') return null;
  const bundle = freshBundle(dir);
  if (bundle === null) return null;
  const { id } = bundle.manifest;
  const file = join(dir, 'bundle.cjs');
  const cacheFile = join(dir, 'bundle.cache');
  const script = new Script(wrap(bundle.source), { filename: file, ...cachedDataOption(cacheFile, id) });
  if (process.env.HYPEMU_BUNDLE_TRAIN === '1') saveCacheAtExit(script, cacheFile, id);
  const fn = script.runInThisContext() as (exports: object, require: NodeRequire, module: { exports: object }, filename: string, dirname: string) => void;
  const mod = { exports: {} };
  fn.call(mod.exports, mod.exports, bundleRequire(file), mod, file, dir);
  return mod.exports as ProgramModule;
}

/** CommonJS's module wrapper; strict, as the ES modules it was built from are. */
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) {"use strict";${source}\n})`;

/** The code cache (`${id}\n` then V8's data) when it was made from this bundle. */
function cachedDataOption(cacheFile: string, id: string): { cachedData?: Buffer } {
  try {
    const cache = readFileSync(cacheFile);
    const eol = cache.indexOf(0x0a);
    if (eol > 0 && cache.toString('latin1', 0, eol) === id) return { cachedData: cache.subarray(eol + 1) };
  } catch {
    // No cache: V8 compiles the bundle (lazily), as it would the modules.
  }
  return {};
}

/**
 * Built-in modules the bundle requires at its top level (every ES import is evaluated up front)
 * but a plain run never calls: golden files and snapshots (crypto), the GDB stub (net),
 * commander's external subcommands and `hypemu check` (child_process). Loading them cost ~8 ms of
 * CPU per run; they load on first use instead. (A namespace import, `import * as m`, enumerates
 * the module at once: node:zlib is loaded anyway, by emulator/snapshot/format.ts.)
 */
const LAZY_BUILTINS = new Set(['node:crypto', 'node:net', 'node:child_process', 'child_process']);

/** A module object that requires `id` on its first property access (`(0, m.fn)(...)` is how the bundle calls). */
function lazyBuiltin(req: NodeRequire, id: string): object {
  let m: Record<PropertyKey, unknown> | undefined;
  const load = (): Record<PropertyKey, unknown> => (m ??= req(id) as Record<PropertyKey, unknown>);
  return new Proxy(Object.create(null) as object, {
    get: (_t, k) => load()[k],
    has: (_t, k) => k in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_t, k) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), k);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
  });
}

/**
 * The bundle's require: packages (koffi, pino, capstone) and built-ins from beside it, some of
 * them lazily; early-signals is left out of the bundle and handed the instance cli/main.ts already
 * holds signals with (a second copy would hold nothing).
 */
function bundleRequire(file: string): NodeRequire {
  const req = createRequire(file);
  const lazy = new Map<string, object>();
  const wrapped = ((id: string): unknown => {
    if (id === './early-signals.js') return earlySignals;
    if (!LAZY_BUILTINS.has(id)) return req(id);
    let m = lazy.get(id);
    if (m === undefined) lazy.set(id, (m = lazyBuiltin(req, id)));
    return m;
  }) as NodeRequire;
  return Object.assign(wrapped, { resolve: req.resolve, cache: req.cache, main: req.main, extensions: req.extensions });
}

/**
 * scripts/bundle.mjs runs one trivial guest with HYPEMU_BUNDLE_TRAIN=1: at its exit, V8's cache
 * then holds the bytecode of every function start-up and a run called, not only the top level.
 */
function saveCacheAtExit(script: Script, cacheFile: string, id: string): void {
  process.on('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${id}\n`, 'latin1'), script.createCachedData()]));
    renameSync(tmp, cacheFile);
  });
}
