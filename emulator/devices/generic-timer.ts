/**
 * The EL1 timers of the Arm Generic Timer: the EL1 virtual timer (CNTV_*) and the EL1 physical
 * timer (CNTP_*), plus CNTKCTL_EL1. Unicorn keeps these registers but its timers never fire (it
 * has no QEMU main loop), so hypemu models them here.
 *
 * Reference: Arm Architecture Reference Manual for A-profile (DDI 0487), chapter D11 "The Generic
 * Timer in AArch64 state", section "Timers" with its subsections "Operation of the CompareValue
 * views of the timers" and "Operation of the TimerValue views of the timers"; and the register
 * descriptions of CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTV_TVAL_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0,
 * CNTP_TVAL_EL0 and CNTKCTL_EL1.
 *
 * What is modelled:
 * - CompareValue view: TimerConditionMet = (Counter - CVAL) >= 0 with 64-bit unsigned values,
 *   that is CVAL <= Counter (unsigned). Counter is CNTPCT for the physical timer and
 *   CNTVCT = CNTPCT - CNTVOFF (mod 2^64) for the virtual timer.
 * - TimerValue view: a read of TVAL returns (CVAL - Counter)[31:0], sign-extended to 64 bits
 *   (returned as its unsigned 64-bit pattern, as an X register holds it); a write of TVAL sets
 *   CVAL = Counter + SignExtend(TVAL[31:0]) (mod 2^64).
 * - CTL: ENABLE (bit 0) and IMASK (bit 1) are read/write, ISTATUS (bit 2) is read-only, the rest
 *   RES0. ISTATUS is computed from the counter at the time of the read. With ENABLE = 0 the
 *   register descriptions say "the timer condition is not met" (older issues: ISTATUS UNKNOWN), so
 *   ISTATUS reads 0 then, as QEMU does.
 * - The interrupt output is level-sensitive: asserted iff ENABLE && ISTATUS && !IMASK. The line
 *   is re-evaluated on every register write and on update(); setLine is called only when a level
 *   changes (both lines start deasserted, as the reset state ENABLE = 0 implies).
 * - CNTKCTL_EL1 is storage only (bits [9:0]: EL0PCTEN, EL0VCTEN, EVNTEN, EVNTDIR, EVNTI,
 *   EL0VTEN, EL0PTEN; the rest RES0, FEAT_ECV's EVNTIS not implemented). Its EL0 access
 *   controls are for the trap logic to enforce; the event stream is not generated.
 * - Reset values: CTL = 0 (ENABLE's architectural reset value is UNKNOWN on a warm reset; 0 is
 *   what a guest can rely on being safe), CVAL = 0, CNTKCTL_EL1 = 0.
 *
 * Time only moves when the caller's physicalCount() moves; call update() after time advances so
 * the output lines follow the counter, and use nextDeadline() to size execution slices.
 */
import { defineSysreg, sysregKey, SR_FLAG, type SysregCatalogue, type SysregDef, type SysregEncoding, type SysregSpec } from '../cpu/sysreg-catalogue.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

/** Names of the registers this model owns. */
export type TimerRegName =
  | 'CNTV_CTL_EL0'
  | 'CNTV_CVAL_EL0'
  | 'CNTV_TVAL_EL0'
  | 'CNTP_CTL_EL0'
  | 'CNTP_CVAL_EL0'
  | 'CNTP_TVAL_EL0'
  | 'CNTKCTL_EL1';

/** CNTx_CTL_EL0 fields (register descriptions of CNTV_CTL_EL0 / CNTP_CTL_EL0). */
export const TIMER_CTL = {
  ENABLE: 1n << 0n,
  IMASK: 1n << 1n,
  ISTATUS: 1n << 2n,
} as const;

/** Writable bits of CNTKCTL_EL1 ([9:0]; [63:10] RES0 without FEAT_ECV). */
const CNTKCTL_MASK = 0x3ffn;
const CTL_WRITABLE = TIMER_CTL.ENABLE | TIMER_CTL.IMASK;
const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);

interface TimerState {
  ctl: bigint; // ENABLE | IMASK only; ISTATUS is computed
  cval: bigint; // unsigned 64-bit
  line: boolean; // current level of the output
}

export class GenericTimer implements Snapshottable {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field. */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, []);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  /** Virtual timer interrupt (PPI 27, INTID 27), as QEMU virt's device tree says. */
  static readonly VIRTUAL_PPI = 27;
  /** EL1 (non-secure) physical timer interrupt (PPI 30, INTID 30), as QEMU virt's device tree says. */
  static readonly PHYSICAL_PPI = 30;

  private readonly physicalCount: () => bigint;
  private readonly virtualOffset: () => bigint;
  private readonly setLine: (ppi: number, level: boolean) => void;
  private readonly virt: TimerState = { ctl: 0n, cval: 0n, line: false };
  private readonly phys: TimerState = { ctl: 0n, cval: 0n, line: false };
  private cntkctl = 0n;

  /**
   * physicalCount(): CNTPCT now (ticks); virtualOffset(): CNTVOFF_EL2 (CNTVCT = CNTPCT - CNTVOFF);
   * setLine(ppi, level): interrupt output (virtual timer PPI 27, EL1 physical timer PPI 30, as
   * QEMU virt's DT says).
   */
  constructor(opts: { physicalCount: () => bigint; virtualOffset?: () => bigint; setLine: (ppi: number, level: boolean) => void }) {
    this.physicalCount = opts.physicalCount;
    this.virtualOffset = opts.virtualOffset ?? (() => 0n);
    this.setLine = opts.setLine;
  }

  read(name: TimerRegName): bigint {
    switch (name) {
      case 'CNTV_CTL_EL0':
        return this.readCtl(this.virt, this.virtualCount());
      case 'CNTV_CVAL_EL0':
        return this.virt.cval;
      case 'CNTV_TVAL_EL0':
        return tval(this.virt, this.virtualCount());
      case 'CNTP_CTL_EL0':
        return this.readCtl(this.phys, this.physCount());
      case 'CNTP_CVAL_EL0':
        return this.phys.cval;
      case 'CNTP_TVAL_EL0':
        return tval(this.phys, this.physCount());
      case 'CNTKCTL_EL1':
        return this.cntkctl;
    }
  }

  write(name: TimerRegName, value: bigint): void {
    switch (name) {
      case 'CNTV_CTL_EL0':
        this.virt.ctl = value & CTL_WRITABLE;
        break;
      case 'CNTV_CVAL_EL0':
        this.virt.cval = U64(value);
        break;
      case 'CNTV_TVAL_EL0':
        this.virt.cval = U64(this.virtualCount() + BigInt.asIntN(32, value));
        break;
      case 'CNTP_CTL_EL0':
        this.phys.ctl = value & CTL_WRITABLE;
        break;
      case 'CNTP_CVAL_EL0':
        this.phys.cval = U64(value);
        break;
      case 'CNTP_TVAL_EL0':
        this.phys.cval = U64(this.physCount() + BigInt.asIntN(32, value));
        break;
      case 'CNTKCTL_EL1':
        this.cntkctl = value & CNTKCTL_MASK;
        return; // no effect on the outputs
    }
    this.update();
  }

  /** Re-evaluate both timers at the current count: ISTATUS and the output lines (level = ENABLE && ISTATUS && !IMASK). Call after time advances. */
  update(): void {
    const pct = this.physCount();
    this.drive(this.virt, GenericTimer.VIRTUAL_PPI, U64(pct - this.virtualOffset()));
    this.drive(this.phys, GenericTimer.PHYSICAL_PPI, pct);
  }

  /**
   * Physical-count value at which the next enabled, unmasked timer condition becomes true (for
   * sizing execution slices), or null. Timers whose condition is already met (their line is, after
   * update(), already asserted) are not counted. For the virtual timer the value is CVAL + CNTVOFF
   * (mod 2^64), the physical count at which CNTVCT reaches CVAL.
   */
  nextDeadline(): bigint | null {
    const pct = this.physCount();
    const off = U64(this.virtualOffset());
    let best: bigint | null = null;
    const consider = (t: TimerState, count: bigint, deadline: bigint): void => {
      if (!armed(t) || conditionMet(t, count)) return;
      if (best === null || deadline < best) best = deadline;
    };
    consider(this.virt, U64(pct - off), U64(this.virt.cval + off));
    consider(this.phys, pct, this.phys.cval);
    return best;
  }

  private physCount(): bigint {
    return U64(this.physicalCount());
  }

  private virtualCount(): bigint {
    return U64(this.physicalCount() - this.virtualOffset());
  }

  private readCtl(t: TimerState, count: bigint): bigint {
    return t.ctl | (istatus(t, count) ? TIMER_CTL.ISTATUS : 0n);
  }

  private drive(t: TimerState, ppi: number, count: bigint): void {
    const level = istatus(t, count) && (t.ctl & TIMER_CTL.IMASK) === 0n;
    if (level !== t.line) {
      t.line = level;
      this.setLine(ppi, level);
    }
  }
}

/** TimerConditionMet, "Operation of the CompareValue views of the timers": CVAL <= Counter, both unsigned 64-bit. */
function conditionMet(t: TimerState, count: bigint): boolean {
  return t.cval <= count;
}

/** ISTATUS: the condition is met and the timer is enabled (with ENABLE = 0 the condition is not met). */
function istatus(t: TimerState, count: bigint): boolean {
  return (t.ctl & TIMER_CTL.ENABLE) !== 0n && conditionMet(t, count);
}

function armed(t: TimerState): boolean {
  return (t.ctl & TIMER_CTL.ENABLE) !== 0n && (t.ctl & TIMER_CTL.IMASK) === 0n;
}

/** "Operation of the TimerValue views of the timers": TVAL reads (CVAL - Counter)[31:0] sign-extended to 64 bits. */
function tval(t: TimerState, count: bigint): bigint {
  return U64(BigInt.asIntN(32, t.cval - count));
}

const T: SysregSpec = { storage: 'device', group: 'TIMER', el0: 'CNTKCTL' };
const treg = (name: TimerRegName, op1: number, crm: number, op2: number, s: Partial<SysregSpec> = {}): SysregDef =>
  defineSysreg('reg', name, 3, op1, 14, crm, op2, { ...T, ...s });

/**
 * The timer's rows in the system-register catalogue (register descriptions of CNTKCTL_EL1
 * S3_0_C14_C1_0, CNTP_{TVAL,CTL,CVAL}_EL0 S3_3_C14_C2_{0,1,2}, CNTV_{TVAL,CTL,CVAL}_EL0
 * S3_3_C14_C3_{0,1,2}). The counters (CNTPCT/CNTVCT) are the vCPU's virtual time, not the timer's.
 */
export const TIMER_SYSREGS: readonly SysregDef[] = Object.freeze([
  treg('CNTKCTL_EL1', 0, 1, 0, { el0: 'none', reset: 0n, flags: SR_FLAG.DEBUGGER }),
  treg('CNTP_TVAL_EL0', 3, 2, 0),
  treg('CNTP_CTL_EL0', 3, 2, 1, { reset: 0n }),
  treg('CNTP_CVAL_EL0', 3, 2, 2),
  treg('CNTV_TVAL_EL0', 3, 3, 0),
  treg('CNTV_CTL_EL0', 3, 3, 1, { reset: 0n, flags: SR_FLAG.DEBUGGER }),
  treg('CNTV_CVAL_EL0', 3, 3, 2, { flags: SR_FLAG.DEBUGGER }),
]);

const TIMER_BY_KEY = new Map<number, TimerRegName>(TIMER_SYSREGS.map((d) => [d.key, d.name as TimerRegName]));

/** The timer register for an MRS/MSR encoding, or null. */
export function timerRegByEncoding(e: SysregEncoding): TimerRegName | null {
  return TIMER_BY_KEY.get(sysregKey(e)) ?? null;
}

/**
 * Register the timer's rows, answered by this model. `afterWrite` runs after every write (the
 * board ends the running slice there: its length was sized for the old deadline). `beforeTimeRead`
 * runs before a read whose value depends on the count (CTL's ISTATUS, TVAL): a guest polling
 * `while (!(CNTV_CTL_EL0 & ISTATUS))` is polling time as much as one reading CNTVCT_EL0, and the
 * board lets the vCPU's counter-polling warp see it (emulator/cpu/virtual-time.ts).
 */
export function registerTimer(catalogue: SysregCatalogue, timer: GenericTimer, afterWrite?: () => void, beforeTimeRead?: () => void): void {
  catalogue.register(TIMER_SYSREGS, {
    read: (e) => {
      if (beforeTimeRead !== undefined && (e.name.endsWith('CTL_EL0') || e.name.endsWith('TVAL_EL0'))) beforeTimeRead();
      return timer.read(e.name as TimerRegName);
    },
    write: (e, v) => {
      timer.write(e.name as TimerRegName, v);
      afterWrite?.();
    },
  });
}
