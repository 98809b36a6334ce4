/**
 * Virtual time, with one owner: the vCPU's clock. It moves only when
 * instructions retire (1 ns each, as QEMU's -icount shift=0) or when the CPU
 * waits in WFI for a timer deadline (idle time), never with the host clock, so
 * two runs of the same image see the same time. The debugger and the
 * statistics read it; only the vCPU's run loop advances it.
 */

/** Generic-timer frequency the guest sees in CNTFRQ_EL0: 62.5 MHz, QEMU virt's value. */
export const CNTFRQ_HZ = 62_500_000;
/** Virtual time per retired instruction (1 ns, as QEMU's -icount shift=0). */
export const NS_PER_INSN = 1;

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

  /** Counter polling: time jumps forward by `ns` (Vcpu.guestCounterRead decides when). */
  warp(ns: number): void {
    this.idle += ns;
    this.warpNs += ns;
    this.warps++;
  }
}
