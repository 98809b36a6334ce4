/**
 * How the run loop waits while the guest is idle (issue 10, "Idle"), so that an idle guest costs
 * no host CPU:
 *
 * - Idle in WFI with no timer armed and no interrupt pending: only console input can wake it.
 *   The loop sleeps until input comes (or ends, or a stop is requested); virtual time stands
 *   still, so when the input arrives does not change what the guest sees.
 * - Idle with a timer armed while the guest listens for console input that may still come
 *   (the UART's receive interrupt unmasked and the console input open: Linux at a shell prompt):
 *   a *paced* wait. The loop sleeps on the host clock until the deadline (the same length of
 *   wall time as of virtual time) or until input arrives. Ended by the timer, virtual time moves
 *   exactly to the deadline, as an unpaced WFI would have moved it: a run in which no input
 *   arrives during a paced wait sees the same virtual times and prints the same bytes. Ended by
 *   input, it moves by the host time that passed (still before the deadline): input typed while
 *   the guest runs already made the run depend on the host.
 * - Any other idle wait (no input can come, or the guest does not listen for it): virtual time
 *   jumps to the deadline at once (emulator/cpu/wfx-wait.ts waitForInterrupt).
 */

/** What a paced wait needs from the machine: one vCPU, or the SMP scheduler over several. */
export interface IdleClock {
  /** Virtual time now (ns). */
  readonly nowNs: number;
  /** The deadline (virtual ns) of the paced idle wait the last step ended on, or null. */
  readonly idleDeadlineNs: number | null;
  /** End the paced wait: virtual time moves to `ns` (at most the deadline). */
  endIdleWait(ns: number): void;
}

/** Longest single host timer: Node's take at most 2^31 - 1 ms (a longer one fires after 1 ms). */
const MAX_SLEEP_MS = 3_600_000;

/** A host-side sleep that console input, the end of input or a stop request cuts short. */
export class HostWait {
  private waker: (() => void) | null = null;

  /** Wake the wait in progress, if any. */
  wake(): void {
    const w = this.waker;
    this.waker = null;
    w?.();
  }

  /** Sleep until wake(). */
  untilWoken(): Promise<void> {
    return new Promise<void>((resolve) => (this.waker = resolve));
  }

  /** Sleep `ns` of host time or until wake(): null when the time ran out, else the host ns that passed. */
  for(ns: number): Promise<number | null> {
    const t0 = process.hrtime.bigint();
    const end = t0 + BigInt(Math.max(0, Math.ceil(ns)));
    return new Promise<number | null>((resolve) => {
      let timer: NodeJS.Timeout;
      // Node's timers take at most 2^31 - 1 ms: a longer sleep goes in pieces.
      const arm = (): void => {
        const left = Number(end - process.hrtime.bigint()) / 1e6;
        if (left <= 0) {
          this.waker = null;
          resolve(null);
          return;
        }
        timer = setTimeout(arm, Math.min(left, MAX_SLEEP_MS));
      };
      this.waker = () => {
        clearTimeout(timer);
        resolve(Number(process.hrtime.bigint() - t0));
      };
      arm();
    });
  }
}

/**
 * The step ended on a paced idle wait: sleep until its deadline on the host clock, or until woken.
 * `inputCame` says whether console input arrived: already while the step ran (the wait ends where
 * it began), or during the wait (virtual time moves by the host time that passed). Woken by
 * anything else (the input ended, a stop request), the wait ends at its deadline, as the timer
 * would have ended it: the end of input arrives at a host-dependent moment and must not show.
 */
export async function pacedIdleWait(clock: IdleClock, wait: HostWait, inputCame: () => boolean): Promise<void> {
  const deadline = clock.idleDeadlineNs;
  if (deadline === null) return;
  const start = clock.nowNs;
  if (inputCame()) {
    clock.endIdleWait(start);
    return;
  }
  const elapsed = await wait.for(deadline - start);
  clock.endIdleWait(elapsed !== null && inputCame() ? start + elapsed : deadline);
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** What the run loop's wait between two turns asks of the machine. */
export interface TurnWait {
  readonly wait: HostWait;
  /** Console input came during the last step. */
  inputArrived(): boolean;
  /** More console input can come (the CLI's stdin before its end). */
  inputOpen(): boolean;
  stopRequested(): boolean;
  /** Settles when the console's reader has taken the output written so far, or null (no backlog). */
  consoleBacklog(): Promise<void> | null;
}

/**
 * Between two turns of the run loop (`clock` is the idle clock when the step ended idle, `idle`
 * whether it did): a paced wait, a sleep until input, or a turn of the event loop. Returns the
 * fault message when the guest can never wake again, else null.
 */
export async function betweenTurns(clock: IdleClock | null, idle: boolean, o: TurnWait): Promise<string | null> {
  if (clock !== null && clock.idleDeadlineNs !== null) {
    // A timer armed while the guest listens for input: sleep until its deadline or the input.
    await pacedIdleWait(clock, o.wait, () => o.inputArrived());
  } else if (idle && !o.inputArrived()) {
    // WFI with no timer armed and no interrupt pending: only console input can wake the
    // guest. Sleep until some arrives (no host core spins); virtual time stands still
    // meanwhile. With the input ended, nothing ever will: the run ends at this WFI whether
    // the end came before or during the wait (the guest does not run again either way).
    if (o.inputOpen() && !o.stopRequested()) await o.wait.untilWoken();
    if (!o.inputOpen() && !o.inputArrived() && !o.stopRequested()) {
      return 'guest waits in WFI with no timer armed and the console input has ended: it can never wake';
    }
  } else {
    // A stop request (or input) also ends a wait for a console reader that never reads.
    const backlog = o.consoleBacklog();
    await (backlog === null ? yieldToEventLoop() : Promise.race([backlog, o.wait.untilWoken()]));
  }
  return null;
}
