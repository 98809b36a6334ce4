/**
 * The one mapping from how a run ended to a process exit status and a human sentence. The CLI,
 * the debugger (GDB's W packet) and the library's RunResult all use it.
 */
import type { HaltReason } from '../emulator/cpu/exits.js';

/** Process exit status for each way a run can end (also in `hypemu run --help` and the README). */
export const EXIT_CODES = {
  /** PSCI SYSTEM_OFF / SYSTEM_RESET, or the guest's own status through HVC 0xC600_0001. */
  ok: 0,
  badInput: 64,
  internal: 70,
  insnLimit: 124,
  guestFault: 125,
  /** 128 + the signal number, as a shell reports a process a signal ended. */
  sigint: 130,
  sigterm: 143,
} as const;

/** How a run ended: the machine's halts plus a stop the host asked for (a signal, the Ctrl-A x escape). */
export type RunEnd = HaltReason | { kind: 'signal'; signal: 'SIGINT' | 'SIGTERM' } | { kind: 'quit' };

export function exitCodeFor(h: RunEnd): number {
  switch (h.kind) {
    case 'guest-exit':
      return h.status;
    case 'system-off':
    case 'system-reset':
    case 'debugger-kill':
    case 'quit':
      return EXIT_CODES.ok;
    case 'insn-limit':
      return EXIT_CODES.insnLimit;
    case 'fault':
      return EXIT_CODES.guestFault;
    case 'signal':
      return h.signal === 'SIGINT' ? EXIT_CODES.sigint : EXIT_CODES.sigterm;
  }
}

export function describeEnd(h: RunEnd): string {
  switch (h.kind) {
    case 'guest-exit':
      return `guest exited with status ${h.status}`;
    case 'system-off':
      return 'guest powered off (PSCI SYSTEM_OFF)';
    case 'system-reset':
      return 'guest requested a reset (PSCI SYSTEM_RESET); ending the run';
    case 'insn-limit':
      return 'instruction limit reached';
    case 'fault':
      return `guest stopped: ${h.message}`;
    case 'debugger-kill':
      return 'killed from the debugger';
    case 'signal':
      return `stopped by ${h.signal}`;
    case 'quit':
      return 'quit (Ctrl-A x)';
  }
}
