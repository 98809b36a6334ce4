/**
 * `hypemu record` and `hypemu check` (machine/golden.ts does the work; README "Golden runs").
 * record: one line on stderr saying what was stored. check: the report on stdout, exit status 0
 * (the same), 1 (it differs), 64 (bad input, from main's ConfigError handling).
 */
import { checkGolden, goldenConfig, readGolden, recordGolden, type GoldenRunOptions, type RecordOptions } from '../machine/golden.js';
import type { MachineConfig } from '../machine/index.js';
import { writeFileSync } from 'node:fs';
import { setLogLevel } from '../emulator/log.js';
import { ProgressLine, progressWanted } from './progress.js';

interface CommonOptions {
  quiet: boolean;
  progress: boolean;
  logLevel: MachineConfig['logLevel'] | undefined;
}

/** The progress line (on a terminal, for long runs) of the machine a golden run builds. */
function withProgress(o: CommonOptions): { run: GoldenRunOptions; stop: () => void } {
  let line: ProgressLine | null = null;
  const wanted = progressWanted(o);
  return {
    run: { onMachine: (m) => void (wanted && (line = new ProgressLine(m).start())) },
    stop: () => line?.stop(),
  };
}

export async function recordCommand(dir: string, image: string | undefined, run: MachineConfig, o: CommonOptions & Pick<RecordOptions, 'checkpointEvery' | 'keepImage'>): Promise<number> {
  if (o.logLevel !== undefined) setLogLevel(o.logLevel);
  let config: MachineConfig = { ...run, ...(image !== undefined ? { image } : {}) };
  let rec: RecordOptions = { ...(o.checkpointEvery !== undefined ? { checkpointEvery: o.checkpointEvery } : {}), ...(o.keepImage === true ? { keepImage: true } : {}) };
  if (image === undefined && Object.keys(run).length === 0) {
    // No image and no run options: record DIR again from what it holds (its kept image and
    // checkpoint interval too, unless given).
    const meta = readGolden(dir);
    config = goldenConfig(dir, meta);
    rec = { checkpointEvery: meta.checkpoints?.every ?? 0, keepImage: meta.source !== undefined, ...rec };
  }
  const p = withProgress(o);
  try {
    const r = await recordGolden(dir, config, { ...p.run, ...rec });
    p.stop();
    if (!o.quiet) {
      process.stderr.write(`hypemu: recorded ${r.dir}: ${r.meta.instructions} instructions, ${r.meta.records} trace records, exit status ${r.meta.status} (${r.meta.end.kind})\n`);
    }
    return 0;
  } finally {
    p.stop();
  }
}

export async function checkCommand(dir: string, image: string | undefined, o: CommonOptions & { ignore: string[]; resultJson?: string; recordedImage?: string }): Promise<number> {
  if (o.logLevel !== undefined) setLogLevel(o.logLevel);
  const p = withProgress(o);
  try {
    const r = await checkGolden(dir, { ...p.run, ignore: o.ignore, ...(image !== undefined ? { image } : {}), ...(o.recordedImage !== undefined ? { recordedImage: o.recordedImage } : {}) });
    p.stop();
    if (o.resultJson !== undefined) writeFileSync(o.resultJson, JSON.stringify(r, null, 2) + '\n');
    if (!r.ok || !o.quiet) process.stdout.write(r.report);
    if (!r.ok && r.image.sha256 !== r.image.recordedSha256) {
      process.stdout.write(`(the image ${r.image.path} is not the one recorded: sha256 ${r.image.sha256.slice(0, 12)}, recorded ${r.image.recordedSha256.slice(0, 12)})\n`);
    }
    return r.ok ? 0 : 1;
  } finally {
    p.stop();
  }
}
