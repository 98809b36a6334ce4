/** The hypervisor model logs through hypemu's logger (emulator/log.ts: pino, levels, pretty on a terminal). */
export { logger, type HypemuLogger as HypLogger } from '../emulator/log.js';
