/**
 * The progress line of a long run on a terminal: one line on stderr, redrawn in place
 * (`\r`, erase line), with instructions per second, exits per second and virtual time. Shown only
 * when stderr is a terminal and not in CI (`$CI`), never with --quiet or --no-progress, and only
 * once a run has lasted a second, so short runs and piped or logged output stay as they were.
 * Rates are host-time measurements (what the user is waiting on); nothing here feeds the machine.
 */
import type { Machine } from '../machine/index.js';

const FIRST_AFTER_MS = 1000;
const EVERY_MS = 500;

/** Whether a progress line may be drawn on this process's stderr at all. */
export function progressWanted(o: { quiet?: boolean; progress?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return o.quiet !== true && o.progress !== false && process.stderr.isTTY === true && !env.CI && env.TERM !== 'dumb';
}

const si = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));

/** The text of one progress line (exported for the unit test). */
export function progressText(c: { instructions: number; exits: number; virtualTimeNs: number }, rate: { insnsPerS: number; exitsPerS: number }, elapsedMs: number): string {
  return `hypemu: ${si(c.instructions)} insns (${si(rate.insnsPerS)}/s), ${si(c.exits)} exits (${si(rate.exitsPerS)}/s), virtual ${(c.virtualTimeNs / 1e9).toFixed(6)} s, ${(elapsedMs / 1000).toFixed(1)} s host`;
}

export class ProgressLine {
  private timer: NodeJS.Timeout | null = null;
  private drawn = false;
  private readonly t0 = performance.now();
  private last = { t: this.t0, instructions: 0, exits: 0 };

  /**
   * `canDraw` says whether the terminal's cursor is at the start of a line as far as the guest's
   * console is concerned (a half-printed prompt is not overwritten).
   */
  constructor(
    private readonly m: Pick<Machine, 'counters'>,
    private readonly canDraw: () => boolean = () => true,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.tick(), EVERY_MS);
    this.timer.unref();
    return this;
  }

  private tick(): void {
    const now = performance.now();
    const c = this.m.counters();
    const dt = (now - this.last.t) / 1000;
    const rate = { insnsPerS: (c.instructions - this.last.instructions) / dt, exitsPerS: (c.exits - this.last.exits) / dt };
    this.last = { t: now, instructions: c.instructions, exits: c.exits };
    if (now - this.t0 < FIRST_AFTER_MS || !this.canDraw()) return;
    const cols = this.out.columns > 0 ? this.out.columns : 120; // 0 on a terminal that never said
    this.out.write(`\r\x1b[K${progressText(c, rate, now - this.t0).slice(0, Math.max(20, cols - 1))}`);
    this.drawn = true;
  }

  /** Erase the line (before console output reaches the same terminal, and at the end). */
  clear(): void {
    if (!this.drawn) return;
    this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }
}
