/** The Debian arm64 kernel and initramfs the Linux tests boot, through the same cached script as the bench. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

export interface Linux {
  KERNEL: string;
  INITRD: string;
  CMDLINE: string;
}

/** Fetches (or finds cached) the kernel; `{ skip }` only when Debian's arm64 packages cannot be reached. */
export function fetchLinux(): Linux | { skip: string } {
  const r = spawnSync('bash', [join(ROOT, 'scripts/fetch-linux.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.status === 3) return { skip: `Debian's arm64 packages cannot be reached: ${r.stderr.trim().split('\n').pop()}` };
  if (r.status !== 0) throw new Error(`scripts/fetch-linux.sh failed (${r.status}):\n${r.stderr}`);
  // The script prints shell-quoted KEY=VALUE lines; let bash unquote them.
  const env = spawnSync('bash', ['-c', `${r.stdout}\nprintf '%s\\0' "$KERNEL" "$INITRD" "$CMDLINE"`], { encoding: 'utf8' });
  const [KERNEL, INITRD, CMDLINE] = env.stdout.split('\0');
  return { KERNEL: KERNEL!, INITRD: INITRD!, CMDLINE: CMDLINE! };
}
