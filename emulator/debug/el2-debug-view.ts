/**
 * What the debugger needs of the EL2 model, structurally (emulator/ never imports cli/ or hyp/):
 * its exit counters and register file, how it will handle a pending exit, its own walk text,
 * and (with a guest hypervisor) the exits it reflects.
 */
import type { Exit } from '../cpu/exits.js';

/** The parts of a cli Session this target needs (kept structural so emulator/ never imports cli/ or hyp/). */
export interface El2DebugView {
  /** The exit counters, shown by `monitor stats`. */
  readonly exits: unknown;
  /** The model's EL2 register by name ('HCR_EL2'), or undefined if it has none. */
  el2Register?(name: string): bigint | undefined;
  /** Write a model EL2 register; false if it has none. */
  setEl2Register?(name: string, value: bigint): boolean;
  /** What the guest reads from a system register whose CPU value the model rewrites (MAIR_EL1 under mangling). */
  guestView?(name: string, cpuValue: bigint): bigint;
  /** How the model will handle a pending exit, decided without handling it. */
  exitPath?(exit: Exit): 'fast path' | 'world switch';
  /** The model's own text for `monitor walk` (a guest hypervisor's three stages), or null for the ordinary walk. */
  walkText?(va: bigint): string | null;
  /**
   * Be told of every exit the model reflects to a guest hypervisor (--nested), right after its
   * exception entry at virtual EL2 (null: stop telling). `reason` is the key of
   * stats.nested.exitsToL1; `text` describes the entry (vector, ESR/ELR/SPSR_EL2).
   */
  watchExitsToGuestHypervisor?(cb: ((e: { readonly reason: string; readonly text: string }) => void) | null): void;
}
