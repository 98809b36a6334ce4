import { describe, expect, it } from 'vitest';
import { holdSignals, releaseSignals } from '../../cli/early-signals.js';

describe('cli/early-signals (a signal during module loading is held for the run)', () => {
  it('holds the first SIGTERM/SIGINT until released, then gives the default action back', async () => {
    const before = process.listenerCount('SIGTERM');
    holdSignals();
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    process.kill(process.pid, 'SIGTERM');
    process.kill(process.pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 50));
    expect(releaseSignals()).toBe('SIGTERM');
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(releaseSignals()).toBeNull();
  });
});
