#!/usr/bin/env node
/**
 * hypemu's entry point. It only holds SIGINT/SIGTERM (cli/early-signals.ts) and then loads the
 * program (cli/program.ts), from the single-file build when it is up to date
 * (cli/bundle-loader.ts), else module by module: a Ctrl-C or a CI job's SIGTERM during loading
 * must end the run with its message and stats, not with the default action. Kept this small on
 * purpose.
 */
import { holdSignals } from './early-signals.js';
import { loadBundle, type ProgramModule } from './bundle-loader.js';

holdSignals();
const program: ProgramModule = loadBundle() ?? (await import('./program.js'));
await program.main();
