/**
 * Output files (--stats-json, --trace, --snapshot) are checked before the guest starts, so a run is
 * not lost to a typo in a path at its end; a write that still fails is a one-line ConfigError.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors.js';

export function checkWritable(path: string, option: string): void {
  const p = resolve(path);
  let st;
  try {
    st = statSync(p);
  } catch {
    st = null;
  }
  try {
    if (st !== null) {
      if (st.isDirectory()) throw new ConfigError(`${option} ${path}: is a directory`);
      accessSync(p, constants.W_OK);
    } else {
      const dir = dirname(p);
      let d;
      try {
        d = statSync(dir);
      } catch {
        throw new ConfigError(`${option} ${path}: directory ${dir} does not exist`);
      }
      if (!d.isDirectory()) throw new ConfigError(`${option} ${path}: ${dir} is not a directory`);
      accessSync(dir, constants.W_OK);
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${option} ${path}: not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Write an output file; an error names the option and the path. */
export async function writeOutput(path: string, option: string, data: Uint8Array | string): Promise<void> {
  try {
    await writeFile(path, data);
  } catch (e) {
    throw new ConfigError(`${option} ${path}: ${(e as Error).message}`);
  }
}

/**
 * A new file, renamed over the old one: a reader of the old file (a run restored from a snapshot
 * maps its pages) must not see it change under it.
 */
export async function replaceOutput(path: string, option: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new ConfigError(`${option} ${path}: ${(e as Error).message}`);
  }
}
