/** Where the package's own files are, whether run from the repository (dist/) or an installed package. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_GUEST = 'guest-images/build/demo.elf';

/** The directory holding hypemu's package.json (the repository, or node_modules/hypemu). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'guest-images'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export function defaultGuestPath(): string {
  return join(packageRoot(), DEFAULT_GUEST);
}
