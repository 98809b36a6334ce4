/**
 * Images left in their file (machine/boot-image.ts): a Linux Image, a raw binary and an initrd
 * given as an open file and its first bytes are placed exactly as the same bytes in memory, and
 * writeSegments reads them straight into guest RAM (GuestRam.loadFile).
 */
import { closeSync, mkdtempSync, openSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadImage, needsWholeImage, writeSegments, type FileBytes, type ImageFile } from '../../emulator/platform/loader.js';
import { GuestRam } from '../../emulator/memory/ram.js';

const RAM = { base: 0x4000_0000, size: 0x0400_0000 };
const dir = mkdtempSync(join(tmpdir(), 'hypemu-image-file-'));
const fds: number[] = [];
afterAll(() => fds.forEach((fd) => closeSync(fd)));

/** An arm64 Image header (booting.rst) followed by a counting pattern: `length` bytes in all. */
function linuxImage(length: number, imageSize: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 64; i < length; i++) b[i] = (i * 7) & 0xff;
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x1400_0010, true);
  dv.setBigUint64(16, BigInt(imageSize), true);
  dv.setBigUint64(24, 0b1010n, true);
  dv.setUint32(0x38, 0x644d_5241, true); // "ARM\x64"
  return b;
}

function inFile(name: string, bytes: Uint8Array): FileBytes {
  writeFileSync(join(dir, name), bytes);
  const fd = openSync(join(dir, name), 'r');
  fds.push(fd);
  return { fd, offset: 0, length: bytes.length };
}
/**
 * Byte-for-byte equality of megabyte arrays as one boolean: vitest's toEqual walks them element by
 * element (16 s for these, synchronously, which starved the worker's RPC under load).
 */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const asFile = (name: string, bytes: Uint8Array): ImageFile => ({ head: bytes.slice(0, 4096), file: inFile(name, bytes) });

describe('an image left in its file', () => {
  it('is laid out as the same bytes in memory, and read into RAM with the tail zeroed', () => {
    const bytes = linuxImage(0x20_0123, 0x30_0000);
    const initrd = new Uint8Array(0x1_0005).map((_, i) => i & 0x7f);
    const dtb = new Uint8Array([0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 0x28]); // FDT magic (a blob of sorts)
    const inMemory = loadImage('Image', bytes, { ram: RAM, initrd, dtb });
    const fromFile = loadImage('Image', asFile('Image', bytes), { ram: RAM, initrd: inFile('initrd', initrd), dtb });
    const shape = (img: typeof inMemory): unknown => ({ ...img, segments: img.segments.map((s) => [s.addr, s.memSize]), dtb: img.dtb });
    expect(shape(fromFile)).toEqual(shape(inMemory));
    expect(fromFile.segments.map((s) => [s.data.length, s.file?.length])).toEqual([[0, bytes.length], [0, initrd.length], [dtb.length, undefined]]);

    const ram = new GuestRam(RAM.base, RAM.size);
    ram.load(fromFile.segments[0]!.addr + bytes.length, new Uint8Array(16).fill(0xee)); // the tail must be zeroed over this
    writeSegments(fromFile, ram);
    const k = fromFile.segments[0]!;
    expect(same(ram.slice(k.addr, bytes.length), bytes)).toBe(true);
    expect(same(ram.slice(k.addr + bytes.length, k.memSize - bytes.length), new Uint8Array(k.memSize - bytes.length))).toBe(true);
    expect(same(ram.slice(fromFile.initrd!.start, initrd.length), initrd)).toBe(true);
    expect(ram.slice(fromFile.dtbAddr!, dtb.length)).toEqual(dtb);
  });

  it('a raw binary too, at its load address', () => {
    const bytes = new Uint8Array(0x10_0001).map((_, i) => (i * 13) & 0xff);
    const img = loadImage('fw.bin', asFile('fw.bin', bytes), { ram: RAM, loadAddr: 0x4010_0000 });
    expect(img.segments).toEqual([{ addr: 0x4010_0000, data: new Uint8Array(0), file: expect.objectContaining({ length: bytes.length }), memSize: bytes.length }]);
    const ram = new GuestRam(RAM.base, RAM.size);
    writeSegments(img, ram);
    expect(same(ram.slice(0x4010_0000, bytes.length), bytes)).toBe(true);
  });

  it('gzip\'d and ELF images must be read into memory; --format raw never', () => {
    const gz = gzipSync(Buffer.from('x'));
    expect(needsWholeImage(gz)).toBe(true);
    expect(needsWholeImage(new Uint8Array([0x7f, 0x45, 0x4c, 0x46]))).toBe(true);
    expect(needsWholeImage(new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), 'raw')).toBe(false);
    expect(needsWholeImage(new Uint8Array(64), 'elf')).toBe(true);
    expect(needsWholeImage(linuxImage(64, 64))).toBe(false);
    expect(() => loadImage('vmlinuz', { head: gz, file: inFile('vmlinuz', gz) }, { ram: RAM })).toThrow(/must be given as bytes/);
  });

  it('RAM keeps the bytes the machine was built with when the file is rewritten in place or truncated', () => {
    // A copy, not a MAP_PRIVATE mapping of the file (README, "Running guests"): with a mapping the
    // rewrite shows through pages not yet touched, and the truncation makes reading them a SIGBUS
    // (both seen: the first check failed, and the test worker died on the second).
    const bytes = new Uint8Array(0x4_0000).map((_, i) => (i * 11) & 0xff);
    const f = inFile('rewritten', bytes);
    const ram = new GuestRam(RAM.base, RAM.size);
    ram.loadFile(RAM.base + 0x20_0000, f);
    writeFileSync(join(dir, 'rewritten'), new Uint8Array(bytes.length).fill(0x5a)); // same file, O_TRUNC then written
    expect(same(ram.slice(RAM.base + 0x20_0000, bytes.length), bytes)).toBe(true);
    truncateSync(join(dir, 'rewritten'), 0);
    expect(same(ram.slice(RAM.base + 0x20_0000, bytes.length), bytes)).toBe(true);
  });

  it('a file that ended early is an error, not a half-loaded image', () => {
    const f = inFile('short', new Uint8Array(100));
    const ram = new GuestRam(RAM.base, RAM.size);
    expect(() => ram.loadFile(RAM.base, { ...f, length: 200 })).toThrow(/ended 100 bytes early/);
  });
});
