/**
 * `hypemu run IMAGE --gdb [PORT] [--gdb-wait]`: the same session as `run`, but the guest is
 * driven by the GDB remote stub (emulator/debug/gdbstub.ts) over a VcpuTarget, as QEMU's -s -S.
 *
 * The stub owns execution: without --gdb-wait it starts the guest free-running at once (a
 * debugger may attach later and interrupt it); with --gdb-wait the guest stays before its first
 * instruction until a debugger continues it. The run ends when the guest does (exit status as
 * for `run`), when the debugger kills it, or on SIGINT/SIGTERM to hypemu.
 */
import { GdbStub, parseGdbPort } from '../emulator/debug/gdbstub.js';
import { VcpuTarget } from '../emulator/debug/vcpu-target.js';
import type { HaltReason } from '../emulator/cpu/exits.js';
import { createSession, exitCodeFor, finishSession, type RunOptions, type RunResult } from './run.js';
import { UsageError } from './parse.js';

export interface GdbRunOptions extends RunOptions {
  /** --gdb [PORT]: commander gives `true` when the port is omitted. */
  gdb?: string | boolean;
  /** --gdb-wait: halt before the first instruction until a debugger continues (implies --gdb). */
  gdbWait?: boolean;
}

export async function runUnderGdb(opts: GdbRunOptions): Promise<RunResult> {
  let port: number;
  try {
    port = parseGdbPort(opts.gdb);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const session = createSession(opts);
  const target = new VcpuTarget(session, {
    exitCodeFor,
    ...(opts.maxInsns !== undefined ? { maxInstructions: opts.maxInsns } : {}),
  });
  // Progress lines always reach stderr: a user waiting for a debugger must see the port even with --quiet.
  const stub = new GdbStub(target, { port, waitForAttach: opts.gdbWait === true, log: (line) => process.stderr.write(`hypemu: ${line}\n`) });
  try {
    await stub.listen();
  } catch (e) {
    session.machine.close();
    throw new UsageError((e as Error).message);
  }

  // Ctrl-C / SIGTERM to hypemu itself: stop the guest and report, as a normal run's end.
  let signalled = false;
  const onSignal = (): void => {
    if (signalled) process.exit(130); // a second Ctrl-C: leave at once
    signalled = true;
    target.kill();
    void stub.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const end = await stub.finished;
    await stub.close();
    const halt: HaltReason = target.halt ?? (end.kind === 'exited' ? { kind: 'guest-exit', status: end.exitCode } : { kind: 'debugger-kill' });
    return finishSession(session, halt);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
