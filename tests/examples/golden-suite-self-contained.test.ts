// The golden suite (README "A suite of boots") does not depend on the machine's cross compiler:
// each golden directory holds the image it was recorded from (record --keep-image), runs that
// copy, and names nothing outside itself. Another gcc builds other guest-images/ bytes (even
// another checkout directory does: the ELF's debug info holds the build path), and the suite
// must still check the same thing everywhere.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const suite = fileURLToPath(new URL('./golden-suite', import.meta.url));
const manifest = readFileSync(fileURLToPath(new URL('../../scripts/record-goldens.sh', import.meta.url)), 'utf8');
const names = [...manifest.matchAll(/^\s+"([a-z0-9-]+)\s+\$G\//gm)].map((m) => m[1]!);

describe('the golden suite is self-contained', () => {
  it('the manifest (scripts/record-goldens.sh) and the golden directories name the same boots', () => {
    expect(names.length).toBe(20);
    expect(readdirSync(join(suite, 'golden')).sort()).toEqual([...names].sort());
    for (const n of names) expect(existsSync(join(suite, `${n}.test.ts`)), n).toBe(true);
  });

  it.each(names)('%s: runs its own copy of the image (the recorded bytes), with checkpoints', (name) => {
    const dir = join(suite, 'golden', name);
    const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
    expect(meta.image).toMatch(/^image\.(elf|bin)$/);
    expect(createHash('sha256').update(readFileSync(join(dir, meta.image))).digest('hex')).toBe(meta.imageSha256);
    expect(meta.options.initrd).toBeUndefined();
    expect(readFileSync(join(dir, 'checkpoints.bin')).length).toBe(meta.checkpoints.count * 8);
    expect(meta.checkpoints.count).toBe(Math.floor(meta.instructions / meta.checkpoints.every) - (meta.instructions % meta.checkpoints.every === 0 ? 1 : 0));
  });
});
