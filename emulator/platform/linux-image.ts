/**
 * arm64 Linux "Image" loader, per the kernel's Documentation/arch/arm64/booting.rst,
 * section 4 "Call the kernel image". The 64-byte header:
 *
 *   u32 code0; u32 code1;        executable code (a branch, or the PE "MZ" stub)
 *   u64 text_offset;             image load offset, little endian
 *   u64 image_size;              effective image size (incl. bss), little endian
 *   u64 flags;                   bit 0: endianness (1 = BE); bits 1-2: page size
 *                                (0 unspecified, 1 4K, 2 16K, 3 64K); bit 3: placement
 *   u64 res2, res3, res4;
 *   u32 magic = 0x644d5241;      "ARM\x64", little endian, at offset 0x38
 *   u32 res5;                    PE header offset
 *
 * "The Image must be placed text_offset bytes from a 2MB aligned base address anywhere in
 * usable system RAM and called there ... At least image_size bytes from the start of the
 * image must be free for use by the kernel." Where image_size is zero (kernels before
 * v3.17) text_offset is to be taken as 0x80000.
 */
import { ImageError, type RamRange, MiB, alignUp, hex, inRam, ramText } from './image-types.js';

export const ARM64_IMAGE_MAGIC = 0x644d_5241;
const MAGIC_OFFSET = 0x38;
const HEADER_SIZE = 64;
/** booting.rst: the 2 MB alignment of the Image base. */
export const IMAGE_BASE_ALIGN = 2 * MiB;
/** booting.rst: text_offset assumed when image_size is 0 (pre-3.17 kernels). */
const LEGACY_TEXT_OFFSET = 0x80000;

export type LinuxPageSize = 'unspecified' | '4K' | '16K' | '64K';

export interface LinuxImageHeader {
  textOffset: number;
  /** Effective size from the header; 0 for pre-3.17 kernels. */
  imageSize: number;
  flags: number;
  pageSize: LinuxPageSize;
  /** flags bit 3: 0 = base as close as possible to the start of DRAM; 1 = anywhere (48-bit). */
  placeAnywhere: boolean;
}

export function isLinuxImage(bytes: Uint8Array): boolean {
  if (bytes.length < HEADER_SIZE) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return dv.getUint32(MAGIC_OFFSET, true) === ARM64_IMAGE_MAGIC;
}

/** Parse and validate the header (throws ImageError). */
export function parseLinuxHeader(file: string, bytes: Uint8Array): LinuxImageHeader {
  if (bytes.length < HEADER_SIZE) throw new ImageError(file, `truncated arm64 Image header: ${bytes.length} bytes, need ${HEADER_SIZE}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(MAGIC_OFFSET, true) !== ARM64_IMAGE_MAGIC) throw new ImageError(file, 'no arm64 Image magic "ARM\\x64" at offset 0x38');
  const big = (o: number, what: string): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ImageError(file, `arm64 Image ${what} ${hex(v)} is implausibly large`);
    return Number(v);
  };
  let textOffset = big(8, 'text_offset');
  const imageSize = big(16, 'image_size');
  const flags = big(24, 'flags');
  if (imageSize === 0) textOffset = LEGACY_TEXT_OFFSET;
  if (flags & 1) throw new ImageError(file, 'big-endian arm64 Image (flags bit 0 set); hypemu runs little-endian kernels only');
  if (textOffset % 4096 !== 0 || textOffset >= IMAGE_BASE_ALIGN) {
    // Not forbidden in words, but every kernel has text_offset 0 or a page multiple below 2 MB;
    // anything else is more likely a corrupt header than a kernel.
    throw new ImageError(file, `arm64 Image text_offset ${hex(textOffset)} is not a page multiple below 2 MiB`);
  }
  const pageSizes: LinuxPageSize[] = ['unspecified', '4K', '16K', '64K'];
  return {
    textOffset,
    imageSize,
    flags,
    pageSize: pageSizes[(flags >> 1) & 3] as LinuxPageSize,
    placeAnywhere: (flags & 8) !== 0,
  };
}

export interface LinuxPlacement {
  header: LinuxImageHeader;
  /** Physical address of the Image's first byte (= entry point). */
  start: number;
  /** start + max(image_size, file length): first byte the kernel does not claim. */
  end: number;
}

/**
 * Choose where the Image goes. `loadAddr`, when given, is where the first byte goes and
 * must be a 2 MB aligned base plus text_offset. Otherwise the base is the lowest 2 MB aligned
 * address in RAM, which satisfies both placement policies of flags bit 3 (bit 3 = 0 asks for
 * "as close as possible to the base of DRAM"). `bytes` may be the file's first bytes only
 * (the header); `fileSize` is then the whole file's.
 */
export function placeLinuxImage(file: string, bytes: Uint8Array, ram: RamRange, loadAddr?: number, fileSize = bytes.length): LinuxPlacement {
  const header = parseLinuxHeader(file, bytes);
  let start: number;
  if (loadAddr !== undefined) {
    if ((loadAddr - header.textOffset) % IMAGE_BASE_ALIGN !== 0) {
      throw new ImageError(file, `load address ${hex(loadAddr)} is not a 2 MiB aligned base + text_offset ${hex(header.textOffset)} (booting.rst)`);
    }
    start = loadAddr;
  } else {
    start = alignUp(ram.base, IMAGE_BASE_ALIGN) + header.textOffset;
  }
  const size = Math.max(header.imageSize, fileSize);
  if (!inRam(ram, start, size)) {
    throw new ImageError(file, `arm64 Image at ${hex(start)} (size ${hex(size)}) is outside RAM ${ramText(ram)}`);
  }
  return { header, start, end: start + size };
}
