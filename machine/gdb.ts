/**
 * A run driven by the GDB remote stub (emulator/debug/gdbstub.ts), as QEMU's -s -S: without
 * gdbWait the guest starts free-running at once (a debugger may attach later and interrupt it);
 * with gdbWait it stays before its first instruction until a debugger continues it. The run ends
 * when the guest does, when the debugger kills it, or when the machine is asked to stop (a signal).
 * The same debug engine (emulator/debug/vcpu-target.ts: breakpoints with exact instruction
 * counts) runs a library `until: { pc }` (runToPc).
 */
import { GdbStub } from '../emulator/debug/gdbstub.js';
import { loadDisassembler } from '../emulator/debug/disasm.js';
import { VcpuTarget } from '../emulator/debug/vcpu-target.js';
import type { StopReason } from '../emulator/debug/target.js';
import { ConfigError } from './errors.js';
import { exitCodeFor, type RunEnd } from './exit-status.js';
import type { Vm } from './vm.js';

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

/** The debug engine over a VM's vCPUs: one GDB thread per vCPU with --smp. */
export function debugEngine(vm: Vm, flushConsole: () => void, maxInstructions: number): VcpuTarget {
  const smp = vm.smp;
  return new VcpuTarget(
    {
      machine: vm.board,
      hyp: vm.hyps[0]!,
      flushConsole,
      ...(smp !== null
        ? {
            // One GDB thread per vCPU, run through the same scheduler as without a debugger.
            smp: {
              vcpus: vm.board.vcpus,
              hyps: vm.hyps,
              run: (budget: number) => {
                const r = smp.run(budget);
                // Every vCPU off (PSCI CPU_OFF on the last one): nothing can run again.
                return r === 'off' ? { kind: 'system-off' } : r === 'halt' ? smp.halt() : null;
              },
              power: (i: number) => smp.power.state(i),
            },
          }
        : {}),
    },
    { exitCodeFor, maxInstructions },
  );
}

/** What runToPc asks of the machine: its stop request, the console, how a run ends or pauses. */
export interface RunToPcHooks<R> {
  readonly stopRequest: () => RunEnd | null;
  /** Registers what a stop request does while the engine runs the guest. */
  readonly setStopHook: (hook: (() => void) | null) => void;
  readonly flushConsole: () => void;
  readonly finish: (end: RunEnd) => Promise<R>;
  /** PC reached the address. */
  readonly reached: () => R;
}

/** Run until PC = addr, through the debugger's exact breakpoints (the instruction count stays exact). */
export async function runToPc<R>(t: VcpuTarget, pcAddr: bigint | number, o: RunToPcHooks<R>): Promise<R> {
  const addr = BigInt.asUintN(64, BigInt(pcAddr));
  t.addBreakpoint('hw', addr, 4);
  try {
    for (;;) {
      const stop = await new Promise<StopReason>((resolve) => {
        t.setStopHandler(resolve);
        o.setStopHook(() => t.interrupt());
        if (o.stopRequest() !== null) t.interrupt();
        t.resume('continue');
      });
      o.setStopHook(null);
      o.flushConsole();
      if (stop.kind === 'exited') return o.finish(o.stopRequest() ?? t.halt ?? { kind: 'insn-limit' });
      const req = o.stopRequest();
      if (req !== null) return o.finish(req);
      if (stop.kind === 'breakpoint') return o.reached();
      // Anything else (a trap-break nobody set, a watchpoint): keep going.
    }
  } finally {
    t.removeBreakpoint('hw', addr, 4);
  }
}
