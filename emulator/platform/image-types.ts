/**
 * Types and helpers shared by the image loaders (loader.ts, elf.ts, linux-image.ts).
 */

export type ImageFormat = 'raw' | 'elf' | 'linux';

/**
 * Bytes left in a file until they are placed: `length` bytes of the open file `fd` from `offset`,
 * read straight into guest RAM (a 27 MB kernel then costs one read into RAM, not a buffer of its
 * own, a copy, and that buffer's 27 MB of RSS for the whole run). The fd is closed once placed.
 */
export interface FileBytes {
  fd: number;
  offset: number;
  length: number;
}

/**
 * Bytes to place in guest-physical memory: `data`, or, when `file` is set, the file's bytes
 * (`data` is then empty); [addr + their length, addr + memSize) is zero-filled.
 */
export interface ImageSegment {
  addr: number;
  data: Uint8Array;
  file?: FileBytes;
  memSize: number;
}

/** How many bytes a segment places (before its zero-filled tail). */
export const segmentLength = (s: ImageSegment): number => s.file?.length ?? s.data.length;

export interface RamRange {
  base: number;
  size: number;
}

/**
 * A user-facing image problem: the message is one line that names the file, so the CLI can
 * print it as is and exit non-zero (DESIGN.md: bad input gets a one-line error, no stack).
 */
export class ImageError extends Error {
  override name = 'ImageError';
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

export const MiB = 1024 * 1024;

export function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/** RAM as "0x40000000-0x50000000" (end exclusive) for messages. */
export function ramText(ram: RamRange): string {
  return `${hex(ram.base)}-${hex(ram.base + ram.size)}`;
}

/** True when [addr, addr + size) lies within RAM. Works for bigint inputs beyond 2^53. */
export function inRam(ram: RamRange, addr: number | bigint, size: number | bigint): boolean {
  const a = BigInt(addr);
  const s = BigInt(size);
  return a >= BigInt(ram.base) && s >= 0n && a + s <= BigInt(ram.base) + BigInt(ram.size);
}
