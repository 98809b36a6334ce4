#!/usr/bin/env node
/**
 * hypemu's entry point. It only holds SIGINT/SIGTERM (cli/early-signals.ts) and then loads the
 * program (cli/program.ts), from the single-file build when it is up to date
 * (cli/bundle-loader.ts), else module by module: a Ctrl-C or a CI job's SIGTERM during loading
 * must end the run with its message and stats, not with the default action. Kept this small on
 * purpose. Run through bin/hypemu (the package's command), which spares Node's start-up the
 * parsing of NODE_EXTRA_CA_CERTS; the variable is put back here.
 */
import { holdSignals } from './early-signals.js';
import { loadBundle, type ProgramModule } from './bundle-loader.js';

holdSignals();
// bin/hypemu set NODE_EXTRA_CA_CERTS aside for Node's start-up only: back for the processes we start.
const caCerts = process.env.HYPEMU_NODE_EXTRA_CA_CERTS;
if (caCerts !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = caCerts;
  delete process.env.HYPEMU_NODE_EXTRA_CA_CERTS;
}
const program: ProgramModule = loadBundle() ?? (await import('./program.js'));
await program.main();
