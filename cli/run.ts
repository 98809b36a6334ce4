/**
 * `hypemu run`: a Machine (machine/) built from the command-line options, its console on
 * stdout, progress on stderr, stdin to the guest's UART, run to the end; the process exit status
 * is the machine's (machine/exit-status.ts). SIGINT/SIGTERM end the run at the next turn of its
 * run loop, with the statistics written (exit status 130/143); a second signal leaves at once.
 */
import { writeFileSync } from 'node:fs';
import { ConfigError, Machine, type MachineConfig } from '../machine/index.js';
import { EXIT_CODES } from '../machine/exit-status.js';
import { ConsoleInput } from './stdin.js';
import { ProgressLine, progressWanted } from './progress.js';
import { releaseSignals } from './early-signals.js';

/** Console bytes queued for stdout (a slow pipe) before the run loop waits for the reader. */
const MAX_BACKLOG = 8 << 20;

/** Command-line options that are not machine options. */
export interface CliOnly {
  /** --no-progress is progress: false. */
  progress?: boolean;
  /** --dump-dtb FILE: write the guest's device tree and exit without running. */
  dumpDtb?: string;
}

/**
 * `run --dump-dtb FILE`: build the machine as `run` would and write the device tree blob it
 * placed in guest RAM (what x0 points to for a Linux Image or a raw binary), then exit 0
 * without running, as QEMU's `-machine dumpdtb=FILE` does.
 */
export async function dumpDtbCommand(config: MachineConfig, file: string): Promise<number> {
  const m = await Machine.create({ ...config, quiet: true }, {});
  try {
    const dtb = m.image?.dtb;
    if (dtb === undefined) throw new ConfigError('--dump-dtb: this image gets no device tree');
    try {
      writeFileSync(file, dtb);
    } catch (e) {
      throw new ConfigError(`--dump-dtb: cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return 0;
  } finally {
    await m.dispose();
  }
}

/**
 * stdout closed by the reader (`hypemu run ... | head`): stop writing the console, keep running,
 * no stack trace. Installed by runCommand, never on import.
 */
function consoleToStdout(): {
  write: (chunk: Uint8Array) => void;
  atLineStart: () => boolean;
  backlog: () => Promise<void> | null;
  before: { hook: () => void };
} {
  let closed = false;
  let lastByte = 0x0a;
  const before = { hook: (): void => {} };
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') closed = true;
    else throw e;
  });
  return {
    write: (chunk) => {
      if (closed || chunk.length === 0) return;
      before.hook();
      process.stdout.write(chunk);
      lastByte = chunk[chunk.length - 1]!;
    },
    // A progress line on the terminal the console also goes to waits for the end of a line.
    atLineStart: () => !process.stdout.isTTY || lastByte === 0x0a,
    // Writes to a pipe are asynchronous in Node (queued in memory until the reader takes them):
    // past MAX_BACKLOG the run loop waits for the reader instead of queueing more.
    backlog: () => {
      if (closed || process.stdout.writableLength <= MAX_BACKLOG) return null;
      return new Promise<void>((resolve) => {
        const done = (): void => {
          for (const e of ['drain', 'close', 'error']) process.stdout.off(e, done);
          resolve();
        };
        for (const e of ['drain', 'close', 'error']) process.stdout.on(e, done);
      });
    },
    before,
  };
}

export async function runCommand(config: MachineConfig, opts: { restore?: string; progress?: boolean } = {}): Promise<number> {
  const restoreFrom = opts.restore;
  const out = consoleToStdout();
  let progress: ProgressLine | null = null;
  const stderr = (line: string): void => {
    progress?.clear();
    process.stderr.write(`hypemu: ${line}\n`);
  };
  const io = {
    console: out.write,
    ...(config.quiet ? {} : { log: stderr }),
    notice: stderr,
    consoleInput: 'open' as const,
    consoleInteractive: process.stdout.isTTY === true,
    consoleBacklog: out.backlog,
  };
  // The handlers come first: a signal while the machine is still being built (a large image, a
  // loaded host) ends the run before its first instruction, with the message and the stats, not
  // with the default action.
  let m: Machine | null = null;
  let early: 'SIGINT' | 'SIGTERM' | null = null;
  let signalled = false;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (signalled) process.exit(signal === 'SIGINT' ? EXIT_CODES.sigint : EXIT_CODES.sigterm); // a second one: leave now
    signalled = true;
    if (m !== null) m.requestStop({ kind: 'signal', signal });
    else early = signal;
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  // One that arrived while Node was still loading the CLI (cli/early-signals.ts) counts as early.
  const held = releaseSignals();
  if (held !== null) onSignal(held);
  try {
    m = restoreFrom !== undefined ? await Machine.restore(restoreFrom, config, io) : await Machine.create(config, io);
  } catch (e) {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    throw e;
  }
  if (early !== null) m.requestStop({ kind: 'signal', signal: early });
  if (config.gdb === undefined && config.gdbWait === undefined && progressWanted({ quiet: config.quiet === true, progress: opts.progress })) {
    const line = new ProgressLine(m, out.atLineStart).start();
    progress = line;
    if (process.stdout.isTTY) out.before.hook = () => line.clear();
  }
  return runMachine(m, () => {
    progress?.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  });
}

async function runMachine(m: Machine, removeHandlers: () => void): Promise<number> {
  const input = new ConsoleInput({
    push: (bytes) => m.sendConsole(bytes),
    ended: () => m.endConsoleInput(),
    quit: () => m.requestStop({ kind: 'quit' }),
    help: (text) => process.stderr.write(`\r\n${text}\r\n`),
  });
  try {
    const r = await m.run();
    return r.status ?? 0;
  } finally {
    input.close();
    removeHandlers();
    await m.dispose();
  }
}
