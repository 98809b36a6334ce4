#!/usr/bin/env node
/**
 * hypemu's entry point. It only holds SIGINT/SIGTERM (cli/early-signals.ts) and then loads the
 * program (cli/program.ts): a Ctrl-C or a CI job's SIGTERM during module loading must end the run
 * with its message and stats, not with the default action. Kept this small on purpose.
 */
import { holdSignals } from './early-signals.js';

holdSignals();
await import('./program.js');
