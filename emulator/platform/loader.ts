/**
 * Image loading front door: detect the format, place the segments in guest RAM, and for
 * Linux lay out the initrd and device tree the way arm64 booting.rst asks.
 *
 * The loader only decides *where bytes go*; it does not touch RAM or registers. The caller
 * copies `segments` into RAM (see writeSegments) and, for Linux, sets the boot registers
 * (see linuxBootRegisters). A raw binary, a Linux Image and an initrd may be given as an open
 * file and its first bytes instead (ImageFile, FileBytes): their segments then name the file,
 * and writeSegments reads them straight into RAM.
 */
import { gunzipSync } from 'node:zlib';
import { DEFAULT_LOAD_ADDR } from './memmap.js';
import { isElf, loadElf } from './elf.js';
import { IMAGE_BASE_ALIGN, type LinuxImageHeader, isLinuxImage, placeLinuxImage } from './linux-image.js';
import {
  ImageError, type FileBytes, type ImageFormat, type ImageSegment, type RamRange, MiB, alignUp, hex, inRam, ramText, segmentLength,
} from './image-types.js';
import { FDT_MAGIC } from './dtb.js';

export { ImageError, type FileBytes, type ImageFormat, type ImageSegment, type RamRange, segmentLength } from './image-types.js';
export type { LinuxImageHeader } from './linux-image.js';

/** booting.rst: "The device tree blob (dtb) must be placed on an 8-byte boundary and must
 * not exceed 2 megabytes in size", and must not share a 2 MB block with memory that needs
 * other attributes. We give it a whole 2 MB aligned slot. */
export const DTB_MAX_SIZE = 2 * MiB;
const DTB_SLOT_ALIGN = 2 * MiB;
/** QEMU hw/arm/boot.c puts the initrd at RAM base + min(RAM / 2, 128 MiB) (unless the
 * kernel reaches past that); doing the same keeps our boot logs comparable with QEMU's. */
const INITRD_MAX_OFFSET = 128 * MiB;
const PAGE = 4096;

export interface Span {
  start: number;
  /** Exclusive. */
  end: number;
}

export interface LoadOptions {
  format?: 'auto' | ImageFormat;
  /** raw: where the bytes go (default DEFAULT_LOAD_ADDR); linux: the Image's first byte
   * (2 MiB aligned base + text_offset); elf: moves an ET_DYN image, ignored for ET_EXEC. */
  loadAddr?: number;
  /** Entry override for raw and ELF images (a Linux Image is always entered at its first byte). */
  entry?: number;
  ram: RamRange;
  /** An initrd/initramfs to place after the kernel; its span is returned for /chosen. */
  initrd?: Uint8Array | FileBytes;
  /**
   * The DTB, or a function that builds it once the initrd span is known (virt-dt's
   * buildVirtDtb needs it for linux,initrd-start/end). Returned as a segment at dtbAddr.
   * For raw/ELF images a DTB is placed only when given.
   */
  dtb?: Uint8Array | ((layout: { initrd?: Span }) => Uint8Array);
}

export interface LoadedImage {
  format: ImageFormat;
  segments: ImageSegment[];
  /** Physical address of the first instruction. */
  entry: number;
  /** First byte after everything the image claims (segments, and image_size for Linux). */
  kernelEnd: number;
  /** DTB address (x0 at entry for Linux): always set for Linux, for others when a DTB was given. */
  dtbAddr?: number;
  dtb?: Uint8Array;
  initrd?: Span;
  /** Parsed header, Linux only. */
  linux?: LinuxImageHeader;
  /** The image was gzip-compressed and has been decompressed. */
  gunzipped?: boolean;
}

/**
 * An image left in its file: its first bytes (at least the 64-byte Linux header, or the whole
 * file when shorter) and the file. Only for raw binaries and Linux Images: a gzip'd image is
 * decompressed and an ELF image parsed, both from bytes in memory.
 */
export interface ImageFile {
  head: Uint8Array;
  file: FileBytes;
}

function detect(bytes: Uint8Array): ImageFormat {
  if (isElf(bytes)) return 'elf';
  if (isLinuxImage(bytes)) return 'linux';
  return 'raw';
}

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
/** CONFIG_EFI_ZBOOT images: "MZ", then "zimg" at offset 4 (drivers/firmware/efi/libstub/zboot-header.S). */
const isZboot = (b: Uint8Array): boolean =>
  b.length >= 8 && b[0] === 0x4d && b[1] === 0x5a && String.fromCharCode(...b.subarray(4, 8)) === 'zimg';

/**
 * Decompress a gzip'd image, stopping as soon as the output would exceed `limit` (the RAM size:
 * a larger image cannot load anyway), so a small hostile gzip cannot make us allocate gigabytes.
 * zlib stops inflating at maxOutputLength; the result is used in place (no copy).
 */
function gunzip(file: string, bytes: Uint8Array, limit: number): Uint8Array {
  try {
    const b = gunzipSync(bytes, { maxOutputLength: limit });
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ImageError(file, `gzip-compressed image decompresses to more than the RAM size (${limit >> 20} MiB); decompression stopped there`);
    }
    throw new ImageError(file, `gzip-compressed image does not decompress: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Does an image with these first bytes need all its bytes in memory (gunzip, ELF parsing)? */
export function needsWholeImage(head: Uint8Array, format: 'auto' | ImageFormat = 'auto'): boolean {
  if (format === 'raw') return false;
  return format === 'elf' || isGzip(head) || (format === 'auto' && isElf(head));
}

export function loadImage(file: string, input: Uint8Array | ImageFile, opts: LoadOptions): LoadedImage {
  const { ram } = opts;
  if (!Number.isSafeInteger(ram.base) || !Number.isSafeInteger(ram.size) || ram.size <= 0) {
    throw new ImageError(file, `bad RAM range base=${ram.base} size=${ram.size}`);
  }
  const requested = opts.format ?? 'auto';
  const inFile = input instanceof Uint8Array ? null : input.file;
  let bytes = input instanceof Uint8Array ? input : input.head;
  if (inFile !== null && needsWholeImage(bytes, requested)) throw new Error(`loadImage: ${file} must be given as bytes (gzip'd or ELF)`);
  let gunzipped = false;
  // Debian and most distributions ship the arm64 kernel as a gzip'd Image (vmlinuz).
  if (requested !== 'raw' && isGzip(bytes)) {
    bytes = gunzip(file, bytes, ram.size);
    gunzipped = true;
  }
  if (requested !== 'raw' && isZboot(bytes)) {
    throw new ImageError(file, 'EFI zboot kernel (CONFIG_EFI_ZBOOT): extract the compressed Image payload first');
  }
  const size = inFile?.length ?? bytes.length;
  if (size === 0) throw new ImageError(file, 'empty image');
  /** The image's one segment at addr (raw, Linux): its bytes, or its file. */
  const whole = (addr: number, memSize: number): ImageSegment => (inFile !== null ? { addr, data: new Uint8Array(0), file: inFile, memSize } : { addr, data: bytes, memSize });

  const format = requested === 'auto' ? detect(bytes) : requested;
  if (format === 'elf' && !isElf(bytes)) throw new ImageError(file, 'not an ELF file (bad magic) but --format elf was asked');
  if (format === 'linux' && !isLinuxImage(bytes)) {
    throw new ImageError(file, 'not an arm64 Linux Image (no "ARM\\x64" magic at offset 0x38) but --format linux was asked');
  }

  let result: LoadedImage;
  if (format === 'linux') {
    if (opts.entry !== undefined) {
      throw new ImageError(file, 'an entry address does not apply to a Linux Image (booting.rst: it is entered at its first byte)');
    }
    const p = placeLinuxImage(file, bytes, ram, opts.loadAddr, size);
    result = {
      format,
      // The kernel zeroes its own bss, but image_size bytes must be "free for use by the
      // kernel" (booting.rst), so claim and clear them like any loader's bss.
      segments: [whole(p.start, p.end - p.start)],
      entry: p.start,
      kernelEnd: p.end,
      linux: p.header,
    };
  } else if (format === 'elf') {
    const elfOpts: { ram: RamRange; loadAddr?: number } = { ram };
    if (opts.loadAddr !== undefined) elfOpts.loadAddr = opts.loadAddr;
    const e = loadElf(file, bytes, elfOpts);
    result = {
      format,
      segments: e.segments,
      entry: opts.entry ?? e.entry,
      kernelEnd: Math.max(...e.segments.map((s) => s.addr + s.memSize)),
    };
  } else {
    const addr = opts.loadAddr ?? DEFAULT_LOAD_ADDR;
    if (!inRam(ram, addr, size)) {
      throw new ImageError(file, `raw image at ${hex(addr)} (size ${hex(size)}) is outside RAM ${ramText(ram)}`);
    }
    result = {
      format,
      segments: [whole(addr, size)],
      entry: opts.entry ?? addr,
      kernelEnd: addr + size,
    };
  }
  if (gunzipped) result.gunzipped = true;
  if (!inRam(ram, result.entry, 4)) {
    throw new ImageError(file, `entry point ${hex(result.entry)} is outside RAM ${ramText(ram)}`);
  }

  placeBootData(file, result, opts);
  return result;
}

/**
 * Initrd and DTB after the kernel, as QEMU hw/arm/boot.c does: initrd page aligned at
 * max(RAM base + min(RAM/2, 128 MiB), kernel end); the DTB in the next 2 MiB aligned slot
 * after that point and the initrd (8-byte aligned and within one 2 MB block, booting.rst).
 * For 256 MiB at 0x40000000 that is initrd 0x48000000 (as in the reference DTS) and the DTB
 * at 0x48000000 without an initrd, or the 2 MiB boundary after the initrd's end.
 */
function placeBootData(file: string, img: LoadedImage, opts: LoadOptions): void {
  const { ram } = opts;
  const ramEnd = ram.base + ram.size;
  // Computed even without an initrd: the DTB goes after this point either way, as in QEMU.
  const start = alignUp(Math.max(ram.base + Math.min(ram.size / 2, INITRD_MAX_OFFSET), img.kernelEnd), PAGE);
  let cursor = start;

  if (opts.initrd) {
    const initrd = opts.initrd;
    const end = start + initrd.length;
    if (end > ramEnd) {
      throw new ImageError(file, `no room for the initrd (${hex(initrd.length)} bytes) at ${hex(start)} in RAM ${ramText(ram)}`);
    }
    img.initrd = { start, end };
    img.segments.push(initrd instanceof Uint8Array ? { addr: start, data: initrd, memSize: initrd.length } : { addr: start, data: new Uint8Array(0), file: initrd, memSize: initrd.length });
    cursor = end;
  }

  if (img.format !== 'linux' && opts.dtb === undefined) return;
  let dtb: Uint8Array | undefined;
  if (opts.dtb !== undefined) {
    dtb = typeof opts.dtb === 'function' ? opts.dtb(img.initrd ? { initrd: img.initrd } : {}) : opts.dtb;
    if (dtb.length > DTB_MAX_SIZE) throw new ImageError(file, `device tree of ${hex(dtb.length)} bytes exceeds the 2 MiB booting.rst allows`);
    if (dtb.length < 4 || new DataView(dtb.buffer, dtb.byteOffset, dtb.byteLength).getUint32(0) !== FDT_MAGIC) {
      throw new ImageError(file, 'device tree blob has no FDT magic 0xd00dfeed');
    }
  }
  // Without the blob yet, reserve the whole slot so any DTB up to 2 MiB will fit.
  const need = dtb ? dtb.length : DTB_MAX_SIZE;
  // First choice, as QEMU: a 2 MiB aligned slot. In small RAMs, fall back to the next page
  // from which the blob does not cross a 2 MiB boundary (still 8-byte aligned and inside
  // one 2 MB block, which is all booting.rst asks for).
  let dtbAddr = alignUp(cursor, DTB_SLOT_ALIGN);
  if (dtbAddr + need > ramEnd) {
    const page = alignUp(cursor, PAGE);
    dtbAddr = Math.floor(page / DTB_SLOT_ALIGN) === Math.floor((page + need - 1) / DTB_SLOT_ALIGN) ? page : dtbAddr;
  }
  if (dtbAddr + need > ramEnd) {
    throw new ImageError(file, `no room for the device tree (${hex(need)} bytes) after the image in RAM ${ramText(ram)}`);
  }
  img.dtbAddr = dtbAddr;
  if (dtb) {
    img.dtb = dtb;
    img.segments.push({ addr: dtbAddr, data: dtb, memSize: dtb.length });
  }
}

/**
 * Registers at kernel entry, booting.rst section 4: x0 = DTB physical address, x1 = x2 =
 * x3 = 0, PC = the Image's first byte. (The rest of the contract, MMU and D-cache off,
 * DAIF masked, EL2 or EL1, belongs to the vCPU reset.)
 */
export function linuxBootRegisters(img: LoadedImage): { pc: number; x0: number; x1: 0; x2: 0; x3: 0 } {
  if (img.dtbAddr === undefined) throw new Error('linuxBootRegisters: image has no DTB address');
  return { pc: img.entry, x0: img.dtbAddr, x1: 0, x2: 0, x3: 0 };
}

/**
 * Copy the segments into a view of guest RAM (`ram[0]` is guest-physical `ramBase`), those
 * left in a file read straight into it, and zero-fill each [data end, memSize) tail.
 */
export function writeSegments(img: LoadedImage, ram: SegmentTarget): void {
  for (const s of img.segments) {
    if (!ram.contains(s.addr, s.memSize)) {
      throw new RangeError(`segment at ${hex(s.addr)} (size ${hex(s.memSize)}) outside the RAM view`);
    }
    if (s.file !== undefined) ram.loadFile(s.addr, s.file);
    else ram.load(s.addr, s.data);
    const n = segmentLength(s);
    if (s.memSize > n) ram.zero(s.addr + n, s.memSize - n);
  }
}

/** Where writeSegments copies to (GuestRam). */
export interface SegmentTarget {
  contains(pa: number, len: number): boolean;
  load(pa: number, data: Uint8Array): void;
  /** Read `f.length` bytes of file `f.fd` from `f.offset` into RAM at pa. */
  loadFile(pa: number, f: FileBytes): void;
  zero(pa: number, len: number): void;
}

export { IMAGE_BASE_ALIGN };
