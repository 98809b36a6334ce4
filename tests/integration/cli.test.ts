// The CLI's contract with its users: exit statuses, one-line errors, stats JSON fields, --help.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guest, hypemu } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'hypemu-cli-'));

describe('exit statuses', () => {
  it('124 when --max-insns is reached', async () => {
    const r = await hypemu(['run', guest('bench-loop'), '--max-insns', '100000'], { stats: true });
    expect(r.status).toBe(124);
    expect(r.stats!.instructions).toBe(100000);
    expect(r.stderr).toContain('instruction limit reached');
  });
  it('64 and one line naming the file for a missing image', async () => {
    const r = await hypemu(['run', join(tmp, 'nope.elf')]);
    expect(r.status).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('nope.elf');
  });
  it('64 for a truncated ELF, with the problem named', async () => {
    const f = join(tmp, 'trunc.elf');
    writeFileSync(f, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
    const r = await hypemu(['run', f]);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/trunc\.elf: .+/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
  it('64 for a bad option value', async () => {
    const r = await hypemu(['run', guest('hello'), '--mem', 'lots']);
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('--mem');
  });
  it('125 when the guest stops on something nothing can handle (fetch from a hole)', async () => {
    // A raw image whose first instruction branches to 0x0 (not RAM, not a device).
    const f = join(tmp, 'jump0.bin');
    const b = Buffer.alloc(8);
    b.writeUInt32LE(0xd2800000, 0); // mov x0, #0
    b.writeUInt32LE(0xd61f0000, 4); // br x0
    writeFileSync(f, b);
    const r = await hypemu(['run', f, '--max-insns', '1000000']);
    expect(r.status).toBe(125);
  });
});

describe('stats JSON', () => {
  it('has instructions, virtualTimeNs and exceptions by class and target EL', async () => {
    const r = await hypemu(['run', guest('hello'), '-q'], { stats: true });
    const s = r.stats!;
    expect(s.instructions).toBeGreaterThan(1000);
    expect(s.virtualTimeNs).toBe(s.instructions);
    expect(s.exceptions.byTarget.EL2.hvc64).toBe(1);
    // The console's MMIO: through the native console window when built (no exits), else stage-2 data aborts.
    const native = s.coalescedMmio.native as { writes: number; reads: number } | null;
    expect(s.exits.byReason.dabt_s2 + (native === null ? 0 : native.writes + native.reads)).toBeGreaterThan(0);
  });
});

describe('--help', () => {
  it('documents the options and the exit statuses', async () => {
    const r = await hypemu(['run', '--help']);
    expect(r.status).toBe(0);
    for (const s of ['--load', '--entry', '--mem', '--max-insns', '--stats-json', '--quiet', '--gic', '124', '125', '64']) {
      expect(r.stdout).toContain(s);
    }
  });
});

describe('raw binaries', () => {
  it('load at 0x40080000 by default and honour --load/--entry', async () => {
    const r = await hypemu(['run', guest('hello').replace(/\.elf$/, '.bin'), '-q']);
    expect(r.stdout).toContain('Hello from hypemu guest!');
    expect(r.status).toBe(0);
  });
});

describe('--dump-dtb', () => {
  it('writes the device tree the run would get (cpu nodes and virtio-mmio as QEMU\'s) and exits 0 without running', async () => {
    const { findNode, parseFdt, propU32s } = await import('../../emulator/platform/dtb.js');
    const { readFileSync } = await import('node:fs');
    const f = join(tmp, 'virt.dtb');
    const r = await hypemu(['run', guest('hello'), '--smp', '2', '--append', 'x=1', '--dump-dtb', f]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(''); // the guest never ran
    const root = parseFdt(new Uint8Array(readFileSync(f))).root;
    expect(findNode(root, '/cpus')!.children.map((c) => c.name)).toEqual(['cpu-map', 'cpu@0', 'cpu@1']);
    expect(propU32s(findNode(root, '/cpus/cpu@0')!.props.get('phandle')!)).toEqual([0x8002]);
    expect(propU32s(findNode(root, '/virtio_mmio@a003e00')!.props.get('interrupts')!)).toEqual([0, 47, 1]);
    expect((await hypemu(['run', guest('hello'), '--dump-dtb', join(tmp, 'no/such/dir.dtb')])).status).toBe(64);
  });
});
