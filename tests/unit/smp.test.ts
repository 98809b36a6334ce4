// SMP groundwork: the deterministic round-robin scheduler (emulator/cpu/smp-scheduler.ts) and
// the PSCI power-state model (hyp/psci-power.ts, Arm DEN0022).
import { describe, expect, it } from 'vitest';
import { SmpScheduler, SPIN_QUANTA, type CpuRunResult, type SchedCpu } from '../../emulator/cpu/smp-scheduler.js';
import { AFFINITY, PSCI_RET_SMP, PsciPower, mpidrAffinity } from '../../hyp/psci-power.js';

/** A fake vCPU: runs `work` instructions, then idles (WFI) unless `pending`; optional timer deadline. */
class FakeCpu implements SchedCpu {
  powered = true;
  instructions = 0;
  idleNs = 0;
  pending = false;
  deadline: number | null = null;
  /** Exits and exceptions (a test bumps it from `onRun`); whether its PC is in a spin loop. */
  events = 0;
  spin = false;
  onRun: (() => void) | null = null;
  log: string[];
  constructor(readonly id: number, public work: number, log: string[]) {
    this.log = log;
  }
  get timeNs(): number {
    return this.instructions + this.idleNs;
  }
  catchUp(ns: number): void {
    if (ns > this.timeNs) this.idleNs += ns - this.timeNs;
  }
  interruptPending(): boolean {
    return this.pending || (this.deadline !== null && this.deadline <= this.timeNs);
  }
  nextDeadlineNs(): number | null {
    return this.deadline;
  }
  inSpinLoop(): boolean {
    return this.spin;
  }
  runFor(n: number): CpuRunResult {
    this.onRun?.();
    this.pending = false;
    if (this.deadline !== null && this.deadline <= this.timeNs) this.deadline = null;
    const k = Math.min(n, this.work);
    this.instructions += k;
    this.work -= k;
    this.log.push(`${this.id}:${k}@${this.timeNs}`);
    return k === n ? 'ran' : 'idle';
  }
}

describe('SmpScheduler: round robin in fixed quanta', () => {
  it('runs vCPUs in order, one quantum each, and keeps their clocks within a quantum', () => {
    const log: string[] = [];
    const cpus = [new FakeCpu(0, 1e9, log), new FakeCpu(1, 1e9, log)];
    const s = new SmpScheduler(cpus, 100);
    expect(s.run(600)).toBe('ran');
    expect(log).toEqual(['0:100@100', '1:100@100', '0:100@200', '1:100@200', '0:100@300', '1:100@300']);
    expect(s.quanta).toEqual([3, 3]);
    expect(s.instructions).toBe(600);
    expect(s.nowNs).toBe(300); // two vCPUs side by side: 600 instructions in 300 ns
  });
  it('a budget that ends inside a quantum resumes the same quantum: the schedule does not depend on where runs stop', () => {
    const whole: string[] = [];
    new SmpScheduler([new FakeCpu(0, 1e9, whole), new FakeCpu(1, 1e9, whole)], 100).run(400);
    const split: string[] = [];
    const a = new FakeCpu(0, 1e9, split);
    const b = new FakeCpu(1, 1e9, split);
    const s = new SmpScheduler([a, b], 100);
    for (const n of [30, 170, 1, 199]) s.run(n);
    expect(a.instructions).toBe(200);
    expect(b.instructions).toBe(200);
    expect(a.timeNs).toBe(200);
    expect(b.timeNs).toBe(200);
    expect(whole).toEqual(['0:100@100', '1:100@100', '0:100@200', '1:100@200']);
    // The same instructions ran on the same vCPUs, in pieces.
    expect(split).toEqual(['0:30@30', '0:70@100', '1:100@100', '0:1@101', '0:99@200', '1:100@200']);
  });
  it('skips powered-off and idle vCPUs; an idle vCPU wakes on a pending interrupt and catches up to the machine time', () => {
    const log: string[] = [];
    const a = new FakeCpu(0, 1e9, log);
    const b = new FakeCpu(1, 50, log);
    const c = new FakeCpu(2, 1e9, log);
    c.powered = false;
    const s = new SmpScheduler([a, b, c], 100);
    s.run(250); // b idles after 50; c is off
    expect(log).toEqual(['0:100@100', '1:50@50', '0:100@200']);
    s.run(100); // b skipped
    expect(log.slice(3)).toEqual(['0:100@300']);
    b.pending = true; // an SGI from vCPU 0
    b.work = 100;
    s.run(200);
    expect(log.slice(4)).toEqual(['1:100@300', '0:100@400']); // b caught up to 200 (the machine time when the round began), then ran 100
  });
  it('when every vCPU idles, time jumps to the earliest timer deadline; with none, the machine is idle; with none powered, off', () => {
    const log: string[] = [];
    const a = new FakeCpu(0, 10, log);
    const b = new FakeCpu(1, 10, log);
    const s = new SmpScheduler([a, b], 100);
    expect(s.run(1000)).toBe('idle');
    b.deadline = 5000;
    b.work = 10;
    s.run(10);
    expect(a.timeNs).toBe(5000); // time jumped for everyone
    expect(log.at(-1)).toBe('1:10@5010');
    a.powered = false;
    b.powered = false;
    expect(s.run(1000)).toBe('off');
  });
  it('paced (the guest listens for input): an all-idle round with a deadline returns idle, and endIdleWait moves time as the jump would', () => {
    const mk = (paced: boolean) => {
      const log: string[] = [];
      const a = new FakeCpu(0, 10, log);
      const b = new FakeCpu(1, 10, log);
      const s = new SmpScheduler([a, b], 100);
      if (paced) s.paceIdle = () => true;
      s.run(1000);
      b.deadline = 5000;
      b.work = 10;
      return { s, a, b, log };
    };
    const jump = mk(false);
    jump.s.run(10);
    const paced = mk(true);
    expect(paced.s.run(10)).toBe('idle');
    expect(paced.s.idleDeadlineNs).toBe(5000);
    expect(paced.a.timeNs).toBe(10); // nothing moved yet: the caller waits on the host first
    paced.s.endIdleWait(5000);
    paced.s.run(10);
    expect(paced.log).toEqual(jump.log);
    expect(paced.a.timeNs).toBe(jump.a.timeNs);
    // Ended early (input came 1000 ns in): time moves only that far; a wait nobody ends ends at its deadline.
    const early = mk(true);
    early.s.run(10);
    early.s.endIdleWait(1010);
    expect(early.a.timeNs).toBe(1010);
    const unended = mk(true);
    unended.s.run(10);
    unended.s.run(10);
    expect(unended.log).toEqual(jump.log);
  });
  it('is deterministic: the same inputs give the same schedule', () => {
    const run = () => {
      const log: string[] = [];
      const cpus = [new FakeCpu(0, 12345, log), new FakeCpu(1, 777, log), new FakeCpu(2, 5000, log)];
      const s = new SmpScheduler(cpus, 1000);
      for (let i = 0; i < 20; i++) s.run(997);
      return log.join(' ');
    };
    expect(run()).toBe(run());
  });
});

describe('SmpScheduler: spin warp (every powered vCPU idle or spinning: time jumps to the next deadline)', () => {
  /** Two vCPUs spinning from the start (no events, PC in a spin loop); vCPU 0 has a timer at `deadline`. */
  const spinners = (deadline: number | null) => {
    const log: string[] = [];
    const a = new FakeCpu(0, 1e12, log);
    const b = new FakeCpu(1, 1e12, log);
    a.spin = b.spin = true;
    a.deadline = deadline;
    return { a, b, s: new SmpScheduler([a, b], 100), log };
  };
  it(`after ${SPIN_QUANTA} full spinning quanta each, the next round starts with every clock at the earliest deadline, once`, () => {
    const { a, b, s } = spinners(1_000_000);
    s.run(200 * SPIN_QUANTA);
    expect(s.spinWarps).toBe(0);
    expect(a.timeNs).toBe(100 * SPIN_QUANTA); // one quantum a round so far
    s.run(100); // the round boundary: the warp, then vCPU 0's quantum at the deadline
    expect(s.spinWarps).toBe(1);
    expect(s.spinWarpNs).toBe(1_000_000 - 100 * SPIN_QUANTA);
    expect(a.timeNs).toBe(1_000_100);
    expect(b.timeNs).toBe(1_000_000);
    s.run(1000); // the deadline was reached: no second warp, a quantum a round again
    expect(s.spinWarps).toBe(1);
    expect(a.timeNs).toBe(1_000_600);
  });
  it('no warp while one vCPU does other work, after a quantum with an exit or exception, with an interrupt pending, or without a deadline', () => {
    const busy = spinners(1_000_000);
    busy.b.spin = false;
    busy.s.run(10_000);
    expect(busy.s.spinWarps).toBe(0);
    expect(busy.a.timeNs).toBe(5000);
    const exits = spinners(1_000_000);
    exits.b.onRun = () => void exits.b.events++;
    exits.s.run(10_000);
    expect(exits.s.spinWarps).toBe(0);
    const pending = spinners(1_000_000);
    pending.b.interruptPending = () => true;
    pending.s.run(10_000);
    expect(pending.s.spinWarps).toBe(0);
    const none = spinners(null);
    none.s.run(10_000);
    expect(none.s.spinWarps).toBe(0);
    expect(none.a.timeNs).toBe(5000);
  });
  it('a vCPU idle in WFI does not stop the warp; its own deadline counts too; off vCPUs are ignored', () => {
    const { a, b, s } = spinners(null);
    b.spin = false;
    b.work = 50; // then WFI, with a timer 2 ms away
    b.deadline = 2_000_000;
    const c = new FakeCpu(2, 1e12, []);
    c.powered = false;
    const s3 = new SmpScheduler([a, b, c], 100);
    void s;
    s3.run(100 * SPIN_QUANTA + 50); // b idles after 50; a spins
    expect(s3.spinWarps).toBe(0);
    s3.run(10);
    expect(s3.spinWarps).toBe(1);
    expect(a.timeNs).toBe(2_000_010);
    expect(b.timeNs).toBe(2_000_000);
    expect(c.timeNs).toBe(0);
  });
  it('is decided at quantum ends only: where the caller splits the run does not change it', () => {
    const whole = spinners(1_000_000);
    whole.s.run(5000);
    const split = spinners(1_000_000);
    for (let i = 0; i < 5000; i += 37) split.s.run(Math.min(37, 5000 - i));
    expect(split.a.timeNs).toBe(whole.a.timeNs);
    expect(whole.s.spinWarps).toBe(1);
    expect(split.s.spinWarps).toBe(whole.s.spinWarps);
  });
});

describe('PSCI power state (DEN0022 5.1.2-5.1.5)', () => {
  it('vCPU 0 starts on, the others off; MPIDR affinity as QEMU virt (16 per cluster)', () => {
    const p = new PsciPower(4);
    expect([0, 1, 2, 3].map((i) => p.state(i))).toEqual(['on', 'off', 'off', 'off']);
    expect(mpidrAffinity(17)).toBe(0x101n);
    expect(p.cpuOf(0x8000_0002n)).toBe(2); // MPIDR_EL1.RES1 bit 31 ignored
    expect(p.cpuOf(7n)).toBe(-1);
  });
  it('CPU_ON: SUCCESS and a start action, then ON_PENDING, ALREADY_ON once started; bad target/entry rejected', () => {
    const p = new PsciPower(2);
    expect(p.cpuOn(5n, 0x4008_0000n, 0n).ret).toBe(PSCI_RET_SMP.INVALID_PARAMETERS);
    expect(p.cpuOn(1n, 0x4008_0002n, 0n).ret).toBe(PSCI_RET_SMP.INVALID_ADDRESS);
    const r = p.cpuOn(1n, 0x4008_0000n, 0xabn);
    expect(r).toEqual({ ret: 0, action: { kind: 'start', cpu: 1, entry: 0x4008_0000n, context: 0xabn } });
    expect(p.affinityInfo(1n, 0n).ret).toBe(AFFINITY.ON_PENDING);
    expect(p.cpuOn(1n, 0x4008_0000n, 0n).ret).toBe(PSCI_RET_SMP.ON_PENDING);
    p.started(1);
    expect(p.cpuOn(1n, 0x4008_0000n, 0n).ret).toBe(PSCI_RET_SMP.ALREADY_ON);
    expect(p.affinityInfo(1n, 0n).ret).toBe(AFFINITY.ON);
    expect(p.onlineCount()).toBe(2);
  });
  it('CPU_OFF stops the caller; AFFINITY_INFO then says OFF; levels above 0 are INVALID_PARAMETERS', () => {
    const p = new PsciPower(2);
    p.cpuOn(1n, 0x4008_0000n, 0n);
    p.started(1);
    expect(p.cpuOff(1).action).toEqual({ kind: 'stop', cpu: 1 });
    expect(p.affinityInfo(1n, 0n).ret).toBe(AFFINITY.OFF);
    expect(p.affinityInfo(1n, 1n).ret).toBe(PSCI_RET_SMP.INVALID_PARAMETERS);
    expect(p.cpuSuspend(0)).toEqual({ ret: 0, action: { kind: 'suspend', cpu: 0 } });
  });
});
