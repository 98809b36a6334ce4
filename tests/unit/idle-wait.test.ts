// machine/idle-wait.ts: a paced idle wait ends exactly at the timer's deadline when nothing wakes
// it (so a run without input sees the virtual times an unpaced run sees), earlier by the host time
// that passed when input wakes it, and at once when input came while the guest ran.
import { describe, expect, it } from 'vitest';
import { HostWait, pacedIdleWait, type IdleClock } from '../../machine/idle-wait.js';

class FakeClock implements IdleClock {
  ended: number[] = [];
  constructor(
    public nowNs: number,
    public idleDeadlineNs: number | null,
  ) {}
  endIdleWait(ns: number): void {
    this.ended.push(Math.min(ns, this.idleDeadlineNs!));
    this.nowNs = Math.min(ns, this.idleDeadlineNs!);
    this.idleDeadlineNs = null;
  }
}

describe('pacedIdleWait', () => {
  it('sleeps the deadline out on the host clock, then ends the wait exactly at the deadline', async () => {
    const c = new FakeClock(1_000_123, 1_000_123 + 30e6); // 30 ms ahead
    const t0 = process.hrtime.bigint();
    await pacedIdleWait(c, new HostWait(), () => false);
    const host = Number(process.hrtime.bigint() - t0);
    expect(c.ended).toEqual([1_000_123 + 30e6]);
    expect(host).toBeGreaterThanOrEqual(29e6); // it slept (timers may fire up to ~1 ms early in ns terms)
  });
  it('woken (input arrived), virtual time moves by the host time that passed, before the deadline', async () => {
    const c = new FakeClock(5e9, 5e9 + 10e9); // a deadline 10 s ahead
    const w = new HostWait();
    let came = false;
    setTimeout(() => {
      came = true;
      w.wake();
    }, 20);
    const t0 = process.hrtime.bigint();
    await pacedIdleWait(c, w, () => came);
    const host = Number(process.hrtime.bigint() - t0);
    expect(c.ended).toHaveLength(1);
    const moved = c.ended[0]! - 5e9;
    expect(moved).toBeGreaterThanOrEqual(15e6);
    expect(moved).toBeLessThanOrEqual(host);
  });
  it('input that came while the guest ran ends the wait where it began; no wait, nothing to do', async () => {
    const c = new FakeClock(777, 10e9);
    await pacedIdleWait(c, new HostWait(), () => true);
    expect(c.ended).toEqual([777]);
    const none = new FakeClock(5, null);
    await pacedIdleWait(none, new HostWait(), () => false);
    expect(none.ended).toEqual([]);
  });
  it('woken by the end of input or a stop request (no input), the wait ends at the deadline: that moment must not show', async () => {
    const c = new FakeClock(1e9, 1e9 + 10e9);
    const w = new HostWait();
    setTimeout(() => w.wake(), 10);
    await pacedIdleWait(c, w, () => false);
    expect(c.ended).toEqual([1e9 + 10e9]);
  });
  it('HostWait.untilWoken resolves on wake(); wake() with nobody waiting is harmless', async () => {
    const w = new HostWait();
    w.wake();
    let done = false;
    const p = w.untilWoken().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    w.wake();
    await p;
    expect(done).toBe(true);
  });
});
