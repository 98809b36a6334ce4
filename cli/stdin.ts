/**
 * The guest UART's receive side fed from stdin: a terminal (raw mode) or a pipe or file. Bytes
 * reach the guest when the run loop next yields to the event loop, so the virtual time at which
 * input arrives depends on the host: a run with input that comes while the guest runs is not
 * deterministic (input queued before the guest reads it, as from a file, is seen at the guest's
 * next read).
 *
 * On a terminal, keys go to the guest raw (Ctrl-C included, as under QEMU's -nographic), and
 * Ctrl-A is QEMU's escape key: Ctrl-A x quits, Ctrl-A h lists the escapes, Ctrl-A Ctrl-A sends
 * one Ctrl-A to the guest. Piped input is passed through untouched.
 */
const CTRL_A = 0x01;

export const ESCAPE_HELP = [
  'C-a h    print this help',
  'C-a x    exit hypemu (the run ends: stats are written, exit status 0)',
  'C-a C-a  send C-a to the guest',
  '(C-c goes to the guest; from another terminal, SIGINT/SIGTERM end the run)',
].join('\r\n');

export interface ConsoleInputHandlers {
  /** Bytes for the guest. */
  push(bytes: Uint8Array): void;
  /** stdin reached its end (or failed): no more input will come. */
  ended(): void;
  /** Ctrl-A x */
  quit(): void;
  /** Ctrl-A h: text for the user (the terminal is in raw mode: lines end in \r\n). */
  help(text: string): void;
}

/** QEMU's mux escapes on a terminal's byte stream: what is not an escape goes on to the guest, in order. */
export class EscapeFilter {
  private escape = false;
  constructor(private readonly h: Omit<ConsoleInputHandlers, 'ended'>) {}

  data(bytes: Uint8Array): void {
    let from = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.escape) {
        this.escape = false;
        from = i + 1;
        if (b === CTRL_A) this.h.push(Uint8Array.of(CTRL_A));
        else if (b === 0x78 /* x */ || b === 0x58) this.h.quit();
        else if (b === 0x68 /* h */ || b === 0x48 || b === 0x3f) this.h.help(ESCAPE_HELP);
        // Any other key after C-a is dropped, as QEMU's mux does.
      } else if (b === CTRL_A) {
        if (i > from) this.h.push(bytes.slice(from, i));
        this.escape = true;
        from = i + 1;
      }
    }
    if (from < bytes.length) this.h.push(bytes.slice(from));
  }
}

export class ConsoleInput {
  private readonly tty = process.stdin.isTTY === true;
  private readonly filter: EscapeFilter | null;
  private readonly onData = (d: Buffer): void => {
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (this.filter !== null) this.filter.data(bytes);
    else this.h.push(bytes.slice());
  };
  private readonly onEnd = (): void => this.h.ended();

  constructor(private readonly h: ConsoleInputHandlers) {
    // Piped input passes through untouched; only a terminal has escapes.
    this.filter = this.tty ? new EscapeFilter(h) : null;
    if (this.tty) process.stdin.setRawMode(true);
    process.stdin.on('data', this.onData);
    process.stdin.on('end', this.onEnd);
    process.stdin.on('error', this.onEnd);
  }

  close(): void {
    process.stdin.off('data', this.onData);
    process.stdin.off('end', this.onEnd);
    process.stdin.off('error', this.onEnd);
    if (this.tty) process.stdin.setRawMode(false);
    process.stdin.pause();
  }
}
