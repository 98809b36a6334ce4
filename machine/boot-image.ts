/**
 * The image a Machine boots (machine.ts): the kernel or ELF and the initrd read from disk, laid
 * out in guest RAM with the device tree the virt board describes itself with. Bad input (a
 * missing file, a malformed image) is a one-line ConfigError.
 */
import { readFile } from 'node:fs/promises';
import { loadImage, ImageError, type LoadedImage } from '../emulator/platform/loader.js';
import { buildVirtDtb, dtRandomness } from '../emulator/platform/virt-dt.js';
import { SeededRandom } from '../emulator/devices/rng.js';
import { hexPa, hexVa } from '../emulator/types.js';
import { logger } from '../emulator/log.js';
import type { ResolvedConfig } from './config.js';
import { ConfigError } from './errors.js';

export async function loadBootImage(c: ResolvedConfig): Promise<LoadedImage> {
  const bytes = await readInput(c.imagePath, 'image');
  const initrd = c.initrdPath !== undefined ? await readInput(c.initrdPath, 'initrd') : undefined;
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
    { format: image.format, entry: hexVa(image.entry), segments: image.segments.map((g) => `${hexPa(g.addr)}+0x${g.data.length.toString(16)}`), dtb: image.dtbAddr !== undefined ? hexPa(image.dtbAddr) : null },
    `image ${c.imageName} laid out`,
  );
  return image;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(`${what} ${path}: ${why}`);
  }
}
