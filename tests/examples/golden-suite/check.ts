// One golden check as a vitest test: the suite of boots in README "A suite of boots".
// Each NAME.test.ts file calls it once, so vitest's forks pool runs each guest in its own
// process and `--shard i/n` spreads the files over machines; scripts/record-goldens.sh is the
// manifest that records golden/NAME and writes NAME.test.ts.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { checkGolden } from 'hypemu';

export function goldenCheck(name: string): void {
  it(`${name} matches its golden run`, async () => {
    const r = await checkGolden(fileURLToPath(new URL(`./golden/${name}`, import.meta.url)));
    // On a difference the message is the report: the first divergence (instruction, PC, the
    // expected and actual records), the stats that differ, the console diff.
    expect(r.ok, r.report).toBe(true);
  }, 120_000);
}
