/**
 * A suite of guests where one guest's process dies: that test fails, the others run and pass,
 * and the JUnit report says so (README "A suite of boots"). The three-file suite in
 * crash-fixture/ runs in a vitest of its own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

it('a guest that kills its process fails one test, not the suite (JUnit: 3 tests, 1 failure)', async () => {
  const xml = join(mkdtempSync(join(tmpdir(), 'hypemu-junit-')), 'junit.xml');
  // Asynchronously: a long spawnSync would block this worker until its RPC to vitest timed out.
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'tests/examples/crash-fixture/vitest.config.ts', '--reporter=junit', `--outputFile=${xml}`], {
      cwd: root, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => resolve({ status, stderr }));
  });
  expect(r.status, r.stderr).toBe(1);
  const junit = readFileSync(xml, 'utf8');
  expect(junit).toMatch(/<testsuites name="vitest tests" tests="3" failures="1" errors="0"/);
  // The killed guest's test failed with what happened to its process...
  expect(junit).toMatch(/<testcase classname="tests\/examples\/crash-fixture\/a-crash.fixture.ts" name="timer-irq matches its golden run"[^>]*>\s*<failure message="[^"]*the process running the guest was killed by SIGSEGV/);
  // ...and the others ran and passed.
  for (const [file, name] of [['b-golden', 'hello'], ['c-golden', 'demo-vhe']]) {
    expect(junit).toMatch(new RegExp(`<testcase classname="tests/examples/crash-fixture/${file}.fixture.ts" name="${name} matches its golden run" time="[\\d.]+">\\s*</testcase>`));
  }
}, 300_000);
