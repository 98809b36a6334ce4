/**
 * What the Machine does with each console chunk the sink hands on (machine.ts): the raw bytes to
 * `io.console`, and text only for whoever reads it (an `until: { console }` pattern, `console`
 * listeners). At console speed (issue 10, 10 MB/s) decoding and keeping a 64 KiB tail per line
 * dominated, so a run nobody reads as text decodes nothing.
 */
import type { MachineEvents } from './machine-events.js';

/** Console text kept for `until: { console }` matching. */
const CONSOLE_TAIL = 64 * 1024;

export class ConsoleWatch {
  private readonly decoder = new TextDecoder();
  private tail = '';
  /** run({ until: { console } }): the pattern, and whether the output matched it. */
  private pattern: RegExp | null = null;
  matched = false;
  /** Bytes at the start of the console sink that a run before the snapshot point printed (see out). */
  printed = 0;

  constructor(
    private readonly raw: ((chunk: Uint8Array) => void) | undefined,
    private readonly events: MachineEvents,
    /** Called when the pattern matched (the Machine pauses every vCPU). */
    private readonly onMatch: () => void,
  ) {}

  /** Watch for a pattern (null: none) from now on. */
  watch(pattern: RegExp | null): void {
    this.tail = '';
    this.matched = false;
    this.pattern = pattern;
  }

  get watching(): boolean {
    return this.pattern !== null;
  }

  /** One chunk from the console sink, and the vCPU whose UART writes it is. */
  readonly out = (chunk: Uint8Array, writer = 0): void => {
    // A restored run's first chunk may start with the line in progress at the snapshot point:
    // printed by the run before it, so not printed again, but its console event (and trace
    // record) is the whole chunk, as in the uninterrupted run.
    const fresh = this.printed > 0 ? chunk.subarray(Math.min(this.printed, chunk.length)) : chunk;
    this.printed = 0;
    this.raw?.(fresh);
    if (this.pattern === null && !this.events.hasConsoleListeners) return;
    const text = this.decoder.decode(chunk, { stream: true });
    if (this.pattern !== null) {
      this.tail = this.tail.length + text.length > 2 * CONSOLE_TAIL ? (this.tail + text).slice(-CONSOLE_TAIL) : this.tail + text;
      if (this.pattern.test(this.tail)) {
        this.matched = true;
        this.onMatch();
      }
    }
    this.events.console(text, writer);
  };
}
