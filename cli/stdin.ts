/**
 * The guest UART's receive side fed from stdin: a terminal (raw mode) or a pipe or file. Bytes
 * reach the guest when the run loop next yields to the event loop, so the virtual time at which
 * input arrives depends on the host: a run with input that comes while the guest runs is not
 * deterministic (input queued before the guest reads it, as from a file, is seen at the guest's
 * next read).
 */
export class ConsoleInput {
  private readonly tty = process.stdin.isTTY === true;
  private readonly onData = (d: Buffer): void => this.push(new Uint8Array(d));
  private readonly onEnd = (): void => this.ended();

  constructor(
    private readonly push: (bytes: Uint8Array) => void,
    private readonly ended: () => void,
  ) {
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
