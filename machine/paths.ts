/** Where the package's own files are, whether run from the repository (dist/) or an installed package. */
import { join } from 'node:path';
import { packageRoot } from '../emulator/package-root.js';

export const DEFAULT_GUEST = 'guest-images/build/demo.elf';

export function defaultGuestPath(): string {
  return join(packageRoot(), DEFAULT_GUEST);
}
