/**
 * The snapshot file format (version 3), documented in emulator/snapshot/README.md:
 *
 *   offset  size  what
 *   0       8     magic "HYPEMUSN"
 *   8       4     format version, u32 little-endian (3; 2 is read too)
 *   12      4     JSON section length J, u32 LE
 *   16      8     page section length P, u64 LE
 *   24      32    SHA-256 of the JSON section
 *   56      J     JSON section (UTF-8): hypemu version, configuration, component states, regions
 *   S       P     page section, S = 56 + J rounded up to a multiple of 4096 (zero padding between)
 *
 * A region is memory saved by page: its non-zero pages, uncompressed and in ascending order, at
 * `offset` in the page section (a multiple of 4096), described by `runs` of consecutive page
 * numbers and checked by a CRC-32 over its bytes. Uncompressed and page-aligned so that a restore
 * maps them into guest RAM straight from the file (copy-on-write, read by the OS when touched)
 * instead of inflating and copying tens of MB (version 1 was zlib'd: 0.14 s of inflate alone for
 * a booted Linux). The SHA-256 checks the JSON, which names every region's place and CRC.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { SnapshotFormatError } from './state.js';

export const SNAPSHOT_MAGIC = 'HYPEMUSN';
/**
 * The version written. 3 added the state of every vCPU of --smp N (`vcpu<i>`, `timer<i>`,
 * `pmu<i>`, `debugRegs<i>`, `hyp<i>`, `smp`) and of a guest hypervisor (`hyp.nested`); for one
 * vCPU without --nested its layout is version 2's, so version 2 files are read as well.
 */
export const SNAPSHOT_VERSION = 3;
/** Versions this reader restores (1 was zlib'd pages: refused, take the snapshot again). */
export const SNAPSHOT_READS: readonly number[] = [2, 3];
export const PAGE = 4096;
const HEADER = 56;

/** [first page number, page count]: consecutive saved pages. */
export type PageRun = readonly [number, number];

/** Where a region's pages lie in the page section, and what they cover. */
export interface RegionRef {
  readonly name: string;
  /** Bytes the region covers (pages beyond those saved are zero). */
  readonly size: number;
  readonly pages: number;
  readonly runs: readonly PageRun[];
  /** From the start of the page section; a multiple of PAGE. */
  readonly offset: number;
  /** pages * PAGE. */
  readonly length: number;
  /** CRC-32 (zlib's) of the region's `length` bytes. */
  readonly crc32: number;
}

/** CRC-32 as zlib computes it (node:zlib's crc32 from Node 20.15; a table otherwise). */
const crcNative = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
let table: Uint32Array | null = null;
export function crc32(data: Uint8Array, value = 0): number {
  if (crcNative !== undefined) return crcNative(data, value);
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const ZERO = Buffer.alloc(PAGE);
function isZero(p: Uint8Array): boolean {
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength).equals(p.byteLength === PAGE ? ZERO : ZERO.subarray(0, p.byteLength));
}

/** The non-zero pages of `size` bytes read through `pageAt` (views, not copies: write them before the memory changes). */
export function packRegion(name: string, size: number, pageAt: (offset: number) => Uint8Array): { ref: Omit<RegionRef, 'offset'>; pages: Uint8Array[] } {
  const pages: Uint8Array[] = [];
  const runs: Array<[number, number]> = [];
  let crc = 0;
  for (let off = 0, n = 0; off < size; off += PAGE, n++) {
    let p = pageAt(off);
    if (isZero(p)) continue;
    if (p.byteLength < PAGE) {
      const full = new Uint8Array(PAGE);
      full.set(p);
      p = full;
    }
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0] + last[1] === n) last[1]++;
    else runs.push([n, 1]);
    pages.push(p);
    crc = crc32(p, crc);
  }
  return { ref: { name, size, pages: pages.length, runs, length: pages.length * PAGE, crc32: crc }, pages };
}

/** Check a region's description against the page section's size (before anything is mapped or read). */
export function checkRegion(ref: RegionRef, sectionLength: number): void {
  const bad = (why: string): never => {
    throw new SnapshotFormatError(`region ${String(ref.name)}: ${why}`);
  };
  if (!Number.isSafeInteger(ref.offset) || ref.offset % PAGE !== 0 || ref.offset < 0) bad('misplaced');
  if (ref.length !== ref.pages * PAGE || ref.offset + ref.length > sectionLength) bad('lies outside the page section');
  let count = 0;
  let next = 0;
  for (const run of ref.runs) {
    const [first, n] = run;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(n) || n <= 0 || first < next) bad('page runs out of order');
    next = first + n;
    count += n;
  }
  if (count !== ref.pages) bad('page count does not match');
  if (next * PAGE > Math.ceil(ref.size / PAGE) * PAGE) bad(`page 0x${((next - 1) * PAGE).toString(16)} outside the region`);
}

/** A snapshot file opened for restoring: header and JSON read and checked; pages read on demand. */
export class SnapshotFile {
  private constructor(
    readonly fd: number,
    readonly json: unknown,
    /** File offset of the page section (a multiple of PAGE). */
    readonly pageSection: number,
    readonly pageSectionLength: number,
  ) {}

  static open(path: string): SnapshotFile {
    const fd = openSync(path, 'r');
    try {
      return SnapshotFile.decode(fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private static decode(fd: number): SnapshotFile {
    const size = fstatSync(fd).size;
    const h = Buffer.alloc(HEADER);
    if (size < HEADER || readSync(fd, h, 0, HEADER, 0) !== HEADER || h.toString('latin1', 0, 8) !== SNAPSHOT_MAGIC) {
      throw new SnapshotFormatError('not a hypemu snapshot (bad magic)');
    }
    const version = h.readUInt32LE(8);
    if (!SNAPSHOT_READS.includes(version)) throw new SnapshotFormatError(`snapshot format version ${version}; this hypemu reads versions ${SNAPSHOT_READS.join(' and ')}`);
    const jl = h.readUInt32LE(12);
    const pl = Number(h.readBigUInt64LE(16));
    const section = pageSectionAt(jl);
    if (section + pl !== size) throw new SnapshotFormatError(`truncated or padded: ${size} bytes, header says ${section + pl}`);
    const j = Buffer.alloc(jl);
    if (readSync(fd, j, 0, jl, HEADER) !== jl) throw new SnapshotFormatError('truncated JSON section');
    if (!createHash('sha256').update(j).digest().equals(h.subarray(24, 56))) throw new SnapshotFormatError('JSON section damaged (SHA-256 mismatch)');
    let json: unknown;
    try {
      json = JSON.parse(j.toString('utf8'));
    } catch (e) {
      throw new SnapshotFormatError(`JSON section: ${(e as Error).message}`);
    }
    return new SnapshotFile(fd, json, section, pl);
  }

  /** Read a region's saved pages (all of them, in order). */
  read(ref: RegionRef): Uint8Array {
    const out = new Uint8Array(ref.length);
    if (readSync(this.fd, out, 0, ref.length, this.pageSection + ref.offset) !== ref.length) throw new SnapshotFormatError(`region ${ref.name}: truncated`);
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function pageSectionAt(jsonLength: number): number {
  return Math.ceil((HEADER + jsonLength) / PAGE) * PAGE;
}

/** The file's bytes, as chunks to write in order (page views are not copied). */
export function encodeSnapshotFile(json: unknown, regions: ReadonlyArray<{ pages: Uint8Array[] }>): Uint8Array[] {
  const j = Buffer.from(JSON.stringify(json), 'utf8');
  const section = pageSectionAt(j.byteLength);
  let pl = 0;
  for (const r of regions) pl += r.pages.length * PAGE;
  const h = Buffer.alloc(HEADER);
  h.write(SNAPSHOT_MAGIC, 0, 'latin1');
  h.writeUInt32LE(SNAPSHOT_VERSION, 8);
  h.writeUInt32LE(j.byteLength, 12);
  h.writeBigUInt64LE(BigInt(pl), 16);
  createHash('sha256').update(j).digest().copy(h, 24);
  return [h, j, new Uint8Array(section - HEADER - j.byteLength), ...regions.flatMap((r) => r.pages)];
}
