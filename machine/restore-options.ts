/**
 * What `hypemu run --restore FILE` (Machine.restore, machine.ts) accepts: the snapshot file's
 * header and JSON, and the options a restored run may add. They limit or record the run; anything
 * that would change the machine, or a corrupt or foreign file, is a one-line ConfigError.
 */
import { setLogLevel } from '../emulator/log.js';
import { SnapshotFormatError } from '../emulator/snapshot/state.js';
import { resolveConfig, type MachineConfig, type ResolvedConfig } from './config.js';
import { ConfigError } from './errors.js';
import { checkWritable } from './output-files.js';
import { parseSnapshot, type ParsedSnapshot } from './snapshot.js';

/** Options a restored run may take: they limit or record the run, they do not change the machine. */
const RESTORE_OPTIONS = new Set<string>(['maxInsns', 'statsJson', 'quiet', 'walk', 'logLevel', 'snapshotAt', 'snapshot', 'trace', 'traceFilter', 'traceFormat']);

export function checkRestoreOptions(config: MachineConfig): void {
  for (const [k, v] of Object.entries(config)) {
    if (v !== undefined && !RESTORE_OPTIONS.has(k)) {
      throw new ConfigError(`--restore: ${k === 'image' ? 'an image' : `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`} would change the machine; a restored run takes it from the snapshot`);
    }
  }
}

/** Header and JSON only: the pages are mapped from the file by restoreSnapshot. */
export function parseSnapshotFile(file: string): ParsedSnapshot {
  try {
    return parseSnapshot(file);
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw new ConfigError(`snapshot ${file}: ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new ConfigError(`snapshot ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
    throw e;
  }
}

/** The configuration the snapshot recorded, with the run's own limits and outputs (checked). */
export function restoredConfig(config: MachineConfig, parsed: ParsedSnapshot): ResolvedConfig {
  const c: ResolvedConfig = { ...resolveConfig({ ...config, image: parsed.shape.imagePath }), ...parsed.shape };
  if (c.logLevel !== undefined) setLogLevel(c.logLevel);
  if (c.snapshotAt !== undefined && c.snapshotAt <= parsed.instructions) {
    throw new ConfigError(`--snapshot-at ${c.snapshotAt}: the snapshot is already at instruction ${parsed.instructions}`);
  }
  if (c.statsJson !== undefined) checkWritable(c.statsJson, '--stats-json');
  if (c.snapshotFile !== undefined) checkWritable(c.snapshotFile, '--snapshot');
  if (c.trace !== undefined) checkWritable(c.trace, '--trace');
  return c;
}
