/**
 * hypemu's diagnostics logger (pino): JSON lines on stderr, or one human-readable line per
 * message when stderr is a terminal (DESIGN.md). Level from --log-level (setLogLevel) or
 * $HYPEMU_LOG, default 'warn' so that a run's stderr holds only what a user must see (e.g. an
 * unknown system register). $HYPEMU_LOG_FORMAT=json|pretty overrides the choice of format.
 * Guest console output never goes through here: it is data, on stdout.
 *
 * pino (with its stream modules) takes ~70 ms to import, a quarter of a trivial run's start-up,
 * and most runs never log: it is loaded on the first message at or above the level
 * (synchronously: pino is CommonJS). Lives in emulator/ so that every layer can log.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const METHODS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
const RANK: Record<LogLevel, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10, silent: Infinity };
const LABEL: Record<number, string> = { 60: 'fatal', 50: 'error', 40: 'warning', 30: 'info', 20: 'debug', 10: 'trace' };

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

const envLevel = process.env.HYPEMU_LOG;
let level: LogLevel = envLevel !== undefined && isLogLevel(envLevel) ? envLevel : 'warn';
let real: Logger | null = null;

/** Set the level for the whole process (the CLI's --log-level; a Machine's logLevel). */
export function setLogLevel(l: LogLevel): void {
  level = l;
  if (real !== null) real.level = l;
}

export function logLevel(): LogLevel {
  return level;
}

/**
 * A pino destination for a terminal: `hypemu: warning: MESSAGE (key=value, ...)`. pino hands
 * it each record as a JSON line; the fields pino adds (level, name, msg) are folded in.
 */
function prettyDestination(): { write(line: string): void } {
  return {
    write(line: string): void {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        process.stderr.write(line);
        return;
      }
      const { level: lv, msg, name: _name, ...rest } = rec;
      const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      process.stderr.write(`hypemu: ${LABEL[lv as number] ?? String(lv)}: ${String(msg ?? '')}${fields.length ? ` (${fields.join(', ')})` : ''}\n`);
    },
  };
}

function pinoLogger(): Logger {
  if (real !== null) return real;
  const pino = createRequire(import.meta.url)('pino') as typeof import('pino').default;
  const format = process.env.HYPEMU_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json');
  real = pino(
    { name: 'hypemu', level, base: undefined, timestamp: false },
    format === 'pretty' ? prettyDestination() : pino.destination({ fd: 2, sync: true }),
  );
  return real;
}

/** The pino methods hypemu uses; a call below the configured level loads nothing. */
export type HypemuLogger = Pick<Logger, (typeof METHODS)[number]>;

export const logger: HypemuLogger = Object.fromEntries(
  METHODS.map((m) => [
    m,
    (...args: unknown[]) => {
      if (RANK[m] < RANK[level]) return;
      (pinoLogger()[m] as (...a: unknown[]) => void)(...args);
    },
  ]),
) as unknown as HypemuLogger;
