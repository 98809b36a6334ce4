/**
 * The hypervisor's logger: pino JSON lines on stderr, pretty only on a TTY
 * (DESIGN.md). Level from HYPEMU_LOG (default 'warn', so a run's stderr holds
 * only what a user must see, e.g. an unknown system register).
 */
import pino from 'pino';

export const logger = pino(
  {
    name: 'hypemu',
    level: process.env.HYPEMU_LOG ?? 'warn',
    base: undefined,
    timestamp: false,
  },
  pino.destination({ fd: 2, sync: true }),
);
