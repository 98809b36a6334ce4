// One golden check as a vitest test: the suite of boots in README "A suite of boots".
// Each NAME.test.ts file calls it once, so the files spread over vitest's forks and over
// machines with `--shard i/n`; scripts/record-goldens.sh is the manifest that records
// golden/NAME and writes NAME.test.ts. The guest runs in a child process of its own (isolate):
// a guest that takes its process down fails its test, and the suite goes on.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { checkGolden, type CheckOptions } from 'hypemu';

export function goldenCheck(name: string, opts: CheckOptions = {}): void {
  it(`${name} matches its golden run`, async () => {
    const dir = fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
    const r = await checkGolden(dir, { isolate: true, timeoutMs: 100_000, ...opts });
    // On a difference the message is the report: the first divergence (instruction, PC, the
    // expected and actual records), the stats that differ, the console diff.
    expect(r.ok, r.report).toBe(true);
  }, 120_000);
}
