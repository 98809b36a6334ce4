/**
 * Deterministic SMP scheduling for `--smp N`: one CPU core (Unicorn instance) per vCPU over the
 * same guest RAM, run one at a time, round robin, in fixed instruction quanta. Nothing depends on
 * host timing, so two runs of the same image and options execute the same instructions on the
 * same vCPU at the same virtual time and print the same bytes.
 *
 * The rules (what a user debugging an SMP guest needs to know):
 * - Quantum: each powered-on, runnable vCPU runs QUANTUM instructions per round, in vCPU order
 *   (0, 1, ..., N-1). A vCPU's quantum ends early when it halts the machine, powers off (PSCI
 *   CPU_OFF), goes idle (WFI or CPU_SUSPEND with nothing pending) or yields (a WFE the EL2 model
 *   is told about: Unicorn 2.1.1 runs WFE and YIELD as NOPs, so an untrapped WFE loop spins and
 *   is the spin warp's case below).
 * - Virtual time: the vCPUs run side by side, as on hardware: each vCPU's clock is its retired
 *   instructions (1 ns each) plus the time it did not run (idle, powered off, or waiting for its
 *   turn). At the start of a round every vCPU about to run catches up to the machine's time,
 *   the latest clock of a powered vCPU, so a round of N busy vCPUs moves time by one quantum,
 *   not N, and no two clocks differ by more than one quantum (plus counter-polling warps).
 * - WFI: an idle vCPU is skipped until an interrupt is pending for it or its next timer deadline
 *   is reached by the machine's time (it then runs at the next round: at most one round late).
 *   When a whole round passes with every powered vCPU idle, time jumps to the earliest deadline
 *   (as one vCPU's WFI does alone), or, when paceIdle says so (the guest listens for console
 *   input that may still come), returns 'idle' and lets the caller wait for that deadline on the
 *   host clock (machine/idle-wait.ts); with no deadline at all the machine is idle until outside
 *   input (console) arrives.
 * - Wake-ups (hand-over): when a vCPU's instruction raises another powered vCPU's IRQ line (an
 *   SGI through ICC_SGI1R_EL1 or GICD_SGIR, an LPI from an ITS INT/MSI, an SPI routed there),
 *   or powers another vCPU on (PSCI CPU_ON), the sender's quantum ends right after that
 *   instruction and the round goes on in vCPU order (with two vCPUs the target runs next; a
 *   target numbered below the sender starts the next round). A target idle in WFI returns from
 *   it at once, its clock caught up to the sender's. The target's quantum in turn ends at its
 *   next EOI (ICC_EOIR*_EL1, GICC_EOIR) or when it waits again, so the turn comes back. An IPI
 *   round trip therefore costs the instructions the two vCPUs execute, not a quantum each
 *   (kvm-unit-tests micro-bench ipi/lpi). These decisions depend only on guest instructions
 *   (which instruction pended what), never on host time.
 * - Spin warp: a vCPU whose last SPIN_QUANTA full quanta made no exit and took no exception
 *   and each ended inside a short loop that only loads, computes in registers, branches and
 *   waits with YIELD or WFE (emulator/cpu/spin-loop.ts) is spinning: nothing it runs can change
 *   what another vCPU sees.
 *   At the end of a round in which every powered vCPU is idle (WFI) or spinning, at least one
 *   spins and no interrupt is pending for any, only a timer can end the wait: the machine's
 *   time jumps to the earliest timer deadline of a powered vCPU, every powered vCPU catching up
 *   to it (as when all idle), so a wait of 10 ms costs a round, not 10M instructions per vCPU
 *   (kvm-unit-tests micro-bench timer_10ms). At most one warp per deadline (a timer whose
 *   condition is met has none), none without a deadline (the vCPUs spin on, as on QEMU). The
 *   decision reads only guest state at quantum ends, never host time.
 * - An interrupt that is already pending or masked takes effect when the target is next
 *   scheduled: at most one round of virtual latency, always the same.
 * - A run may stop at any instruction count (a turn of the host event loop, a pause, the
 *   instruction limit): the scheduler resumes the same vCPU's quantum where it stopped, so the
 *   interleaving never depends on where the caller stopped.
 */

import { applyState, captureState, SnapshotFormatError, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

/** Instructions per vCPU per round (10 us of virtual time). */
export const QUANTUM = 10_000;
/**
 * Full quanta in a row a vCPU must end spinning before a spin warp counts it: with two, a vCPU
 * that wrote memory and then began to spin in the same quantum has spun a whole quantum more,
 * so every other vCPU has run a quantum since the write and seen it.
 */
export const SPIN_QUANTA = 2;

/** Why a vCPU's runFor returned: its budget ran out ('ran'), it idles, yields, powered off, halted the machine, or was paused from outside. */
export type CpuRunResult = 'ran' | 'idle' | 'yield' | 'off' | 'halt' | 'paused';

/** What the scheduler needs from a vCPU. */
export interface SchedCpu {
  /** Powered on (PSCI): only powered vCPUs run. */
  readonly powered: boolean;
  /** Retired instructions. */
  readonly instructions: number;
  /** Run up to n instructions. */
  runFor(n: number): CpuRunResult;
  /** This vCPU's virtual time (ns). */
  readonly timeNs: number;
  /** Advance this vCPU's clock (idle time) to `ns` if it is behind. */
  catchUp(ns: number): void;
  /** Is an interrupt pending for this vCPU (it would wake from WFI)? */
  interruptPending(): boolean;
  /** Virtual time (ns) of its next timer deadline, or null. */
  nextDeadlineNs(): number | null;
  /** Exits and exceptions so far (a quantum with none, ending in a spin loop, spins). */
  readonly events: number;
  /** Is its PC inside a spin loop (emulator/cpu/spin-loop.ts)? */
  inSpinLoop(): boolean;
}

/**
 * 'ran': the budget was used (or the caller should look: a pause); 'halt': a vCPU stopped the
 * machine; 'idle': every powered vCPU waits and nothing inside the machine can wake one; 'off':
 * no vCPU is powered.
 */
export type SchedResult = 'ran' | 'halt' | 'idle' | 'off' | 'paused';

export class SmpScheduler implements Snapshottable {
  /** vCPUs idle in WFI (skipped until woken). */
  private readonly idle: boolean[];
  /** Quanta started, per vCPU (statistics). */
  readonly quanta: number[];
  /** Quanta ended early because the vCPU woke another one (statistics). */
  handovers = 0;
  /** Each vCPU's events when its current quantum began, and its full quanta in a row that ended spinning. */
  private readonly quantumEvents: number[];
  private readonly spinStreak: number[];
  /** Spin warps (statistics): how many, and the virtual time they skipped. */
  spinWarps = 0;
  spinWarpNs = 0;
  /** The vCPU handed the turn by a wake-up, until its next EOI or the end of its quantum (-1: none). */
  handedTo = -1;
  /** Each vCPU's IRQ line as last seen (a wake-up is a rising edge: machine/smp.ts). */
  readonly lines: boolean[];
  /** Whose turn it is, and what is left of its quantum (=== quantum: not started). */
  private pos = 0;
  private left: number;
  /** The machine's time when the current round began (every vCPU starting a quantum catches up to it). */
  private roundNs = 0;
  private ranInRound = false;
  /**
   * Asked when every powered vCPU idles and a timer deadline would end the wait: true = the wait
   * passes on the host clock (the guest listens for console input that may still come): run()
   * returns 'idle' with idleDeadlineNs set, and endIdleWait moves time. Null or false: time jumps.
   */
  paceIdle: (() => boolean) | null = null;
  /** The machine time (ns) a paced idle wait ends at (the earliest deadline), or null. */
  idleDeadlineNs: number | null = null;

  constructor(
    private readonly cpus: readonly SchedCpu[],
    readonly quantum = QUANTUM,
  ) {
    if (cpus.length < 1) throw new RangeError('SmpScheduler: no vCPUs');
    if (!Number.isInteger(quantum) || quantum < 1) throw new RangeError('SmpScheduler: the quantum is a positive instruction count');
    this.idle = cpus.map(() => false);
    this.quanta = cpus.map(() => 0);
    this.lines = cpus.map(() => false);
    this.quantumEvents = cpus.map(() => 0);
    this.spinStreak = cpus.map(() => 0);
    this.left = quantum;
  }

  /**
   * Machine snapshots: whose turn it is and what is left of its quantum, the round's start time,
   * the idle set and the quanta counted, so a restored run resumes the same quantum at the same
   * instruction and the interleaving goes on as in the run that saved it.
   */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['cpus']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx, 'SmpScheduler');
    if (this.quanta.length !== this.cpus.length || this.idle.length !== this.cpus.length) throw new SnapshotFormatError(`scheduler: the snapshot has ${this.quanta.length} vCPUs, this machine ${this.cpus.length}`);
  }

  /** The machine's virtual time: the latest powered vCPU clock. */
  get nowNs(): number {
    let t = 0;
    for (const c of this.cpus) if (c.powered && c.timeNs > t) t = c.timeNs;
    return t;
  }

  /** Retired instructions of every vCPU. */
  get instructions(): number {
    let n = 0;
    for (const c of this.cpus) n += c.instructions;
    return n;
  }

  /** Mark a vCPU runnable (it was just powered on, or outside input arrived for it). */
  wake(i: number): void {
    this.idle[i] = false;
  }

  /**
   * vCPU `from`, running, made an interrupt pending for vCPU `to` (or powered it on): the
   * caller ends `from`'s quantum; `to` runs until its next EOI. An idle `to` was idle until
   * now, so its clock moves to the sender's (it never handles the interrupt before it was sent).
   */
  wokeBy(from: number, to: number): void {
    this.handovers++;
    this.handedTo = to;
    if (this.idle[to]) this.cpus[to]!.catchUp(this.cpus[from]!.timeNs);
  }

  isIdle(i: number): boolean {
    return this.idle[i]!;
  }

  private wakes(i: number): boolean {
    const c = this.cpus[i]!;
    if (c.interruptPending()) return true;
    const dl = c.nextDeadlineNs();
    return dl !== null && dl <= this.nowNs;
  }

  /**
   * Run vCPUs, in turn, until `budget` instructions (all vCPUs together) have retired, a vCPU
   * halts the machine or is paused, or nothing can run.
   */
  run(budget: number): SchedResult {
    // A paced wait nobody ended (the caller did not wait): it ends at its deadline, as unpaced.
    if (this.idleDeadlineNs !== null) this.endIdleWait(this.idleDeadlineNs);
    let used = 0;
    const q = this.quantum;
    while (used < budget) {
      if (this.pos === this.cpus.length) {
        this.pos = 0;
        if (!this.ranInRound) {
          const r = this.allIdle();
          if (r !== 'ran') return r;
        } else {
          this.spinWarp();
        }
        this.ranInRound = false;
      }
      const i = this.pos;
      const c = this.cpus[i]!;
      if (this.left === q) {
        if (i === 0) this.roundNs = this.nowNs;
        if (!c.powered) {
          this.spinStreak[i] = 0;
          this.idle[i] = false;
          this.pos++;
          continue;
        }
        if (this.idle[i]) {
          this.spinStreak[i] = 0;
          if (!this.wakes(i)) {
            this.pos++;
            continue;
          }
          this.idle[i] = false;
        }
        c.catchUp(this.roundNs);
        this.quanta[i]!++;
        this.quantumEvents[i] = c.events;
      }
      const before = c.instructions;
      const r = c.runFor(Math.min(this.left, budget - used));
      const ran = c.instructions - before;
      used += ran;
      this.left -= ran;
      this.ranInRound = true;
      if (r === 'halt') return 'halt';
      if (r === 'paused') return 'paused';
      if (r === 'idle') this.idle[i] = true;
      if (r !== 'ran' || this.left <= 0) {
        // A full quantum with no exit or exception, ending in a spin loop: spinning (spinWarp).
        const spins = r === 'ran' && this.left <= 0 && c.events === this.quantumEvents[i] && c.inSpinLoop();
        this.spinStreak[i] = spins ? this.spinStreak[i]! + 1 : 0;
        this.pos++;
        this.left = q;
      }
    }
    return 'ran';
  }

  /** A whole round passed and no vCPU ran: wake one, jump to the earliest deadline, or report idle/off. */
  private allIdle(): SchedResult | 'ran' {
    let earliest: number | null = null;
    let powered = false;
    for (let i = 0; i < this.cpus.length; i++) {
      const c = this.cpus[i]!;
      if (!c.powered) continue;
      powered = true;
      if (c.interruptPending()) return 'ran'; // woken since its turn (console input): it runs this round
      const dl = c.nextDeadlineNs();
      if (dl !== null && (earliest === null || dl < earliest)) earliest = dl;
    }
    if (!powered) return 'off';
    if (earliest === null) return 'idle';
    if (this.paceIdle?.() === true) {
      this.idleDeadlineNs = earliest;
      return 'idle';
    }
    for (const c of this.cpus) if (c.powered) c.catchUp(earliest);
    return 'ran';
  }

  /**
   * The end of a round in which some vCPU ran: when every powered vCPU is idle or spinning, at
   * least one spins and no interrupt is pending, time jumps to the earliest deadline (header).
   */
  private spinWarp(): void {
    let earliest: number | null = null;
    let spins = false;
    for (let i = 0; i < this.cpus.length; i++) {
      const c = this.cpus[i]!;
      if (!c.powered) continue;
      const spinning = this.spinStreak[i]! >= SPIN_QUANTA;
      if (!this.idle[i] && !spinning) return;
      spins ||= spinning;
      if (c.interruptPending()) return;
      const dl = c.nextDeadlineNs();
      if (dl !== null && (earliest === null || dl < earliest)) earliest = dl;
    }
    const now = this.nowNs;
    if (!spins || earliest === null || earliest <= now) return;
    this.spinWarps++;
    this.spinWarpNs += earliest - now;
    for (const c of this.cpus) if (c.powered) c.catchUp(earliest);
  }

  /** End a paced idle wait: the machine's time moves to `ns`, at most the deadline it waited for. */
  endIdleWait(ns: number): void {
    const deadline = this.idleDeadlineNs;
    if (deadline === null) return;
    this.idleDeadlineNs = null;
    const to = Math.min(ns, deadline);
    for (const c of this.cpus) if (c.powered) c.catchUp(to);
  }
}
