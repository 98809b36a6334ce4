/**
 * Virtual time, with one owner: the vCPU's clock. It moves only when
 * instructions retire (1 ns each, as QEMU's -icount shift=0) or when the CPU
 * waits in WFI for a timer deadline (idle time), never with the host clock, so
 * two runs of the same image see the same time. The debugger and the
 * statistics read it; only the vCPU's run loop advances it.
 */
import type { SysregCatalogue } from './sysreg-catalogue.js';
import { ARCH_SYSREGS } from './sysreg-rows.js';

/** Generic-timer frequency the guest sees in CNTFRQ_EL0: 62.5 MHz, QEMU virt's value. */
export const CNTFRQ_HZ = 62_500_000;
/** Virtual time per retired instruction (1 ns, as QEMU's -icount shift=0). */
export const NS_PER_INSN = 1;

/**
 * The generic timer's counters are virtual time, which the vCPU owns: it answers them (`read`),
 * never the host clock; CNTFRQ_EL0 is CNTFRQ_HZ. Writes are ignored.
 */
export function answerCounters(sysregs: SysregCatalogue, read: () => bigint): void {
  sysregs.register(
    ARCH_SYSREGS.filter((d) => d.group === 'TIMER' && d.storage === 'device'),
    { read: (e) => (e.name === 'CNTFRQ_EL0' ? BigInt(CNTFRQ_HZ) : read()), write: () => {} },
    { replace: true },
  );
}

export class VirtualClock {
  private retiredCount = 0;
  private idle = 0;
  /** Instructions retired before the current slice began, and whether one is running. */
  private sliceBase = 0;
  private inSlice = false;

  /** `started()` is Unicorn's count of instructions started in the current slice. */
  constructor(private readonly started: () => number) {}

  /** Retired instructions, exact between slices. */
  get instructions(): number {
    return this.retiredCount;
  }

  /**
   * Virtual nanoseconds not accounted for by instructions: skipped while the
   * CPU waited in WFI for a timer, and warped by counter polling (warpNs).
   */
  get idleNs(): number {
    return this.idle;
  }
  /** The part of idleNs added by the counter-polling warp, and how many reads warped. */
  warpNs = 0;
  warps = 0;

  /** Is a slice running (are we inside a Unicorn hook)? */
  get running(): boolean {
    return this.inSlice;
  }

  /**
   * Instructions retired so far. Inside a slice (in a hook) that includes the
   * part of the slice already run, from Unicorn's counter (the instruction
   * being executed has started but not retired).
   */
  get current(): number {
    if (!this.inSlice) return this.retiredCount;
    return this.sliceBase + Math.max(0, this.started() - 1);
  }

  get ns(): number {
    return this.current * NS_PER_INSN + this.idle;
  }

  /** CNTPCT_EL0 derived from virtual time (62.5 MHz = one tick per 16 ns). */
  get counter(): bigint {
    return (BigInt(this.ns) * BigInt(CNTFRQ_HZ)) / 1_000_000_000n;
  }

  /** Counter ticks (62.5 MHz) to virtual nanoseconds. */
  ticksToNs(ticks: bigint): number {
    return (Number(ticks) * 1_000_000_000) / CNTFRQ_HZ;
  }

  // ---- the run loop's side

  beginSlice(): void {
    this.sliceBase = this.retiredCount;
    this.inSlice = true;
  }

  endSlice(): void {
    this.inSlice = false;
  }

  retire(n: number): void {
    this.retiredCount += n;
  }

  /** A stop inside a slice at a known instruction count (a breakpoint hook): what had retired then is exact. */
  settleAt(instructions: number): void {
    this.retiredCount = instructions;
  }

  /** WFI: time passes without instructions. */
  wait(ns: number): void {
    if (ns > 0) this.idle += Math.ceil(ns);
  }

  /** Counter polling: time jumps forward by `ns` (CounterPollWarp.read decides when). */
  warp(ns: number): void {
    this.idle += ns;
    this.warpNs += ns;
    this.warps++;
  }
}

/** Counter polling warp: what counts as polling, and the step. */
const POLL_MAX_GAP = 32;
const POLL_FIRST_STEP_NS = 1_000;
const POLL_MAX_STEP_NS = 1_000_000;

/** The timers the warp must not jump past. */
interface DeadlineSource {
  update(): void;
  nextDeadline(): bigint | null;
}

/**
 * Counter polling warp: a busy-wait (`while (cntvct - start < n)`) would cost
 * a JavaScript round trip per read at 1 ns per instruction, so a 100 ms delay
 * is 100M instructions of polling. When a read comes from the same PC as the
 * previous read, at most POLL_MAX_GAP instructions later, with no exit and no
 * exception in between, the guest is polling: virtual time jumps forward by a
 * step that doubles from POLL_FIRST_STEP_NS up to POLL_MAX_STEP_NS, never past
 * the next timer deadline (a timer due meanwhile still fires on time; the
 * slice then ends so the run loop sees it). Any other event resets the step.
 * Like QEMU's icount warp, but decided only by the guest's own instruction
 * stream, so runs stay bit-for-bit deterministic. A guest cannot tell this
 * from a CPU that was slow to come back from a WFE.
 */
export class CounterPollWarp {
  private pollPc = -1;
  private pollInsns = 0;
  private pollEvents = -1;
  private pollStepNs = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly timers: () => DeadlineSource | null,
    private readonly endSlice: () => void,
  ) {}

  /** A counter read at `pc` after `events` exits and exceptions: the counter value, after any warp. */
  read(pc: number, events: number): bigint {
    const clock = this.clock;
    const now = clock.current;
    if (pc === this.pollPc && events === this.pollEvents && now - this.pollInsns <= POLL_MAX_GAP) {
      this.pollStepNs = this.pollStepNs === 0 ? POLL_FIRST_STEP_NS : Math.min(this.pollStepNs * 2, POLL_MAX_STEP_NS);
      let step = this.pollStepNs;
      const timers = this.timers();
      timers?.update();
      const dl = timers?.nextDeadline() ?? null;
      if (dl !== null) step = Math.min(step, Math.max(0, Math.floor(clock.ticksToNs(dl) - clock.ns)));
      if (step > 0) {
        clock.warp(step);
        // The slice was sized to end at the deadline in instructions: end it
        // now so the run loop re-evaluates the timers at the new time.
        if (dl !== null && clock.running) this.endSlice();
      }
    } else {
      this.pollStepNs = 0;
    }
    this.pollPc = pc;
    this.pollInsns = now;
    this.pollEvents = events;
    return clock.counter;
  }
}
