/**
 * How a DebugTarget runs (the contract in target.ts): resume() returns at once and the run goes
 * on in slices scheduled with setImmediate, so the stub keeps serving packets meanwhile;
 * interrupt() is honoured at the next slice boundary; exactly one stop event ends a run; kill()
 * ends everything. Shared by the real target (vcpu-target.ts) and the toy target the stub's tests
 * use (tests/unit/fake-target.ts), which supply what one slice does.
 */
import type { StopHandler, StopReason } from './target.js';

export type RunMode = 'continue' | 'step';

export abstract class SlicedRun {
  /** Between resume() and the stop event that ends the run. */
  running = false;
  /** GDB `k`: nothing runs again. */
  killed = false;
  /** interrupt() during this run: the next slice stops with SIGINT. */
  protected interruptRequested = false;
  private handler: StopHandler = () => {};

  setStopHandler(handler: StopHandler): void {
    this.handler = handler;
  }

  resume(mode: RunMode): void {
    if (this.killed || this.running) return;
    this.running = true;
    this.interruptRequested = false;
    // Never run (or report) inside resume(): the caller is in the middle of a packet handler.
    setImmediate(() => this.runSlice(mode, true));
  }

  interrupt(): void {
    if (this.running) this.interruptRequested = true;
  }

  kill(): void {
    this.killed = true;
    this.running = false;
  }

  /** One slice of the run (`first`: the one resume() scheduled); it ends in report() or nextSlice(). */
  protected abstract runSlice(mode: RunMode, first: boolean): void;

  /** The run goes on after the event loop has had a turn. */
  protected nextSlice(mode: RunMode): void {
    setImmediate(() => this.runSlice(mode, false));
  }

  /** The stop event that ends the run. */
  protected report(reason: StopReason): void {
    this.running = false;
    this.handler(reason);
  }
}
