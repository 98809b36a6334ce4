/**
 * SIGINT/SIGTERM that arrive before a run has installed its own handlers: while Node still loads
 * and links the CLI's modules (0.1 s on a quiet host, over a second on a loaded one), the default
 * action would kill the process with no message and no stats. cli/main.ts holds them from its
 * first line; `run` takes a held signal as its own (it ends before the first instruction, with the
 * message and the stats JSON), every other command gives the default action back and re-raises it.
 * Deliberately imports nothing: it must be loaded and evaluated before anything heavy.
 */
export type HeldSignal = 'SIGINT' | 'SIGTERM';

let held: HeldSignal | null = null;
let holding = false;
const hold = (signal: HeldSignal): void => {
  held ??= signal;
};

export function holdSignals(): void {
  if (holding) return;
  holding = true;
  process.on('SIGINT', hold);
  process.on('SIGTERM', hold);
}

/** Stop holding; returns the first signal that arrived meanwhile, if any. */
export function releaseSignals(): HeldSignal | null {
  if (holding) {
    process.off('SIGINT', hold);
    process.off('SIGTERM', hold);
    holding = false;
  }
  const s = held;
  held = null;
  return s;
}
