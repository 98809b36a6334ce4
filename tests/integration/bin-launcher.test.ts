/**
 * bin/hypemu, the package's command: Node running dist/cli/main.js, with NODE_EXTRA_CA_CERTS set
 * aside while Node starts (Node 20 parses that certificate file during start-up: ~45 ms per run
 * for Debian's bundle; README "Start-up") and handed over for cli/main.ts to put back.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from './helpers.js';

const run = promisify(execFile);
const BIN = join(ROOT, 'bin/hypemu');
const tmp = mkdtempSync(join(tmpdir(), 'hypemu-bin-'));
/** A certificate file that does not exist: Node warns at start-up when it reads the variable. */
const MISSING = join(tmp, 'missing-ca.pem');

describe('bin/hypemu', () => {
  it('spares Node the NODE_EXTRA_CA_CERTS file at start-up (node main.js reads it)', async () => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: MISSING };
    const direct = await run('node', [CLI, '--version'], { env });
    expect(direct.stderr).toContain('Ignoring extra certs'); // the variable does reach Node's start-up
    const viaBin = await run(BIN, ['--version'], { env });
    expect(viaBin.stdout.trim()).toBe(direct.stdout.trim());
    expect(viaBin.stderr).toBe('');
  });

  it('hands Node the variable under another name, and the arguments unchanged, through a symlink', async () => {
    // A `node` first on PATH that reports what it was given, and a link like node_modules/.bin's.
    const fake = join(tmp, 'fake-node');
    writeFileSync(join(tmp, 'node'), '#!/bin/sh\nprintf "%s\\n" "${NODE_EXTRA_CA_CERTS-unset}" "${HYPEMU_NODE_EXTRA_CA_CERTS-unset}" "$@"\n');
    chmodSync(join(tmp, 'node'), 0o755);
    symlinkSync(BIN, fake);
    const env = { ...process.env, PATH: `${tmp}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: '/some where/ca.pem' };
    const r = await run(fake, ['run', 'an image', '-q'], { env });
    expect(r.stdout.split('\n').slice(0, 6)).toEqual(['unset', '/some where/ca.pem', `${ROOT}/bin/../dist/cli/main.js`, 'run', 'an image', '-q']);
    // A relative link two levels deep, as npm makes node_modules/.bin/hypemu -> ../hypemu/bin/hypemu.
    const rel = join(tmp, 'a/.bin');
    mkdirSync(rel, { recursive: true });
    symlinkSync(relative(rel, fake), join(rel, 'hypemu'));
    const r1 = await run(join(rel, 'hypemu'), ['x'], { env });
    expect(r1.stdout.split('\n')[2]).toBe(`${ROOT}/bin/../dist/cli/main.js`);
    const { NODE_EXTRA_CA_CERTS: _, ...without } = env;
    const r2 = await run(fake, ['--version'], { env: without });
    expect(r2.stdout.split('\n').slice(0, 2)).toEqual(['unset', 'unset']);
  });
});
