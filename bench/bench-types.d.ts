/**
 * Types of the benchmark drivers (bench.mjs, system-cases.mjs), which are JavaScript checked by
 * `npm run typecheck` through JSDoc (tsconfig.check.json: allowJs, checkJs).
 */

/** A command to time: a display string, argv, and whether it is hypemu (then it writes --stats-json). */
export interface Command {
  kind: 'hypemu' | 'qemu';
  image: string;
  argv: string[];
  /** measure peak RSS and CPU time under GNU time */
  rss?: boolean;
  /** what its stdout must show (default /done/; null: no check) */
  expect?: RegExp | null;
}

/**
 * hypemu's --stats-json of a command's best run (README, "Statistics"): read by field, as the
 * README documents them; not re-declared here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Stats = any;

/** Everything measured of one command over the rounds: the best (minimum) wall time and that run's stats. */
export interface Measure {
  cmd: Command;
  seconds: number;
  rssKb: number | null;
  rssRuns: number[];
  /** best CPU time (user + system) when measured under GNU time */
  cpuSeconds?: number;
  /** the system part of that best-CPU run, and its minor page faults (first touches) */
  sysSeconds?: number;
  minorFaults?: number;
  stats: Stats;
  runs: number[];
  statsFile: string;
}

/** One line of the results table. */
export interface Row {
  case: string;
  hypemu: string;
  qemu: string;
  figure: string;
  reference: string;
  /** the target met, missed, or null when the case has none */
  met: boolean | null;
}

export interface CaseResult {
  rows: Row[];
  data: Record<string, unknown>;
}

/** A benchmark case: the commands it needs by role, and its figures from their measures. */
export interface BenchCase {
  name: string;
  what: string;
  /** needs the tlb-storm variants built first */
  build?: boolean;
  /** the commands, or a function that makes or fetches their inputs first (the Linux kernel) */
  cmds: Record<string, Command> | (() => Record<string, Command>);
  compute(m: Record<string, Measure>): CaseResult;
}

/** What system-cases.mjs is given by bench.mjs. */
export interface SystemContext {
  root: string;
  OUT: string;
  guest(name: string): string;
  hypemu(image: string, extra?: string[]): Command;
  qemu(image: string, machine?: string, extra?: string[]): Command;
}
