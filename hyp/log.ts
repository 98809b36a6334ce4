/**
 * The hypervisor's logger: pino JSON lines on stderr, pretty only on a TTY
 * (DESIGN.md). Level from HYPEMU_LOG (default 'warn', so a run's stderr holds
 * only what a user must see, e.g. an unknown system register).
 *
 * pino (with its stream modules) takes ~70 ms to import, a quarter of a
 * trivial run's start-up, and most runs never log: it is loaded on the first
 * message (synchronously: pino is CommonJS).
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

let real: Logger | null = null;

function pinoLogger(): Logger {
  if (real !== null) return real;
  const pino = createRequire(import.meta.url)('pino') as typeof import('pino').default;
  real = pino(
    {
      name: 'hypemu',
      level: process.env.HYPEMU_LOG ?? 'warn',
      base: undefined,
      timestamp: false,
    },
    pino.destination({ fd: 2, sync: true }),
  );
  return real;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
const RANK: Record<string, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10, silent: Infinity };

/** The pino methods the model uses; a call below the configured level loads nothing. */
export type HypLogger = Pick<Logger, (typeof LEVELS)[number]>;

export const logger: HypLogger = Object.fromEntries(
  LEVELS.map((level) => [
    level,
    (...args: unknown[]) => {
      if (real === null && RANK[level]! < (RANK[process.env.HYPEMU_LOG ?? 'warn'] ?? RANK.warn!)) return;
      (pinoLogger()[level] as (...a: unknown[]) => void)(...args);
    },
  ]),
) as unknown as HypLogger;
