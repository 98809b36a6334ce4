/**
 * Where hypemu's own files are (vendor/, guest-images/), whether it runs from the repository
 * (sources or dist/) or as an installed package (node_modules/hypemu, dist/ only).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding hypemu's package.json; the current directory if none is found. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && (existsSync(join(dir, 'emulator')) || existsSync(join(dir, 'dist')))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}
