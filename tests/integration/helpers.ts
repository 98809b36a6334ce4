/** Run the built CLI as a user would, capturing stdout, stderr and the exit status. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const CLI = join(ROOT, 'dist/cli/main.js');
export const guest = (name: string) => join(ROOT, 'guest-images/build', `${name}.elf`);

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  stats?: Record<string, any>;
}

export function hypemu(args: string[], opts: { stats?: boolean; input?: string } = {}): CliResult {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm run setup does it)`);
  const statsFile = opts.stats ? join(mkdtempSync(join(tmpdir(), 'hypemu-')), 'stats.json') : null;
  const r = spawnSync('node', [CLI, ...args, ...(statsFile ? ['--stats-json', statsFile] : [])], {
    encoding: 'utf8',
    timeout: 120_000,
    input: opts.input ?? '',
  });
  return {
    status: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    ...(statsFile && existsSync(statsFile) ? { stats: JSON.parse(readFileSync(statsFile, 'utf8')) } : {}),
  };
}
