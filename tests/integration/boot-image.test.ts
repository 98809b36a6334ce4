/**
 * machine/boot-image.ts as a user meets it: an image of 1 MiB or more is read from its file
 * straight into guest RAM, a small one into memory first, and one given through a pipe (no size)
 * is read to its end; all three run the same guest.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, hypemu } from './helpers.js';

// movz x0, #8; movk x0, #0x8400, lsl #16 (PSCI SYSTEM_OFF); hvc #0
const OFF = Buffer.from(Uint32Array.from([0xd2800100, 0xf2b08000, 0xd4000002]).buffer);
const dir = mkdtempSync(join(tmpdir(), 'hypemu-boot-image-'));

describe('raw images, small, large and piped', () => {
  it('a 1.5 MiB image (read from its file into RAM) runs as the 12-byte one', async () => {
    const small = join(dir, 'off.bin');
    const large = join(dir, 'off-large.bin');
    writeFileSync(small, OFF);
    writeFileSync(large, Buffer.concat([OFF, Buffer.alloc(0x18_0000 - OFF.length, 0xff)]));
    const a = await hypemu(['run', small, '--format', 'raw', '-q'], { stats: true });
    const b = await hypemu(['run', large, '--format', 'raw', '-q'], { stats: true });
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    expect(b.stats?.instructions).toBe(3);
    expect(b.stats?.halt).toEqual(a.stats?.halt);
  });

  it('an image through a pipe (a FIFO: no size to read by) is read to its end', async () => {
    const fifo = join(dir, 'image.fifo');
    execFileSync('mkfifo', [fifo]);
    const p = spawn('node', [CLI, 'run', fifo, '--format', 'raw'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    createWriteStream(fifo).end(Buffer.concat([OFF, Buffer.alloc(0x10_0000)]));
    const status = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    expect(err).toMatch(/powered off \(PSCI SYSTEM_OFF\) after 3 instructions/);
    expect(status).toBe(0);
  });
});
