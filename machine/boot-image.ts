/**
 * The image a Machine boots (machine.ts): the kernel or ELF and the initrd read from disk, laid
 * out in guest RAM with the device tree the virt board describes itself with. Bad input (a
 * missing file, a malformed image) is a one-line ConfigError.
 *
 * A raw binary, a Linux Image or an initrd of 1 MiB or more is not read here: its segment names
 * the open file and the board reads it straight into guest RAM (GuestRam.loadFile), once. Before,
 * a 27 MB kernel was read into a buffer, copied into RAM, and the buffer stayed referenced by the
 * machine's image for the whole run. whileImageOpen closes the files once the board is built.
 * Read, not mapped copy-on-write: after that point the file may change or vanish and the guest
 * still sees the bytes it was started with (GuestRam.loadFile says why, and what it measured).
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { loadImage, needsWholeImage, ImageError, type FileBytes, type ImageFile, type LoadedImage } from '../emulator/platform/loader.js';
import { buildVirtDtb, dtRandomness } from '../emulator/platform/virt-dt.js';
import { SeededRandom } from '../emulator/devices/rng.js';
import { hexPa, hexVa } from '../emulator/types.js';
import { segmentLength } from '../emulator/platform/image-types.js';
import { logger } from '../emulator/log.js';
import type { ResolvedConfig } from './config.js';
import { ConfigError } from './errors.js';

/** Below this an input is read into memory, as before: a file of its own costs more than it saves. */
const READ_IN_BELOW = 1 << 20;
/** The first bytes of an image left in its file: its header (64 bytes for Linux) and more. */
const HEAD_BYTES = 4096;

export async function loadBootImage(c: ResolvedConfig): Promise<LoadedImage> {
  const opened: FileBytes[] = [];
  try {
    const image = layOut(c, opened);
    for (const s of image.segments) if (s.file !== undefined) opened.splice(opened.indexOf(s.file), 1);
    return image;
  } finally {
    // Files that no segment took (an error, or a small or gzip'd file read in): closed now.
    for (const f of opened) closeSync(f.fd);
  }
}

/** Build the machine (which reads the image's files into RAM), then close those files. */
export function whileImageOpen<T>(image: LoadedImage, build: () => T): T {
  try {
    return build();
  } finally {
    for (const s of image.segments) {
      if (s.file === undefined || s.file.fd < 0) continue;
      closeSync(s.file.fd);
      s.file.fd = -1;
    }
  }
}

function layOut(c: ResolvedConfig, opened: FileBytes[]): LoadedImage {
  const input = openInput(c.imagePath, 'image', opened);
  const bytes: Uint8Array | ImageFile = input.file === null || needsWholeImage(input.head, c.format) ? readAll(input, c.imagePath, 'image') : { head: input.head, file: input.file };
  const initrdIn = c.initrdPath !== undefined ? openInput(c.initrdPath, 'initrd', opened) : undefined;
  const initrd = initrdIn === undefined ? undefined : (initrdIn.file ?? initrdIn.head);
  let image: LoadedImage;
  // /chosen kaslr-seed and rng-seed: a stream of --seed of their own (RNDR draws from another).
  const dtSeeds = new SeededRandom(c.seed, 'dt');
  try {
    image = loadImage(c.imagePath, bytes, {
      ram: c.ram,
      format: c.format,
      ...(c.load !== undefined ? { loadAddr: c.load } : {}),
      ...(c.entry !== undefined ? { entry: c.entry } : {}),
      ...(initrd ? { initrd } : {}),
      dtb: (layout) =>
        buildVirtDtb({
          ramBase: c.ram.base,
          ramSize: c.ram.size,
          cpus: c.smp,
          gic: c.gic,
          ...(c.append !== undefined ? { bootargs: c.append } : {}),
          ...(layout.initrd ? { initrd: layout.initrd } : {}),
          randomness: dtRandomness(() => dtSeeds.next64(), (n) => dtSeeds.bytes(n)),
        }),
    });
  } catch (e) {
    if (e instanceof ImageError) throw new ConfigError(e.message);
    throw e;
  }
  logger.debug(
    { format: image.format, entry: hexVa(image.entry), segments: image.segments.map((g) => `${hexPa(g.addr)}+0x${segmentLength(g).toString(16)}${g.file ? ' (read from its file)' : ''}`), dtb: image.dtbAddr !== undefined ? hexPa(image.dtbAddr) : null },
    `image ${c.imageName} laid out`,
  );
  return image;
}

/** An input file: all of it when small (file null), else its first bytes and the open file. */
interface Input {
  head: Uint8Array;
  file: FileBytes | null;
}

function openInput(path: string, what: string, opened: FileBytes[]): Input {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const size = st.size;
    const file: FileBytes = { fd, offset: 0, length: size };
    opened.push(file);
    // A pipe or a device (`run <(zcat Image.gz)`, /dev/stdin) has no size: read it to its end.
    if (!st.isFile()) return { head: new Uint8Array(readFileSync(fd)), file: null };
    const head = readFully(fd, size < READ_IN_BELOW ? size : HEAD_BYTES);
    return { head, file: size < READ_IN_BELOW ? null : file };
  } catch (e) {
    if (fd >= 0 && !opened.some((f) => f.fd === fd)) closeSync(fd);
    throw inputError(e, path, what);
  }
}

/** The whole of a large input after all (gzip'd or ELF): read into memory, as small ones are. */
function readAll(input: Input, path: string, what: string): Uint8Array {
  if (input.file === null) return input.head;
  try {
    return readFully(input.file.fd, input.file.length);
  } catch (e) {
    throw inputError(e, path, what);
  }
}

function readFully(fd: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let got = 0; got < n; ) {
    const r = readSync(fd, out, got, n - got, got);
    if (r === 0) return out.subarray(0, got);
    got += r;
  }
  return out;
}

function inputError(e: unknown, path: string, what: string): ConfigError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
  return new ConfigError(`${what} ${path}: ${why}`);
}
