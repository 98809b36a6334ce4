// Set-up shared by the GDB stub tests (gdb-stub.test.ts, gdb-stub-sessions.test.ts): a stub
// listening on a free port over a fresh fake target, a connected client, and the handshake.
import { expect } from 'vitest';
import { AARCH64_REGISTERS, regnumOf } from '../../emulator/debug/aarch64-registers.js';
import { FakeTarget } from './fake-target.js';
import { GdbStub, type GdbStubOptions } from '../../emulator/debug/gdbstub.js';
import { leHex } from '../../emulator/debug/rsp.js';
import { RspClient } from './gdb-client.js';

export const CODE = 0x4008_0000n;
export const PC = regnumOf(AARCH64_REGISTERS, 'pc');

/** Closers of what a test opened (target, stub, client), run in reverse by runCleanups after each test. */
export const cleanups: (() => Promise<void> | void)[] = [];
export async function runCleanups(): Promise<void> {
  for (const f of cleanups.splice(0).reverse()) await f();
}

export async function setup(opts: Partial<GdbStubOptions> = {}, sliceInstructions = 50) {
  const target = new FakeTarget({ sliceInstructions });
  target.map(0x4000_0000n, 0x10_0000);
  const logs: string[] = [];
  const stub = new GdbStub(target, { port: 0, waitForAttach: true, log: (l) => logs.push(l), ...opts });
  const port = await stub.listen();
  cleanups.push(() => target.kill()); // a free-running fake would otherwise spin on after the test
  cleanups.push(() => stub.close());
  const client = await RspClient.connect(port);
  cleanups.push(() => client.close());
  return { target, stub, port, client, logs };
}

export async function handshake(client: RspClient): Promise<void> {
  const sup = await client.request('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386;vContSupported+');
  expect(sup).toMatch(/PacketSize=[0-9a-f]+/);
  await client.startNoAck();
}

export const pcHex = (pc: bigint): string => leHex(pc, 8);
