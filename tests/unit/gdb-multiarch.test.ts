// The real debugger against the stub + fake target: proves the target description, register
// layout, no-ack negotiation, breakpoints, stepping, watchpoints and monitor output work with
// GDB itself, not only with our own client. Skipped when gdb-multiarch is not installed.
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTarget, TOY_HVC, TOY_STR } from './fake-target.js';
import { GdbStub } from '../../emulator/debug/gdbstub.js';
import { findGdb } from './gdb-client.js';


const GDB = findGdb();
if (GDB === null) console.warn('gdb-multiarch not found: skipping the real-GDB tests (apt-get install gdb-multiarch)');

const CODE = 0x4008_0000n;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function start(waitForAttach = true): Promise<{ target: FakeTarget; port: number; stub: GdbStub }> {
  const target = new FakeTarget({ sliceInstructions: 100 });
  target.map(0x4000_0000n, 0x10_0000);
  target.writeWords(CODE, [0xd503201f, 0xd503201f, TOY_STR, 0xd503201f, 0xcafef00d, 0x12345678, 0x9abcdef0, 0x0badc0de]);
  target.setReg('x1', 0x77n);
  target.setReg('x2', 0x4000_2000n);
  target.setReg('hcr_el2', 0x8000_0000n);
  const stub = new GdbStub(target, { port: 0, waitForAttach });
  const port = await stub.listen();
  cleanups.push(() => target.kill());
  cleanups.push(() => stub.close());
  return { target, port, stub };
}

/** Run gdb in batch mode asynchronously (the stub lives on this process's event loop). */
function gdb(port: number, commands: string[]): Promise<string> {
  const args = ['-nx', '-batch', '-ex', 'set architecture aarch64', '-ex', 'set pagination off', '-ex', `target remote 127.0.0.1:${port}`];
  for (const c of commands) args.push('-ex', c);
  return new Promise((resolve, reject) => {
    execFile(GDB!, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err !== null && (err.killed || err.signal !== null)) reject(new Error(`gdb timed out\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

describe.skipIf(GDB === null)('gdb-multiarch against the stub', () => {
  it('reads registers, memory and system registers, runs monitor commands', async () => {
    const { port } = await start();
    const out = await gdb(port, ['info registers pc', 'x/4xw 0x40080010', 'p/x $hcr_el2', 'p/x $x1', 'p $cpsr', 'p/x $v0.d.u', 'monitor help', 'monitor walk 0x40080000', 'x/xw 0x10', 'info registers vttbr_el2 currentel', 'info registers system', 'detach']);
    expect(out).toMatch(/pc\s+0x40080000\s/);
    expect(out).toMatch(/0x40080010:\s+0xcafef00d\s+0x12345678\s+0x9abcdef0\s+0x0badc0de/);
    expect(out).toContain('$1 = 0x80000000');
    expect(out).toContain('$2 = 0x77');
    expect(out).toContain('$3 = [ SP EL=1 F I A D BTYPE=0 ]'); // cpsr_flags from target.xml
    expect(out).toContain('$4 = {0x0, 0x0}');
    expect(out).toContain('hypemu monitor commands:');
    expect(out).toContain('trap-break on|off [REASON...]');
    expect(out).toContain('VA 0x40080000 -> PA 0x40080000');
    expect(out).toContain('Cannot access memory at address 0x10');
    expect(out).toMatch(/vttbr_el2\s+0x0\s/);
    expect(out).toMatch(/currentel\s+0x4\s/);
    expect(out).toMatch(/hpfar_el2\s+0x0\s/); // the whole system group, one p packet each
    expect(out).not.toMatch(/Remote 'g' packet reply|warning: .*target description|Protocol error/i);
  });

  it('sets a breakpoint, continues, steps, and writes registers and memory', async () => {
    const { port, target } = await start();
    const out = await gdb(port, [
      'break *0x40080008',
      'continue',
      'info registers pc',
      'stepi',
      'info registers pc',
      'set $x5 = 0x1234',
      'set $sctlr_el1 = 0x30d0198d',
      'set {int}0x40080100 = 0x55aa55aa',
      'x/xw 0x40080100',
      'delete',
      'kill',
    ]);
    expect(out).toMatch(/Breakpoint 1 at 0x40080008/);
    expect(out).toMatch(/pc\s+0x40080008\s/);
    expect(out).toMatch(/pc\s+0x4008000c\s/);
    expect(out).toMatch(/0x40080100:\s+0x55aa55aa/);
    expect(target.getReg('x5')).toBe(0x1234n);
    expect(target.getReg('sctlr_el1')).toBe(0x30d0198dn);
    expect(target.killed).toBe(true);
    // breakpoints are PC matches: the code was never patched
    expect([...target.readMemory(0x4008_0008n, 4)!]).toEqual([0x41, 0x00, 0x00, 0xf9]);
  });

  it('stops on an EL2 exit with monitor trap-break and shows why', async () => {
    const { port, target } = await start();
    target.writeWords(CODE + 0x20n, [TOY_HVC]);
    const out = await gdb(port, ['monitor trap-break on hvc', 'continue', 'info registers pc', 'monitor exits', 'break *0x40080024', 'continue', 'monitor exits', 'kill']);
    expect(out).toContain('trap-break: on for hvc');
    expect(out).toContain('hypemu: trap-break (hvc): HVC #0 at 0x40080020, ESR_EL2=0x5a000000');
    expect(out).toContain('Program received signal SIGTRAP');
    expect(out).toMatch(/pc\s+0x40080020\s/);
    expect(out).toContain('no exits yet');
    expect(out).toContain('hvc #0 at 0x40080020');
  });

  it('attaches to a free-running guest, halts it, and lets it run on after detach', async () => {
    const { port, target } = await start(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(target.instructions).toBeGreaterThan(0);
    const out = await gdb(port, ['info registers pc', 'detach']);
    expect(out).toMatch(/pc\s+0x4[0-9a-f]{7}\s/);
    expect(out).toContain('detached');
    const n = target.instructions;
    await new Promise((r) => setTimeout(r, 20));
    expect(target.running).toBe(true);
    expect(target.instructions).toBeGreaterThan(n);
  });

  it('stops on a write watchpoint', async () => {
    const { port } = await start();
    const out = await gdb(port, ['watch *(long *)0x40002000', 'continue', 'info registers pc', 'x/gx 0x40002000', 'kill']);
    expect(out).toMatch(/Hardware watchpoint 1: \*\(long \*\)0x40002000/);
    expect(out).toMatch(/Old value = 0\s+New value = 119/);
  });
});
