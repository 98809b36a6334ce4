/**
 * The Machine's public types (machine.ts): where its output goes (MachineIo), when run() returns
 * (Until), what it returns (RunResult) and the register view (Registers). `import { ... } from
 * 'hypemu'` re-exports them (machine/index.ts).
 */
import type { RunEnd } from './exit-status.js';

/** Where a Machine's output goes. The library default is nowhere (use the events); the CLI connects stdout and stderr. */
export interface MachineIo {
  /** Raw guest console bytes, in order (the CLI: stdout). */
  console?: (chunk: Uint8Array) => void;
  /** Human progress lines without a trailing newline (the CLI: stderr unless --quiet). */
  log?: (line: string) => void;
  /** Diagnostics that must reach the user even under --quiet (the GDB port being waited on). */
  notice?: (line: string) => void;
  /**
   * 'open': console input may still come (sendConsole) until endConsoleInput(), so a guest idle in
   * WFI with nothing else to wake it waits for it (the CLI with stdin). 'closed' (the default):
   * all input is whatever sendConsole() gave before, and such a guest can never wake: the run ends
   * as a fault.
   */
  consoleInput?: 'open' | 'closed';
  /**
   * The console is read as it comes, line by line (the CLI: stdout is a terminal): each line
   * is handed on when complete. Otherwise (a pipe, a file, the library without console
   * listeners or `until: { console }`) output goes in large chunks, at least at every turn of
   * the run loop: the same bytes in the same order, much faster (issue 10: 10 MB/s).
   */
  consoleInteractive?: boolean;
  /**
   * Asked at every turn of the run loop: a promise while the console's consumer is behind (the
   * CLI: more than a few MiB queued for a pipe nobody reads fast enough), which the loop awaits
   * before running the guest on, so a flood into a slow reader does not grow without bound.
   * The guest sees nothing of it (it runs between turns).
   */
  consoleBacklog?: () => Promise<void> | null;
}

/** When run() returns before the guest ends. */
export type Until = 'exit' | { readonly console: RegExp } | { readonly instructions: number } | { readonly pc: bigint | number };

export interface RunResult {
  /** The process exit status this end maps to (README table), or null when run() paused on an `until` condition. */
  readonly status: number | null;
  /** How the run ended (a RunEnd kind), or which `until` condition paused it ('console' | 'instructions' | 'pc'). */
  readonly reason: RunEnd['kind'] | 'console' | 'instructions' | 'pc';
  /** Retired instructions so far. */
  readonly instructions: number;
  /** The full end record when the run ended (e.g. { kind: 'fault', message }), else null. */
  readonly end: RunEnd | null;
}

export interface Registers {
  /** x0..x30 */
  readonly x: readonly bigint[];
  readonly sp: bigint;
  readonly pc: bigint;
  readonly pstate: number;
  /** Current exception level (0 or 1). */
  readonly el: number;
}
