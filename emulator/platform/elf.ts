/**
 * ELF64 AArch64 little-endian loader: PT_LOAD segments only, as a bootloader would (and as
 * QEMU's -kernel does for ELF files). References: System V gABI "ELF-64 Object File Format",
 * chapters "ELF Header" and "Program Header"; "ELF for the Arm 64-bit Architecture (AArch64)"
 * (IHI0056) for EM_AARCH64 = 183.
 *
 * Segments are placed at their *physical* address p_paddr (gABI: "on systems for which
 * physical addressing is relevant, this member is reserved for the segment's physical
 * address"); the entry point e_entry is a virtual address and is translated through the
 * PT_LOAD segment that contains it, so an image linked to run at a high VA with its load
 * address in RAM (AT() in the linker script) starts at the right physical byte.
 */
import { ImageError, type ImageSegment, type RamRange, hex, inRam, ramText } from './image-types.js';

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const; // "\x7fELF"
const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFDATA2MSB = 2;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
export const EM_AARCH64 = 183;
const PT_LOAD = 1;
const PN_XNUM = 0xffff;
const EHDR64_SIZE = 64;
const PHDR64_SIZE = 56;

export interface ElfLoadResult {
  segments: ImageSegment[];
  entry: number;
  type: 'exec' | 'dyn';
}

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

export interface ElfLoadOptions {
  ram: RamRange;
  /** ET_DYN only: move the image so that its lowest p_paddr lands here (no relocations applied). */
  loadAddr?: number;
}

type Fail = (problem: string) => never;

/** Segment of the program header table that is loaded (PT_LOAD, non-empty). */
interface LoadSegment {
  index: number;
  paddr: bigint;
  vaddr: bigint;
  offset: bigint;
  filesz: bigint;
  memsz: bigint;
}

export function loadElf(file: string, bytes: Uint8Array, opts: ElfLoadOptions): ElfLoadResult {
  const fail: Fail = (problem) => {
    throw new ImageError(file, problem);
  };
  checkIdent(bytes, fail);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = readHeader(dv, bytes.length, fail);
  const loads = loadSegments(dv, bytes.length, h, fail);

  // ET_DYN: optional whole-image move (position-independent code only; relocations are not
  // processed, so say so in the docs rather than silently producing a broken image).
  let bias = 0n;
  if (h.eType === ET_DYN && opts.loadAddr !== undefined) {
    const low = loads.reduce((m, s) => (s.paddr < m ? s.paddr : m), loads[0]!.paddr);
    bias = BigInt(opts.loadAddr) - low;
  }
  const segments = placeSegments(bytes, loads, bias, opts.ram, fail);

  const host = loads.find((s) => h.entryVa >= s.vaddr && h.entryVa < s.vaddr + s.memsz);
  if (!host) fail(`ELF entry point ${hex(h.entryVa)} is not inside any PT_LOAD segment`);
  const entry = Number(h.entryVa - host!.vaddr + host!.paddr + bias);

  return { segments, entry, type: h.eType === ET_EXEC ? 'exec' : 'dyn' };
}

/** e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, and a whole ELF64 header. */
function checkIdent(bytes: Uint8Array, fail: Fail): void {
  if (!isElf(bytes)) fail('not an ELF file (bad magic)');
  if (bytes.length < 16) fail(`truncated ELF: ${bytes.length} bytes`);
  const cls = bytes[4];
  if (cls === ELFCLASS32) fail('32-bit ELF (ELFCLASS32); hypemu runs AArch64 (ELFCLASS64) images only');
  if (cls !== ELFCLASS64) fail(`ELF class ${cls} is not ELFCLASS64`);
  const data = bytes[5];
  if (data === ELFDATA2MSB) fail('big-endian ELF (ELFDATA2MSB); only little-endian AArch64 is supported');
  if (data !== ELFDATA2LSB) fail(`ELF data encoding ${data} is not ELFDATA2LSB`);
  if (bytes[6] !== EV_CURRENT) fail(`ELF ident version ${bytes[6]} is not EV_CURRENT`);
  if (bytes.length < EHDR64_SIZE) fail(`truncated ELF header: ${bytes.length} bytes, need ${EHDR64_SIZE}`);
}

interface ElfHeader {
  eType: number;
  entryVa: bigint;
  phoff: bigint;
  phentsize: number;
  phnum: number;
}

/** e_type, e_machine, e_entry and the program header table's place (gABI "ELF Header"). */
function readHeader(dv: DataView, length: number, fail: Fail): ElfHeader {
  const u16 = (o: number): number => dv.getUint16(o, true);
  const eType = u16(16);
  if (eType !== ET_EXEC && eType !== ET_DYN) {
    const names: Record<number, string> = { 0: 'ET_NONE', 1: 'ET_REL (an object file; link it first)', 4: 'ET_CORE' };
    fail(`ELF type ${names[eType] ?? eType} cannot be loaded; need ET_EXEC or ET_DYN`);
  }
  const machine = u16(18);
  if (machine !== EM_AARCH64) fail(`ELF machine ${machine} is not EM_AARCH64 (183)`);
  const entryVa = dv.getBigUint64(24, true);
  const phoff = dv.getBigUint64(32, true);
  const phentsize = u16(54);
  const phnum = u16(56);
  if (phnum === PN_XNUM) fail('ELF with more than 65534 program headers (PN_XNUM) is not supported');
  if (phnum === 0) fail('ELF has no program headers');
  if (phentsize < PHDR64_SIZE) fail(`ELF program header size ${phentsize} is below ${PHDR64_SIZE}`);
  if (phoff + BigInt(phnum * phentsize) > BigInt(length)) {
    fail(`ELF program header table (${phnum} x ${phentsize} bytes at ${hex(phoff)}) extends past end of file (${hex(length)} bytes)`);
  }
  return { eType, entryVa, phoff, phentsize, phnum };
}

/** The PT_LOAD entries with a non-zero size, checked against the file and the address space (gABI "Program Header"). */
function loadSegments(dv: DataView, length: number, h: ElfHeader, fail: Fail): LoadSegment[] {
  const u64 = (o: number): bigint => dv.getBigUint64(o, true);
  const loads: LoadSegment[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const o = Number(h.phoff) + i * h.phentsize;
    if (dv.getUint32(o, true) !== PT_LOAD) continue;
    const s: LoadSegment = { index: i, offset: u64(o + 8), vaddr: u64(o + 16), paddr: u64(o + 24), filesz: u64(o + 32), memsz: u64(o + 40) };
    if (s.filesz > s.memsz) fail(`ELF segment ${i}: file size ${hex(s.filesz)} exceeds memory size ${hex(s.memsz)}`);
    if (s.offset + s.filesz > BigInt(length)) {
      fail(`ELF segment ${i}: file data at offset ${hex(s.offset)} (size ${hex(s.filesz)}) extends past end of file (${hex(length)} bytes)`);
    }
    if (s.memsz === 0n) continue; // gABI allows empty segments; nothing to place
    if (s.paddr + s.memsz > 0xffff_ffff_ffff_ffffn + 1n || s.vaddr + s.memsz > 0xffff_ffff_ffff_ffffn + 1n) {
      fail(`ELF segment ${i} at ${hex(s.paddr)} (size ${hex(s.memsz)}) wraps the address space`);
    }
    loads.push(s);
  }
  if (loads.length === 0) fail('ELF has no PT_LOAD segment with a non-zero size');
  return loads;
}

/** Each segment at p_paddr + bias, inside RAM and overlapping no other. */
function placeSegments(bytes: Uint8Array, loads: readonly LoadSegment[], bias: bigint, ram: RamRange, fail: Fail): ImageSegment[] {
  const segments: ImageSegment[] = [];
  for (const s of loads) {
    const pa = s.paddr + bias;
    if (!inRam(ram, pa, s.memsz)) {
      fail(`ELF segment ${s.index} at ${hex(pa)} (size ${hex(s.memsz)}) is outside RAM ${ramText(ram)}`);
    }
    segments.push({
      addr: Number(pa),
      data: bytes.subarray(Number(s.offset), Number(s.offset + s.filesz)),
      memSize: Number(s.memsz),
    });
  }
  // Overlapping segments would make the result depend on write order: reject.
  const order = segments.map((seg, k) => ({ seg, idx: loads[k]!.index })).sort((a, b) => a.seg.addr - b.seg.addr);
  for (let k = 1; k < order.length; k++) {
    const prev = order[k - 1]!;
    const cur = order[k]!;
    if (cur.seg.addr < prev.seg.addr + prev.seg.memSize) {
      fail(`ELF segments ${prev.idx} and ${cur.idx} overlap at ${hex(cur.seg.addr)}`);
    }
  }
  return segments;
}
