/**
 * Team-shared reference files (QEMU's virt device trees, kvm-unit-tests results) live in a
 * `shared/` directory beside the repository, never inside it: CI runs a fresh clone with a copy
 * of shared/ next to it (`<clone>/../shared`). A git worktree's `shared/` is the one beside its
 * main checkout. $HYPEMU_SHARED overrides both. Never an absolute path baked into a test.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..');

/** The main checkout of the repository REPO_ROOT belongs to (itself unless it is a git worktree). */
function mainCheckout(repo: string): string {
  const dotGit = join(repo, '.git');
  if (!existsSync(dotGit) || statSync(dotGit).isDirectory()) return repo;
  // A worktree's .git is a file "gitdir: <main>/.git/worktrees/<name>", whose `commondir`
  // names the main .git directory relative to it.
  const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'));
  if (!m) return repo;
  const gitdir = resolve(repo, m[1]!.trim());
  const common = join(gitdir, 'commondir');
  if (!existsSync(common)) return repo;
  return dirname(resolve(gitdir, readFileSync(common, 'utf8').trim()));
}

/** The shared/ directory, or null when none is beside the repository. */
export function sharedDir(): string | null {
  const candidates = [
    process.env.HYPEMU_SHARED,
    join(REPO_ROOT, '..', 'shared'),
    join(mainCheckout(REPO_ROOT), '..', 'shared'),
  ];
  for (const c of candidates) if (c && existsSync(join(c, 'reference'))) return resolve(c);
  return null;
}

/** A file under shared/ (e.g. 'reference/virt-gicv3-smp2.dts'), or null when shared/ is absent. */
export function sharedFile(rel: string): string | null {
  const d = sharedDir();
  return d && existsSync(join(d, rel)) ? join(d, rel) : null;
}
