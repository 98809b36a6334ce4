/**
 * The snapshot file format (version 1), documented in emulator/snapshot/README.md:
 *
 *   offset  size  what
 *   0       8     magic "HYPEMUSN"
 *   8       4     format version, u32 little-endian (1)
 *   12      4     JSON section length J, u32 LE
 *   16      8     page section length P, u64 LE
 *   24      32    SHA-256 of the JSON section
 *   56      J     JSON section (UTF-8): hypemu version, configuration, component states, regions
 *   56+J    P     page section: one zlib stream per region (RAM, then blobs), see `regions`
 *
 * A region is memory saved by page: its zlib stream inflates to a u32 LE page count C, C u32 LE
 * page numbers (ascending), then C pages of PAGE bytes. Only pages that are not all zero are
 * saved (guest RAM is zero-filled lazily by the OS: untouched pages are zero). zlib's Adler-32
 * checks each stream; the SHA-256 checks the JSON.
 */
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync, constants as zc } from 'node:zlib';
import { SnapshotFormatError } from './state.js';

export const SNAPSHOT_MAGIC = 'HYPEMUSN';
export const SNAPSHOT_VERSION = 1;
export const PAGE = 4096;
const HEADER = 56;

/** Where a region's zlib stream lies in the page section, and what it covers. */
export interface RegionRef {
  readonly name: string;
  readonly size: number;
  readonly pages: number;
  readonly offset: number;
  readonly length: number;
}

const ZERO = Buffer.alloc(PAGE);

/** Compress the non-zero pages of `size` bytes read through `pageAt`. */
export function packRegion(name: string, size: number, pageAt: (offset: number) => Uint8Array): { ref: Omit<RegionRef, 'offset' | 'length'>; data: Buffer } {
  const numbers: number[] = [];
  const pages: Uint8Array[] = [];
  for (let off = 0; off < size; off += PAGE) {
    const p = pageAt(off);
    if (!Buffer.from(p.buffer, p.byteOffset, p.byteLength).equals(ZERO)) {
      numbers.push(off / PAGE);
      pages.push(p);
    }
  }
  const head = Buffer.alloc(4 + 4 * numbers.length);
  head.writeUInt32LE(numbers.length, 0);
  numbers.forEach((n, i) => head.writeUInt32LE(n, 4 + 4 * i));
  // Level 1: a snapshot of a booted Linux is tens of MB of pages; speed matters more than ratio.
  const data = deflateSync(Buffer.concat([head, ...pages]), { level: 1, strategy: zc.Z_DEFAULT_STRATEGY });
  return { ref: { name, size, pages: numbers.length }, data };
}

/** Inflate a region and hand each saved page to `put`. */
export function unpackRegion(ref: RegionRef, section: Uint8Array, put: (offset: number, page: Uint8Array) => void): void {
  if (ref.offset < 0 || ref.offset + ref.length > section.byteLength) throw new SnapshotFormatError(`region ${ref.name} lies outside the page section`);
  let raw: Buffer;
  try {
    raw = inflateSync(section.subarray(ref.offset, ref.offset + ref.length));
  } catch (e) {
    throw new SnapshotFormatError(`region ${ref.name}: ${(e as Error).message}`);
  }
  const count = raw.readUInt32LE(0);
  if (count !== ref.pages || raw.byteLength !== 4 + count * (4 + PAGE)) throw new SnapshotFormatError(`region ${ref.name}: page count does not match`);
  const data = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const off = raw.readUInt32LE(4 + 4 * i) * PAGE;
    if (off + PAGE > ref.size) throw new SnapshotFormatError(`region ${ref.name}: page 0x${off.toString(16)} outside the region`);
    put(off, raw.subarray(data + i * PAGE, data + (i + 1) * PAGE));
  }
}

export interface SnapshotFile {
  readonly json: unknown;
  readonly pages: Uint8Array;
}

export function encodeSnapshotFile(json: unknown, pageSection: Buffer): Buffer {
  const j = Buffer.from(JSON.stringify(json), 'utf8');
  const h = Buffer.alloc(HEADER);
  h.write(SNAPSHOT_MAGIC, 0, 'latin1');
  h.writeUInt32LE(SNAPSHOT_VERSION, 8);
  h.writeUInt32LE(j.byteLength, 12);
  h.writeBigUInt64LE(BigInt(pageSection.byteLength), 16);
  createHash('sha256').update(j).digest().copy(h, 24);
  return Buffer.concat([h, j, pageSection]);
}

export function decodeSnapshotFile(b: Buffer): SnapshotFile {
  if (b.byteLength < HEADER || b.toString('latin1', 0, 8) !== SNAPSHOT_MAGIC) throw new SnapshotFormatError('not a hypemu snapshot (bad magic)');
  const version = b.readUInt32LE(8);
  if (version !== SNAPSHOT_VERSION) throw new SnapshotFormatError(`snapshot format version ${version}; this hypemu reads version ${SNAPSHOT_VERSION}`);
  const jl = b.readUInt32LE(12);
  const pl = Number(b.readBigUInt64LE(16));
  if (HEADER + jl + pl !== b.byteLength) throw new SnapshotFormatError(`truncated or padded: ${b.byteLength} bytes, header says ${HEADER + jl + pl}`);
  const j = b.subarray(HEADER, HEADER + jl);
  if (!createHash('sha256').update(j).digest().equals(b.subarray(24, 56))) throw new SnapshotFormatError('JSON section damaged (SHA-256 mismatch)');
  let json: unknown;
  try {
    json = JSON.parse(j.toString('utf8'));
  } catch (e) {
    throw new SnapshotFormatError(`JSON section: ${(e as Error).message}`);
  }
  return { json, pages: b.subarray(HEADER + jl) };
}
