/**
 * Output files (--stats-json, and later --trace) are checked before the guest starts, so a run is
 * not lost to a typo in a path at its end.
 */
import { accessSync, constants, statSync } from 'node:fs';
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
