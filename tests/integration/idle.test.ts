// Issue 10, "Idle": a guest idle in WFI waiting for console input does not spin a host core,
// with no timer armed (it sleeps until input) and with one armed (the wait passes on the host
// clock while the guest listens for input: machine/idle-wait.ts), and virtual time, idle
// included, follows the host clock there instead of racing ahead. The guest (uart-wait) takes
// PL011 receive interrupts; 't' arms a 10 ms periodic timer, 'q' ends it.
// Bounds are generous (a shared 2-core machine): before this, the no-timer wait went through
// millions of WFI exits and the timer wait ran ~300 s of virtual time per host second.
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, guest } from './helpers.js';

/** user + system CPU seconds of a process (/proc/PID/stat fields 14 and 15, in clock ticks). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDLE_MS = 2500;

describe('idle waiting for console input (uart-wait)', () => {
  it('sleeps with no timer armed and with one armed; virtual time follows the host clock', async () => {
    const stats = join(mkdtempSync(join(tmpdir(), 'hypemu-idle-')), 'stats.json');
    const t0 = process.hrtime.bigint();
    const child = spawn('node', [CLI, 'run', guest('uart-wait'), '--stats-json', stats], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((r) => child.on('close', r));
    const waitFor = async (text: string) => {
      for (let i = 0; i < 3000 && !out.includes(text); i++) await sleep(20);
      expect(out, err).toContain(text);
    };
    /** CPU seconds the process used over IDLE_MS of host time. */
    const idleCpu = async () => {
      const c0 = cpuSeconds(child.pid!);
      await sleep(IDLE_MS);
      return cpuSeconds(child.pid!) - c0;
    };
    try {
      await waitFor('uart-wait: ready');
      const noTimer = await idleCpu();
      child.stdin.write('t');
      await waitFor('timer armed: 10 ms');
      const withTimer = await idleCpu();
      child.stdin.end('q');
      expect(await closed, err).toBe(0);
      const wallNs = Number(process.hrtime.bigint() - t0);
      expect(out).toContain("got 't'\ntimer armed: 10 ms\ngot 'q'\nuart-wait: 2 characters\n");
      // A spinning process uses the whole IDLE_MS (or whatever share of a core the load leaves it).
      expect(noTimer, `CPU over ${IDLE_MS} ms idle, no timer`).toBeLessThan(0.25 * (IDLE_MS / 1000));
      expect(withTimer, `CPU over ${IDLE_MS} ms idle, 10 ms timer`).toBeLessThan(0.25 * (IDLE_MS / 1000));
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      // The no-timer wait is one wait, not a WFI trap per turn of a spinning loop.
      expect(s.exits.byReason.wfx).toBeLessThan(2000);
      // Virtual time includes the idle time (about IDLE_MS of it, paced) and no more than the host's.
      expect(s.virtualTimeNs).toBe(s.instructions + s.idleNs);
      expect(s.idleNs).toBeGreaterThan(0.5 * IDLE_MS * 1e6);
      expect(s.virtualTimeNs).toBeLessThan(wallNs);
      // Timer ticks: about one per 10 ms of paced idle, not thousands.
      expect(s.exits.byReason.irq).toBeLessThan((wallNs / 10e6) * 1.5 + 10);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);

  it('with the input ended and no timer armed, the run ends: it can never wake (status 125)', async () => {
    const child = spawn('node', [CLI, 'run', guest('uart-wait')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end('x');
    const status = await new Promise<number | null>((r) => child.on('close', r));
    expect(status, err).toBe(125);
    expect(out).toContain("got 'x'\n"); // piped before the guest was ready: it waited on the wire (RTS)
    expect(err).toContain('can never wake');
  }, 120_000);
});
