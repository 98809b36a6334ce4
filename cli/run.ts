/**
 * `hypemu run`: a Machine (machine/) built from the command-line options, its console on
 * stdout, progress on stderr, stdin to the guest's UART, run to the end; the process exit status
 * is the machine's (machine/exit-status.ts).
 */
import { Machine, type MachineConfig } from '../machine/index.js';
import { ConsoleInput } from './stdin.js';

/**
 * stdout closed by the reader (`hypemu run ... | head`): stop writing the console, keep running,
 * no stack trace. Installed by runCommand, never on import.
 */
function consoleToStdout(): (chunk: Uint8Array) => void {
  let closed = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') closed = true;
    else throw e;
  });
  return (chunk) => {
    if (!closed) process.stdout.write(chunk);
  };
}

export async function runCommand(config: MachineConfig): Promise<number> {
  const stderr = (line: string): void => void process.stderr.write(`hypemu: ${line}\n`);
  const m = await Machine.create(config, {
    console: consoleToStdout(),
    ...(config.quiet ? {} : { log: stderr }),
    notice: stderr,
    consoleInput: 'open',
  });
  const input = new ConsoleInput((bytes) => m.sendConsole(bytes), () => m.endConsoleInput());
  try {
    const r = await m.run();
    return r.status ?? 0;
  } finally {
    input.close();
    await m.dispose();
  }
}
