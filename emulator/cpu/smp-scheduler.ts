/**
 * Deterministic SMP scheduling for `--smp N`: one CPU core (Unicorn instance) per vCPU over the
 * same guest RAM, run one at a time, round robin, in fixed instruction quanta. Nothing depends on
 * host timing, so two runs of the same image and options execute the same instructions on the
 * same vCPU at the same virtual time and print the same bytes.
 *
 * The rules (what a user debugging an SMP guest needs to know):
 * - Quantum: each powered-on, runnable vCPU runs QUANTUM instructions per round, in vCPU order
 *   (0, 1, ..., N-1). A vCPU's quantum ends early when it halts the machine, powers off (PSCI
 *   CPU_OFF) or goes idle (WFI with nothing pending).
 * - Virtual time: each vCPU's clock is its retired instructions (1 ns each) plus time spent idle.
 *   Running vCPUs stay within one quantum of each other. The machine's time is the latest of
 *   them; a vCPU that was idle (or powered off) catches up to it when it becomes runnable, so the
 *   generic timer never goes backwards between CPUs by more than a quantum.
 * - WFI: an idle vCPU is skipped until an interrupt is pending for it or its next timer deadline
 *   is reached by the machine's time. When every powered vCPU is idle, virtual time jumps to the
 *   earliest deadline (as one vCPU's WFI does alone); with no deadline at all the machine is
 *   idle until outside input (console) arrives.
 * - Interrupts between vCPUs (an SGI, an SPI routed elsewhere, a CPU_ON) take effect when the
 *   target is next scheduled: at most (N - 1) quanta of virtual latency, always the same.
 */

/** Instructions per vCPU per round (10 us of virtual time). */
export const QUANTUM = 10_000;

/** What the scheduler needs from a vCPU. */
export interface SchedCpu {
  /** Powered on (PSCI): only powered vCPUs run. */
  readonly powered: boolean;
  /** Run up to n instructions: 'ran' (quantum used up), 'idle' (WFI with nothing pending), 'off' (it powered off), 'halt' (the machine stops). */
  runFor(n: number): 'ran' | 'idle' | 'off' | 'halt';
  /** This vCPU's virtual time (ns). */
  readonly timeNs: number;
  /** Advance this vCPU's clock (idle time) to `ns` if it is behind. */
  catchUp(ns: number): void;
  /** Is an interrupt pending for this vCPU (it would wake from WFI)? */
  interruptPending(): boolean;
  /** Virtual time (ns) of its next timer deadline, or null. */
  nextDeadlineNs(): number | null;
}

export type RoundResult = 'ran' | 'halt' | 'idle';

export class SmpScheduler {
  /** vCPUs idle in WFI (skipped until woken). */
  private readonly idle: boolean[];
  /** Rounds and quanta run, per vCPU (statistics). */
  readonly quanta: number[];

  constructor(private readonly cpus: readonly SchedCpu[], private readonly quantum = QUANTUM) {
    if (cpus.length < 1) throw new RangeError('SmpScheduler: no vCPUs');
    this.idle = cpus.map(() => false);
    this.quanta = cpus.map(() => 0);
  }

  /** The machine's virtual time: the latest powered vCPU clock. */
  get nowNs(): number {
    let t = 0;
    for (const c of this.cpus) if (c.powered && c.timeNs > t) t = c.timeNs;
    return t;
  }

  private wakes(i: number, now: number): boolean {
    const c = this.cpus[i]!;
    if (c.interruptPending()) return true;
    const dl = c.nextDeadlineNs();
    return dl !== null && dl <= now;
  }

  /**
   * One round: every runnable vCPU in order runs one quantum. 'idle' when nothing could run and
   * no deadline exists (only outside input can wake the machine); 'halt' when a vCPU stopped it.
   */
  round(): RoundResult {
    const now = this.nowNs;
    let ran = false;
    for (let i = 0; i < this.cpus.length; i++) {
      const c = this.cpus[i]!;
      if (!c.powered) {
        this.idle[i] = false;
        continue;
      }
      if (this.idle[i]) {
        if (!this.wakes(i, this.nowNs)) continue;
        this.idle[i] = false;
      }
      c.catchUp(now);
      this.quanta[i]!++;
      const r = c.runFor(this.quantum);
      ran = true;
      if (r === 'halt') return 'halt';
      if (r === 'idle') this.idle[i] = true;
    }
    if (ran) return 'ran';
    // Everyone powered is idle: jump to the earliest deadline (or wait for input).
    let earliest: number | null = null;
    for (let i = 0; i < this.cpus.length; i++) {
      const c = this.cpus[i]!;
      if (!c.powered) continue;
      if (c.interruptPending()) return 'ran'; // woken by something outside (input) since: run next round
      const dl = c.nextDeadlineNs();
      if (dl !== null && (earliest === null || dl < earliest)) earliest = dl;
    }
    if (earliest === null) return 'idle';
    for (const c of this.cpus) if (c.powered) c.catchUp(earliest);
    return 'ran';
  }

  /** Mark a vCPU runnable (it was just powered on, or outside input arrived for it). */
  wake(i: number): void {
    this.idle[i] = false;
  }
}
