// SMP groundwork: the deterministic round-robin scheduler (emulator/cpu/smp-scheduler.ts) and
// the PSCI power-state model (hyp/psci-power.ts, Arm DEN0022).
import { describe, expect, it } from 'vitest';
import { SmpScheduler, type SchedCpu } from '../../emulator/cpu/smp-scheduler.js';
import { AFFINITY, PSCI_RET_SMP, PsciPower, mpidrAffinity } from '../../hyp/psci-power.js';

/** A fake vCPU: runs `work` instructions, then idles (WFI) unless `pending`; optional timer deadline. */
class FakeCpu implements SchedCpu {
  powered = true;
  insns = 0;
  idleNs = 0;
  pending = false;
  deadline: number | null = null;
  log: string[];
  constructor(readonly id: number, public work: number, log: string[]) {
    this.log = log;
  }
  get timeNs(): number {
    return this.insns + this.idleNs;
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
  runFor(n: number): 'ran' | 'idle' | 'off' | 'halt' {
    this.pending = false;
    if (this.deadline !== null && this.deadline <= this.timeNs) this.deadline = null;
    const k = Math.min(n, this.work);
    this.insns += k;
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
    for (let i = 0; i < 3; i++) expect(s.round()).toBe('ran');
    expect(log).toEqual(['0:100@100', '1:100@100', '0:100@200', '1:100@200', '0:100@300', '1:100@300']);
    expect(s.quanta).toEqual([3, 3]);
  });
  it('skips powered-off and idle vCPUs; an idle vCPU wakes on a pending interrupt and catches up to the machine time', () => {
    const log: string[] = [];
    const a = new FakeCpu(0, 1e9, log);
    const b = new FakeCpu(1, 50, log);
    const c = new FakeCpu(2, 1e9, log);
    c.powered = false;
    const s = new SmpScheduler([a, b, c], 100);
    s.round(); // b idles after 50
    s.round(); // b skipped
    expect(log).toEqual(['0:100@100', '1:50@50', '0:100@200']);
    b.pending = true; // an SGI from vCPU 0
    b.work = 100;
    s.round();
    expect(log.slice(3)).toEqual(['0:100@300', '1:100@300']); // caught up to 200 (the machine time when the round began), then ran 100
  });
  it('when every vCPU idles, time jumps to the earliest timer deadline; with none, the machine is idle', () => {
    const log: string[] = [];
    const a = new FakeCpu(0, 10, log);
    const b = new FakeCpu(1, 10, log);
    const s = new SmpScheduler([a, b], 100);
    s.round();
    expect(s.round()).toBe('idle');
    b.deadline = 5000;
    b.work = 10;
    expect(s.round()).toBe('ran'); // time jump
    expect(a.timeNs).toBe(5000);
    expect(b.timeNs).toBe(5000);
    s.round();
    expect(log.at(-1)).toBe('1:10@5010');
  });
  it('is deterministic: the same inputs give the same schedule', () => {
    const run = () => {
      const log: string[] = [];
      const cpus = [new FakeCpu(0, 12345, log), new FakeCpu(1, 777, log), new FakeCpu(2, 5000, log)];
      const s = new SmpScheduler(cpus, 1000);
      for (let i = 0; i < 20; i++) s.round();
      return log.join(' ');
    };
    expect(run()).toBe(run());
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
