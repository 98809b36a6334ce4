/**
 * The contract between the GDB remote stub (gdbstub.ts) and whatever runs the guest.
 *
 * The stub knows nothing about Unicorn, the vCPU or the EL2 model: it speaks the GDB
 * remote serial protocol and calls these methods. The emulator implements the interface
 * over the vCPU; tests implement it with an in-memory toy CPU (tests/unit/fake-target.ts). Keeping
 * the boundary this narrow is what lets the protocol be tested without a native library.
 *
 * Threading model: Node is single-threaded and the vCPU run loop is synchronous (it sits
 * inside uc_emu_start). So execution is *never* done inside a method call here: `resume`
 * only schedules work (bounded instruction slices via setImmediate), returns at once,
 * and later reports through the stop handler. Between slices the event loop runs, which
 * is how a Ctrl-C from the debugger (-> `interrupt`) gets a chance to be seen.
 */

/** Registers are described once, by the target, as a table; regnum = index in the table. */
export interface RegisterDescriptor {
  /** Name as GDB shows it (`$x0`, `$pc`, `$hcr_el2`). Core/FPU names are fixed by GDB's aarch64 tdesc checks. */
  readonly name: string;
  /** Width in bits; the value travels little-endian, bitsize/8 bytes. */
  readonly bitsize: 32 | 64 | 128;
  /** GDB tdesc type (`int`, `code_ptr`, `data_ptr`, `uint64`, `aarch64v`, `cpsr_flags`, ...). */
  readonly type: string;
  /** Target-description feature the register belongs to. */
  readonly feature: string;
  /** Optional `info registers` group (`general`, `float`, `system`). */
  readonly group?: string;
  /**
   * For system registers: the MRS/MSR encoding, so a real target can resolve the register
   * through the hypervisor's sysreg table (keyed by encoding) rather than by string name.
   */
  readonly sysreg?: { readonly op0: number; readonly op1: number; readonly crn: number; readonly crm: number; readonly op2: number };
}

/** Kinds of Z/z packets. `sw` = Z0, `hw` = Z1, `write` = Z2, `read` = Z3, `access` = Z4. */
export type BreakpointKind = 'sw' | 'hw' | 'write' | 'read' | 'access';
export type WatchKind = 'write' | 'read' | 'access';

/**
 * Exit reasons that `monitor trap-break` can stop on: EL2 exits the model handles (it stops
 * before handling them), and `exit-to-l1`: an exit (or interrupt) the model reflects to a guest
 * hypervisor under --nested (it stops after the reflection, at the guest hypervisor's vector).
 */
export const TRAP_REASONS = ['sysreg', 'hvc', 'smc', 'dabt_s2', 'iabt_s2', 'wfx', 'irq', 'debug', 'exit-to-l1'] as const;
export type TrapReason = (typeof TRAP_REASONS)[number];

/** `monitor trap-break on|off [REASON...]` applied to a target's set: the reasons named, or all of TRAP_REASONS. */
export function switchTrapBreak(set: Set<TrapReason>, enabled: boolean, reasons: readonly TrapReason[]): void {
  for (const r of reasons.length > 0 ? reasons : TRAP_REASONS) {
    if (enabled) set.add(r);
    else set.delete(r);
  }
}

/** Why the target stopped. Discriminated on `kind`; the stub turns it into a T/S/W reply. */
export type StopReason =
  /** PC reached an address registered with addBreakpoint('sw'|'hw'); the instruction has NOT executed. */
  | { readonly kind: 'breakpoint'; readonly pc: bigint }
  /** One instruction completed after resume('step'). */
  | { readonly kind: 'step'; readonly pc: bigint }
  /** A data access hit a watchpoint; `addr` is the accessed address (inside the watched range). */
  | { readonly kind: 'watch'; readonly pc: bigint; readonly watch: WatchKind; readonly addr: bigint }
  /** Stopped by a signal; interrupt() must produce signal 2 (SIGINT). */
  | { readonly kind: 'signal'; readonly pc: bigint; readonly signal: number }
  /** `monitor trap-break` matched an EL2 exit; `text` describes it (shown to the user as console output). */
  | { readonly kind: 'trap-break'; readonly pc: bigint; readonly reason: TrapReason; readonly text: string }
  /** The guest/machine ended (PSCI SYSTEM_OFF, semihosting exit, fatal error). No further execution. */
  | { readonly kind: 'exited'; readonly exitCode: number };

export type StopHandler = (reason: StopReason) => void;

/** Result of inserting a break/watchpoint: `unsupported` becomes an empty reply so GDB falls back. */
export type BreakpointResult = 'ok' | 'unsupported' | 'error';

export interface DebugTarget {
  /** The register table; must start with the aarch64 core feature, then fpu (see aarch64-registers.ts). */
  registerTable(): readonly RegisterDescriptor[];
  /** Value of register `regnum`, or undefined if it cannot be read now (sent as `xx..`). */
  readRegister(regnum: number): bigint | undefined;
  /** Write a register; false if it is read-only or unknown (the stub answers E). */
  writeRegister(regnum: number, value: bigint): boolean;

  /**
   * Read guest memory at a *virtual* address in the current translation regime (what the CPU
   * would see at the current EL, with no side effects: no faults injected, no TLB fills that
   * the guest could observe, no MMIO reads). Returns fewer bytes than asked if the range runs
   * into an unmapped page, an empty array / null if the first byte is unmapped.
   */
  readMemory(addr: bigint, length: number): Uint8Array | null;
  /** Write guest memory (same translation as readMemory); false if any byte is unmapped. Must invalidate cached translated code. */
  writeMemory(addr: bigint, data: Uint8Array): boolean;

  /**
   * Breakpoints are PC matches checked by the run loop, never instructions patched into guest
   * memory (the guest may checksum, copy or remap its code, and the stage-2 model must not see
   * stub writes). Watchpoints cover [addr, addr+length). Insertion must be idempotent.
   */
  addBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult;
  removeBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult;

  /** Receive stop events. The stub installs its handler once, before the first resume. */
  setStopHandler(handler: StopHandler): void;
  /**
   * Start executing and return immediately; exactly one stop event must follow (unless the
   * target is killed). 'step' executes one instruction (taking exceptions/traps it causes) and
   * reports 'step'. 'continue' runs in slices until a breakpoint/watchpoint/trap-break/exit or an
   * interrupt(); a breakpoint at the PC we resume from must not re-trigger before that instruction runs.
   */
  resume(mode: 'continue' | 'step'): void;
  /** Ask a running target to stop at the next slice boundary and report {kind:'signal', signal: 2}. No-op when stopped. */
  interrupt(): void;
  /** End the run for good (GDB `k`); no stop event follows. */
  kill(): void;
  /** Optional: the debugger went away (D or a dropped connection); drop session-only state such as trap-break. */
  detached?(): void;

  // ---- threads (several vCPUs: one thread each). Without these methods the target is thread 1 alone ----
  /** GDB thread ids (1-based), in order. */
  threadIds?(): number[];
  /** The thread register/memory access acts on; after a stop, the thread that stopped. */
  currentThread?(): number;
  /** Hg (op 'g': registers, memory) / Hc (op 'c': step, continue); 0 or -1 = any. False: no such thread. */
  selectThread?(op: 'g' | 'c', id: number): boolean;
  /** `info threads` text for a thread (qThreadExtraInfo). */
  threadInfo?(id: number): string;

  // ---- monitor commands: the stub parses and validates arguments, the target returns text ----
  /** Enable/disable stopping on EL2 exits of the given reasons (all of TRAP_REASONS if empty). Returns the new setting. */
  setTrapBreak(enabled: boolean, reasons: readonly TrapReason[]): string;
  /** The last `count` EL2 exits, most recent last. */
  recentExits(count: number): string;
  /** Stage-1 (and stage-2) walk of a virtual address in the current regime, level by level. */
  walk(va: bigint): string;
  /** The TLB model's contents / summary. */
  tlb(): string;
  /** Exit and trap statistics. */
  stats(): string;
  /** Optional: `count` instructions disassembled from a VA in the current regime (`monitor disas`). */
  disassemble?(addr: bigint, count: number): string;
}
