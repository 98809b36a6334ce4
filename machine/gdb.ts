/**
 * A run driven by the GDB remote stub (emulator/debug/gdbstub.ts), as QEMU's -s -S: without
 * gdbWait the guest starts free-running at once (a debugger may attach later and interrupt it);
 * with gdbWait it stays before its first instruction until a debugger continues it. The run ends
 * when the guest does, when the debugger kills it, or when the machine is asked to stop (a signal).
 */
import { GdbStub } from '../emulator/debug/gdbstub.js';
import { loadDisassembler } from '../emulator/debug/disasm.js';
import type { VcpuTarget } from '../emulator/debug/vcpu-target.js';
import { ConfigError } from './errors.js';
import type { RunEnd } from './exit-status.js';

export interface GdbServeOptions {
  readonly port: number;
  readonly wait: boolean;
  /** Lines a user waiting for a debugger must see (the port), even with --quiet. */
  readonly notice?: (line: string) => void;
  readonly onPort?: (port: number) => void;
  /** Registers what a stop request (SIGINT/SIGTERM) does while the stub owns the guest. */
  readonly setStopHook: (hook: (() => void) | null) => void;
}

export async function serveGdb(target: VcpuTarget, o: GdbServeOptions): Promise<RunEnd> {
  // Trap-break lines and `monitor disas` disassemble with Capstone: load it before a debugger can ask.
  await loadDisassembler();
  const stub = new GdbStub(target, { port: o.port, waitForAttach: o.wait, ...(o.notice ? { log: o.notice } : {}) });
  try {
    o.onPort?.(await stub.listen());
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  o.setStopHook(() => {
    target.kill();
    void stub.close();
  });
  try {
    const end = await stub.finished;
    await stub.close();
    return target.halt ?? (end.kind === 'exited' ? { kind: 'guest-exit', status: end.exitCode } : { kind: 'debugger-kill' });
  } finally {
    o.setStopHook(null);
  }
}
