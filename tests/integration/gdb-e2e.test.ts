// `hypemu run --gdb` end to end: the built CLI with the real vCPU, driven by the real
// gdb-multiarch in batch mode (the transcript the README shows) and by a raw RSP client for the
// protocol-level guarantees (one client at a time, Ctrl-C, determinism with a debugger attached).
// Needs `npm run build` (dist/) and the built guests; gdb tests are skipped without gdb-multiarch.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RspClient } from '../unit/gdb-client.js';
import { CLI, ROOT, guest, hypemu } from './helpers.js';
import { Machine, exitCodeFor } from '../../machine/index.js';
import { VcpuTarget } from '../../emulator/debug/vcpu-target.js';
import { GdbStub } from '../../emulator/debug/gdbstub.js';
import { RESUME, type El2Handler, type Exit, type SysInsnAccess } from '../../emulator/cpu/exits.js';
import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import { findGdb } from '../unit/gdb-client.js';

const GDB = findGdb();
if (GDB === null) console.warn('gdb-multiarch not found: skipping the real-GDB end-to-end tests (Debian: apt-get install gdb-multiarch)');

/** Address of the first instruction in a guest's listing matching `re` (the .lst is objdump -d output). */
function lstAddress(name: string, re: RegExp, inSymbol?: string): bigint {
  const lst = readFileSync(join(ROOT, 'guest-images/build', `${name}.lst`), 'utf8');
  let inside = inSymbol === undefined;
  for (const line of lst.split('\n')) {
    const sym = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
    if (sym && inSymbol !== undefined) inside = sym[1] === inSymbol;
    const m = /^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+(.*)$/.exec(line);
    if (inside && m && re.test(m[2]!)) return BigInt('0x' + m[1]!);
  }
  throw new Error(`${name}.lst: no instruction matches ${re}`);
}
const hex = (v: bigint) => '0x' + v.toString(16);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Hypemu {
  proc: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit status when the process ends. */
  done: Promise<number>;
  statsFile: string;
}

const children: ChildProcess[] = [];
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** Start `hypemu run IMAGE --gdb PORT ...` and wait until it listens. */
async function startHypemu(image: string, extra: string[] = ['--gdb-wait']): Promise<Hypemu> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const port = await freePort();
  const statsFile = join(mkdtempSync(join(tmpdir(), 'hypemu-gdb-')), 'stats.json');
  const proc = spawn('node', [CLI, 'run', guest(image), '--gdb', String(port), '--stats-json', statsFile, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const done = new Promise<number>((resolve) => proc.on('exit', (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 20_000;
  while (!/gdb: (waiting for a debugger|listening) on 127\.0\.0\.1:/.test(err)) {
    if (proc.exitCode !== null) throw new Error(`hypemu exited early (${proc.exitCode}):\n${err}`);
    if (Date.now() > deadline) throw new Error(`hypemu did not start listening:\n${err}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { proc, port, stdout: () => out, stderr: () => err, done, statsFile };
}

/** gdb-multiarch in batch mode with the guest ELF for symbols; resolves with the whole transcript. */
function gdb(port: number, elf: string | null, commands: string[]): Promise<string> {
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', `target remote 127.0.0.1:${port}`];
  for (const c of commands) args.push('-ex', c);
  if (elf !== null) args.push(elf);
  return new Promise((resolve, reject) => {
    execFile(GDB!, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null && (err.killed || err.signal !== null)) reject(new Error(`gdb timed out\n${stdout}\n${stderr}`));
      else {
        // HYPEMU_GDB_TRANSCRIPT=1 prints the session (how the README's Debugging transcript is made).
        if (process.env.HYPEMU_GDB_TRANSCRIPT) console.log(stdout + stderr);
        resolve(stdout + stderr);
      }
    });
  });
}

function stats(h: Hypemu): Record<string, any> {
  return JSON.parse(readFileSync(h.statsFile, 'utf8'));
}

describe.skipIf(GDB === null)('hypemu run --gdb with gdb-multiarch', () => {
  it('breakpoint, registers, memory, stepi over an SVC into the vector, monitor commands, trap-break on hvc', async () => {
    const plain = await hypemu(['run', guest('exceptions')], { stats: true });
    expect(plain.status).toBe(0);
    const svc = lstAddress('exceptions', /^svc\s+#0x42\b/);
    const vbarGuess = lstAddress('exceptions', /./, 'vectors_el1');
    const h = await startHypemu('exceptions');
    const out = await gdb(h.port, guest('exceptions'), [
      'break main',
      'continue',
      'info registers pc cpsr',
      'p/x $currentel',
      `break *${hex(svc)}`,
      'continue',
      'x/i $pc',
      'p/x $x0',
      'x/2xw $pc',
      'x/4xw 0x10',
      'stepi',
      'p/x $pc',
      'p/x $vbar_el1',
      'p/x $esr_el1',
      'p/x $elr_el1',
      'p $cpsr',
      'monitor exits 2',
      `monitor walk ${hex(vbarGuess)}`,
      'monitor walk 0x9000000',
      'monitor stats',
      'monitor trap-break on hvc',
      'delete',
      'continue',
      'p/x $x0',
      'p/x $esr_el2',
      'stepi',
    ]);
    expect(out).toMatch(/Breakpoint 1, main \(\) at src\/exceptions\.c:\d+/);
    expect(out).toMatch(/pc\s+0x400802a0\s+0x400802a0 <main>/);
    expect(out).toMatch(/cpsr\s+0x[0-9a-f]+\s+\[ SP EL=1 F I A D BTYPE=0 [A-Z ]*\]/); // EL1h, DAIF masked
    expect(out).toMatch(new RegExp(`Breakpoint 2, 0x0*${svc.toString(16)} in main`));
    expect(out).toMatch(/=> 0x400802f0 <main\+80>:\s+svc\s+#0x42/);
    expect(out).toMatch(/0x400802f0 <main\+80>:\s+0xd4000841\s+0x/);
    expect(out).toContain('Cannot access memory at address 0x10');
    // One instruction later: the SVC was taken, PC is VBAR_EL1 + 0x200 (current EL, SP_ELx).
    const vbar = BigInt(/\$4 = (0x[0-9a-f]+)\n\$5 = 0x56000042/.exec(out)?.[1] ?? '0');
    expect(vbar).toBe(vbarGuess);
    expect(out).toContain(`$3 = ${hex(vbar + 0x200n)}`);
    expect(out).toMatch(/vectors_el1 \(\) at lib\/vectors\.S/);
    expect(out).toContain('= 0x56000042'); // ESR_EL1: EC 0x15 (SVC64), IL, imm16 0x42
    expect(out).toContain(`= ${hex(svc + 4n)}`); // ELR_EL1: the preferred return address
    expect(out).toMatch(/pc 0x[0-9a-f]+: stage-2 data abort: (read|write) of 4 bytes .* at IPA 0x90000[0-9a-f]{2}/);
    // Stage 1 off: VA = IPA; the hypervisor's stage 2 maps RAM with a 2 MiB block (real descriptors in its table pool).
    expect(out).toMatch(/walk 0x0000000040081800:[\s\S]*S1: disabled[\s\S]*S2 L2 table 0x[0-9a-f]+ \[0x[0-9a-f]+\] = 0x[0-9a-f]{16}: block -> 0x40000000[\s\S]*=> IPA 0x40081800 PA 0x40081800/);
    // The UART is MMIO: never mapped at stage 2, so the walk ends in a stage-2 translation fault.
    expect(out).toMatch(/walk 0x0000000009000000:[\s\S]*fault: stage 2 translation level 1/);
    expect(out).toMatch(/instructions: \d+ \(virtual time \d+ ns\)/);
    expect(out).toContain('trap-break: on for hvc');
    // The guest's final HVC (exit with status, x0 = 0xC6000001) stops before the EL2 model handles it.
    expect(out).toContain('hypemu: trap-break (hvc): EL2 exit: hvc #0x0 x0=0xc6000001; ESR_EL2=0x5a000000 (hvc64 #0x0)');
    expect(out).toContain('Program received signal SIGTRAP');
    expect(out).toContain('$8 = 0xc6000001');
    expect(out).toContain('$9 = 0x5a000000'); // ESR_EL2 of the pending exit: EC 0x16 (HVC64)
    // stepi lets the model handle it: the guest exits with status 0.
    expect(out).toContain('[Inferior 1 (Remote target) exited normally]');
    expect(out).not.toMatch(/Remote connection closed|Protocol error|Remote 'g' packet reply/);
    expect(await h.done).toBe(0);
    // Determinism: same console, same instruction count as without a debugger.
    expect(h.stdout()).toBe(plain.stdout);
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  });

  it('watchpoints stop at the accessing instruction, across exception entry and ERET', async () => {
    const plain = await hypemu(['run', guest('exceptions')], { stats: true });
    const h = await startHypemu('exceptions');
    const out = await gdb(h.port, guest('exceptions'), ['break main', 'continue', 'watch nrec', 'continue', 'bt 1', 'continue', 'delete', 'continue']);
    expect(out).toMatch(/Hardware watchpoint 2: nrec\s+Old value = 0\s+New value = 1\s+exception_handler \(f=0x[0-9a-f]+, vec=4\) at src\/exceptions\.c:\d+/);
    expect(out).toMatch(/Old value = 1\s+New value = 0\s+main \(\) at src\/exceptions\.c/);
    expect(out).toContain('[Inferior 1 (Remote target) exited normally]');
    expect(await h.done).toBe(0);
    expect(h.stdout()).toBe(plain.stdout);
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  });

  it('monitor trap-break on sysreg stops on the MAIR_EL1 write (when the EL2 model traps it)', async (ctx) => {
    // --mair-mangle (seed 000) makes the EL2 model trap MAIR_EL1 (HCR_EL2.TVM/TRVM).
    const plain = await hypemu(['run', guest('mair-uncached'), '--mair-mangle'], { stats: true });
    if ((plain.stats!.exits?.byReason?.sysreg ?? 0) === 0) {
      ctx.skip(); // see the in-process test below, which traps MAIR_EL1 with a test EL2 model
      return;
    }
    const msr = lstAddress('mair-uncached', /^msr\s+mair_el1, x\d+/);
    const h = await startHypemu('mair-uncached', ['--gdb-wait', '--mair-mangle']);
    const out = await gdb(h.port, guest('mair-uncached'), [`break *${hex(msr)}`, 'continue', 'monitor trap-break on sysreg', 'stepi', 'p/x $pc', 'stepi', 'p/x $pc', 'p/x $mair_el1', 'monitor exits 1', 'delete', 'monitor trap-break off', 'continue']);
    expect(out).toMatch(/EL2 exit: sysreg write MAIR_EL1 <- 0x[0-9a-f]+/);
    expect(out).toContain(`$1 = ${hex(msr)}`); // stopped on the MSR, before the model handled it
    expect(out).toContain(`$2 = ${hex(msr + 4n)}`); // stepi: handled, PC past it
    expect(out).toMatch(/\$3 = 0x[0-9a-f]+/); // the CPU's MAIR_EL1 (the mangled value the MMU uses, not the guest's view)
    expect(out).toMatch(/: sysreg write MAIR_EL1 <- 0x[0-9a-f]+; .* -> resumed, fast path/);
    // Capstone names the trapping instruction on the trap-break and `monitor exits` lines.
    expect(out).toMatch(/EL2 exit: sysreg write MAIR_EL1 .* \[msr mair_el1, x\d+\]/);
    expect(await h.done).toBe(plain.status);
    expect(h.stdout()).toBe(plain.stdout);
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  });

  it('trap-break on sysreg with an EL2 model that traps MAIR_EL1 (in-process, real vCPU)', async () => {
    // A test EL2 model: traps MSR MAIR_EL1 (as HCR_EL2.TVM would) and emulates it; everything else
    // goes to the session's hypervisor. Proves the debugger side until hyp/ traps the VM registers.
    const machine = await Machine.create({ image: guest('mair-uncached'), quiet: true });
    const session = { machine: machine.board, hyp: machine.hyp };
    const vcpu = machine.board.vcpu;
    const real = vcpu.el2!;
    const isMair = (a: { op0: number; op1: number; crn: number; crm: number; op2: number }) => a.op0 === 3 && a.op1 === 0 && a.crn === 10 && a.crm === 2 && a.op2 === 0;
    const testModel: El2Handler = {
      routeSysInsn: (v: Vcpu, a: SysInsnAccess, e) => (isMair(a) && !a.read ? { route: 'trap', reason: 'test' } : real.routeSysInsn(v, a, e)),
      routeWfx: (v, wfe) => real.routeWfx(v, wfe),
      trapsSmc: (v) => real.trapsSmc(v),
      takesHvc: (v) => real.takesHvc(v),
      handleExit: (v: Vcpu, exit: Exit) => {
        if (exit.reason !== 'sysreg') return real.handleExit(v, exit);
        v.setSysreg({ op0: 3, op1: 0, crn: 10, crm: 2, op2: 0 }, exit.value);
        v.skipInstruction();
        return RESUME;
      },
    };
    vcpu.el2 = testModel;
    const target = new VcpuTarget(session, { exitCodeFor });
    const stub = new GdbStub(target, { port: 0, waitForAttach: true });
    const port = await stub.listen();
    cleanups.push(() => stub.close());
    cleanups.push(() => machine.dispose());
    const msr = lstAddress('mair-uncached', /^msr\s+mair_el1, x\d+/);
    const out = await gdb(port, guest('mair-uncached'), [
      'monitor trap-break on sysreg',
      'continue',
      'p/x $pc',
      'p/x $mair_el1',
      'p/x $esr_el2',
      'stepi',
      'p/x $pc',
      'p/x $mair_el1',
      'monitor exits 1',
      'monitor trap-break off',
      'detach',
    ]);
    expect(out).toMatch(/hypemu: trap-break \(sysreg\): EL2 exit: sysreg write MAIR_EL1 <- 0x(bb0044ff|[0-9a-f]+); ESR_EL2=0x62[0-9a-f]{6} \(sys64 write op0=3 op1=0 CRn=10 CRm=2 op2=0 Rt=\d+\)/);
    expect(out).toContain(`$1 = ${hex(msr)}`); // stopped before the hypervisor handled it
    expect(out).toMatch(/\$2 = 0x0\n/); // MAIR_EL1 not yet written
    expect(out).toMatch(/\$3 = 0x62[0-9a-f]{6}\n/); // ESR_EL2 of the pending exit: EC 0x18
    expect(out).toContain(`$4 = ${hex(msr + 4n)}`); // after stepi: handled, PC past the MSR
    expect(out).toMatch(/\$5 = 0x[1-9a-f][0-9a-f]*\n/); // MAIR_EL1 now holds the guest's value
    expect(out).toMatch(/#\d+ insn \d+ pc 0x[0-9a-f]+: sysreg write MAIR_EL1 <- 0x[0-9a-f]+; .* -> resumed/);
  });
});

describe.skipIf(GDB === null)('hypemu run --smp 4 --gdb: one GDB thread per vCPU', () => {
  it('info threads, a breakpoint hit on a secondary vCPU, per-thread registers, stepi on that thread; the run is unchanged', async () => {
    const plain = await hypemu(['run', guest('smp-ipi'), '--smp', '4'], { stats: true });
    expect(plain.status).toBe(0);
    const h = await startHypemu('smp-ipi', ['--gdb-wait', '--smp', '4']);
    const out = await gdb(h.port, guest('smp-ipi'), [
      'info threads',
      'break secondary_main',
      'continue',
      'info threads',
      'p/x $pc',
      'p/x $x0',
      'stepi',
      'p/x $pc',
      'thread 1',
      'p/x $pc',
      'thread 4',
      'p/x $pc',
      'delete',
      'continue',
    ]);
    const entry = lstAddress('smp-ipi', /./, 'secondary_main');
    // Before the run: vCPU 0 at the entry, the others powered off (PSCI) until CPU_ON.
    expect(out).toMatch(/\* 1\s+Thread 1 \(vCPU 0, EL1\)\s+_start \(\)/);
    expect(out).toMatch(/ 2\s+Thread 2 \(vCPU 1 \(off\), EL1\)/);
    expect(out).toMatch(/ 4\s+Thread 4 \(vCPU 3 \(off\), EL1\)/);
    // vCPU 1 reaches the breakpoint first (CPU_ON order): GDB switches to its thread.
    expect(out).toContain('[Switching to Thread 2]');
    expect(out).toMatch(/Thread 2 hit Breakpoint 1, secondary_main \(ctx=257/);
    expect(out).toMatch(/\* 2\s+Thread 2 \(vCPU 1, EL1\)\s+secondary_main/);
    expect(out).toContain(`$1 = ${hex(entry)}`);
    expect(out).toContain('$2 = 0x101'); // x0 = CPU_ON's context id for vCPU 1
    expect(out).toContain(`$3 = ${hex(entry + 4n)}`); // stepi stepped thread 2
    expect(out).toMatch(/\$4 = 0x4008[0-9a-f]{4}\n/); // thread 1: vCPU 0 in main, waiting for the secondaries
    expect(out).not.toContain(`$4 = ${hex(entry)}`);
    expect(out).toContain('$5 = 0x0'); // thread 4: vCPU 3 not started yet
    expect(out).toContain('exited normally');
    // The scheduler ran the same interleaving as without a debugger.
    expect(await h.done).toBe(0);
    expect(h.stdout()).toBe(plain.stdout);
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  }, 180_000);

  it('watch and rwatch with --smp 2: the vCPU that makes the access stops before it and becomes the thread; the run is unchanged', async () => {
    const plain = await hypemu(['run', guest('smp-ipi'), '--smp', '2'], { stats: true });
    const h = await startHypemu('smp-ipi', ['--gdb-wait', '--smp', '2']);
    // online[1] is written by vCPU 1 (secondary_main) and polled by vCPU 0 (wait_for).
    const out = await gdb(h.port, guest('smp-ipi'), ['watch online[1]', 'continue', 'info threads', 'p online[1]', 'delete', 'rwatch online[1]', 'continue', 'p online[1]', 'delete', 'continue']);
    // GDB stops before the store, steps it (watchpoints removed) and reports the change on thread 2.
    expect(out).toContain('[Switching to Thread 2]');
    expect(out).toMatch(/Thread 2 hit Hardware watchpoint 1: online\[1\]\s+Old value = 0\s+New value = 1\s+secondary_main /);
    expect(out).toMatch(/\* 2\s+Thread 2 \(vCPU 1, EL1\)\s+secondary_main/);
    expect(out).toContain('$1 = 1');
    // vCPU 0's poll reads it: thread 1 stops on the load.
    expect(out).toContain('[Switching to Thread 1]');
    expect(out).toMatch(/Thread 1 hit Hardware read watchpoint 2: online\[1\]\s+Value = 1\s+0x[0-9a-f]+ in wait_for /);
    expect(out).toContain('exited normally');
    expect(await h.done).toBe(0);
    expect(h.stdout()).toBe(plain.stdout);
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  }, 180_000);

  it('thread packets: qfThreadInfo lists every vCPU, Hg selects, T and Hg refuse a thread that is not there', async () => {
    const h = await startHypemu('smp-ipi', ['--gdb-wait', '--smp', '2']);
    const c = await RspClient.connect(h.port);
    cleanups.push(() => c.close());
    await c.request('qSupported');
    await c.startNoAck();
    expect(await c.request('qfThreadInfo')).toBe('m1,2');
    expect(await c.request('qsThreadInfo')).toBe('l');
    expect(await c.request('qC')).toBe('QC1');
    expect(await c.request('T2')).toBe('OK');
    expect(await c.request('T3')).toBe('E22');
    expect(await c.request('Hg3')).toBe('E22');
    expect(await c.request('Hg2')).toBe('OK');
    expect(await c.request('qC')).toBe('QC2');
    expect(await c.request('p20')).toBe('0000000000000000'); // vCPU 1's PC: off, never started
    expect(await c.request('Hg1')).toBe('OK');
    expect(await c.request('p20')).toBe(leHex(0x4008_0000n));
    expect(Buffer.from(await c.request('qThreadExtraInfo,2'), 'hex').toString()).toBe('vCPU 1 (off), EL1');
    expect(await c.request('Z2,40000000,8')).toBe('OK'); // watchpoints: a data hook on every vCPU
    expect(await c.request('z2,40000000,8')).toBe('OK');
    expect(await c.request('vCont;s:1')).toMatch(/^T05thread:01;20:/);
    c.send('k');
    expect(await h.done).toBe(0);
  }, 120_000);
});

describe.skipIf(GDB === null)("the stub's breakpoints are its own, apart from the guest's DBGBCR/DBGBVR", () => {
  it.each([['1'], ['2']])('a GDB breakpoint at the address of the guest\'s hardware breakpoint (debug-el2 bp_site), --smp %s: both fire, the guest prints the same', async (smp) => {
    const plain = await hypemu(['run', guest('debug-el2')], { stats: true });
    const h = await startHypemu('debug-el2', ['--gdb-wait', '--smp', smp]);
    const bp = lstAddress('debug-el2', /^nop$/, 'target');
    const out = await gdb(h.port, guest('debug-el2'), [`break *${hex(bp)}`, ...Array(7).fill('continue'), 'p $pc', 'delete', 'continue']);
    // target() runs 6 times (parts 1, 2 and 6); the guest's own breakpoint (part 1, PSTATE.D = 0)
    // is taken after GDB's stop, and its handler returns to bp_site: a seventh GDB stop.
    expect(out.match(/Breakpoint 1, target \(\)/g)).toHaveLength(7);
    expect(out).toContain('exited normally');
    expect(await h.done).toBe(0);
    expect(h.stdout()).toBe(plain.stdout);
    expect(h.stdout()).toContain('RESULT debug-el2: 0 failures');
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  }, 180_000);
});

describe('hypemu run --gdb protocol guarantees (raw RSP client)', () => {
  it('refuses a second connection while one is attached; Ctrl-C interrupts; kill ends the run', async () => {
    const h = await startHypemu('bench-loop');
    const a = await RspClient.connect(h.port);
    cleanups.push(() => a.close());
    expect(await a.request('qSupported:multiprocess+')).toContain('PacketSize=');
    await a.startNoAck();
    const b = await RspClient.connect(h.port);
    cleanups.push(() => b.close());
    await b.waitClosed(); // refused cleanly: closed at once, no packet
    expect(h.stderr()).toContain('refused connection');
    expect(await a.request('?')).toMatch(/^T05thread:01;20:0000084000000000;$/);
    a.send('c');
    expect(await a.silentFor(300)).toBe(true); // running
    a.write('\x03');
    const stop = await a.nextPacket(5000);
    expect(stop).toMatch(/^T02thread:01;20:[0-9a-f]{16};$/);
    expect(await a.request('m10,4')).toMatch(/^E/); // unmapped: an error reply, not a crash
    a.send('k');
    expect(await h.done).toBe(0);
    expect(h.stderr()).toContain('killed from the debugger');
  });

  it('determinism: 40 breakpoint hits in a hot loop and steps leave instruction count and console unchanged', async () => {
    const plain = await hypemu(['run', guest('sysreg-storm')], { stats: true });
    expect(plain.status).toBe(0);
    const h = await startHypemu('sysreg-storm');
    const c = await RspClient.connect(h.port);
    cleanups.push(() => c.close());
    await c.request('qSupported');
    await c.startNoAck();
    // The UART transmit loop runs once per character: a breakpoint there is hit many times.
    const putc = lstAddress('sysreg-storm', /^str\s+w\d+, \[x\d+\]/, 'puts');
    expect(await c.request(`Z0,${putc.toString(16)},4`)).toBe('OK');
    for (let i = 0; i < 40; i++) {
      const r = await c.request('c', 120_000); // generous: at load 36 a 30 s wait for one breakpoint hit ran out
      expect(r).toBe(`T05thread:01;20:${leHex(putc)};`);
      if (i % 10 === 0) expect(await c.request('s')).toMatch(/^T05/);
    }
    expect(await c.request(`z0,${putc.toString(16)},4`)).toBe('OK');
    expect(await c.request('vCont;s:1')).toMatch(/^T05/);
    const end = await c.request('c', 120_000);
    expect(end).toMatch(/^W/);
    expect(await h.done).toBe(plain.status);
    expect(h.stdout()).toBe(plain.stdout);
    expect(stats(h).instructions).toBe(plain.stats!.instructions);
  }, 240_000); // two runs of sysreg-storm and 40 round trips: over 60 s at load 24
});

function leHex(v: bigint): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += Number((v >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0');
  return s;
}
