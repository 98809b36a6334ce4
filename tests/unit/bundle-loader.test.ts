/**
 * cli/bundle-loader.ts: the single-file CLI build is used only while it is newer than every file it
 * was built from and names itself in its first line; its code cache only when made from it.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshBundle, loadBundle } from '../../cli/bundle-loader.js';

const ID = 'a'.repeat(64);
const SOURCE = `//hypemu-bundle ${ID}\nmodule.exports.main = async () => 'ran'; module.exports.signals = typeof require('./early-signals.js').holdSignals;\n`;
let dir: string;

/** A bundle built at time 2000 s from one input written at 1000 s. */
function writeBundle(source = SOURCE, id = ID): void {
  writeFileSync(join(dir, 'input.js'), 'export {};\n');
  writeFileSync(join(dir, 'bundle.cjs'), source);
  writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ id, inputs: [['input.js', 11]] }));
  utimesSync(join(dir, 'input.js'), 1000, 1000);
  utimesSync(join(dir, 'bundle.cjs'), 2000, 2000);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hypemu-bundle-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  delete process.env.HYPEMU_BUNDLE;
});

describe('cli/bundle-loader', () => {
  it('loads an up-to-date bundle, with main.ts\'s own early-signals module', async () => {
    writeBundle();
    expect(freshBundle(dir)?.manifest.id).toBe(ID);
    const p = loadBundle(dir) as unknown as { main: () => Promise<string>; signals: string };
    expect(await p.main()).toBe('ran');
    expect(p.signals).toBe('function');
  });

  it('is stale when an input is newer, of another size, gone, or the first line names another build', () => {
    writeBundle();
    utimesSync(join(dir, 'input.js'), 3000, 3000); // tsc ran after the bundle
    expect(freshBundle(dir)).toBeNull();
    expect(loadBundle(dir)).toBeNull();
    writeBundle();
    writeFileSync(join(dir, 'input.js'), 'export {}; \n'); // another size, an old mtime (npm pack)
    utimesSync(join(dir, 'input.js'), 1000, 1000);
    expect(freshBundle(dir)).toBeNull();
    writeBundle();
    rmSync(join(dir, 'input.js'));
    expect(freshBundle(dir)).toBeNull();
    writeBundle(SOURCE, 'b'.repeat(64));
    expect(freshBundle(dir)).toBeNull();
    rmSync(join(dir, 'bundle.cjs'));
    expect(freshBundle(dir)).toBeNull();
  });

  it('hands the bundle built-ins it calls only sometimes as modules loaded on first use, which work', async () => {
    const src = `//hypemu-bundle ${ID}\nvar c = require("node:crypto"); var cp = require("node:child_process");\n` +
      `module.exports.main = async () => [(0, c.createHash)('sha256').update('x').digest('hex').slice(0, 8), typeof cp.spawn, 'createHash' in c];\n`;
    writeBundle(src);
    const p = loadBundle(dir) as unknown as { main: () => Promise<unknown> };
    expect(await p.main()).toEqual(['2d711642', 'function', true]);
  });

  it('HYPEMU_BUNDLE=off loads the modules instead', () => {
    writeBundle();
    process.env.HYPEMU_BUNDLE = 'off';
    expect(loadBundle(dir)).toBeNull();
  });

  it('ignores a code cache made from another bundle of the same length (V8 would accept it)', async () => {
    // A cache of different code with the same source length: V8 checks only the length, so the
    // loader must refuse it by id, or this would run the other bundle's bytecode.
    const other = SOURCE.replace("'ran'", "'old'");
    expect(other.length).toBe(SOURCE.length);
    const wrapped = (s: string): string => `(function (exports, require, module, __filename, __dirname) {"use strict";${s}\n})`;
    const stale = new Script(wrapped(other), { filename: join(dir, 'bundle.cjs') });
    (stale.runInThisContext() as (e: object, r: unknown, m: { exports: { main?: () => Promise<string> } }) => void)({}, () => ({}), { exports: {} });
    writeBundle();
    writeFileSync(join(dir, 'bundle.cache'), Buffer.concat([Buffer.from(`${'c'.repeat(64)}\n`), stale.createCachedData()]));
    const p = loadBundle(dir) as unknown as { main: () => Promise<string> };
    expect(await p.main()).toBe('ran');
    expect(readFileSync(join(dir, 'bundle.cache')).subarray(0, 64).toString()).toBe('c'.repeat(64));
  });
});
