// emulator/debug/watch-range.ts: when a data access hits a GDB watchpoint (the rule the real target,
// its SMP data hooks and the stub tests' toy target all use), and the idempotent watchpoint list.
import { describe, expect, it } from 'vitest';
import { WatchList, watchHit } from '../../emulator/debug/watch-range.js';

describe('watchHit', () => {
  const w = { kind: 'write', addr: 0x1000n, length: 8 } as const;
  it('an access overlapping [addr, addr + length) hits; one that only touches either end does not', () => {
    expect(watchHit(w, 0xff8n, 8, true)).toBeNull(); // ends at 0x1000
    expect(watchHit(w, 0x1008n, 4, true)).toBeNull(); // starts right after
    expect(watchHit(w, 0xffcn, 8, true)).toBe(0x1000n); // straddles the start: the first watched byte
    expect(watchHit(w, 0x1004n, 16, true)).toBe(0x1004n); // inside: where the access starts
  });
  it('kinds: write watches writes, read watches reads, access both', () => {
    expect(watchHit(w, 0x1000n, 1, false)).toBeNull();
    expect(watchHit({ ...w, kind: 'read' }, 0x1000n, 1, true)).toBeNull();
    expect(watchHit({ ...w, kind: 'read' }, 0x1000n, 1, false)).toBe(0x1000n);
    expect(watchHit({ ...w, kind: 'access' }, 0x1000n, 1, true)).toBe(0x1000n);
    expect(watchHit({ ...w, kind: 'access' }, 0x1000n, 1, false)).toBe(0x1000n);
  });
});

describe('WatchList', () => {
  it('adds a watchpoint once, removes it once, reports the first one an access hits', () => {
    const l = new WatchList();
    expect(l.add({ kind: 'read', addr: 0x2000n, length: 4 })).toBe(true);
    expect(l.add({ kind: 'read', addr: 0x2000n, length: 4 })).toBe(false);
    expect(l.add({ kind: 'access', addr: 0x2000n, length: 4 })).toBe(true);
    expect(l.size).toBe(2);
    expect(l.firstHit(0x2002n, 4, false)).toEqual({ watch: 'read', addr: 0x2002n });
    expect(l.firstHit(0x1ffen, 4, true)).toEqual({ watch: 'access', addr: 0x2000n });
    expect(l.remove({ kind: 'read', addr: 0x2000n, length: 4 })).toBe(true);
    expect(l.remove({ kind: 'read', addr: 0x2000n, length: 4 })).toBe(false);
    expect(l.firstHit(0x2002n, 4, false)).toEqual({ watch: 'access', addr: 0x2002n });
    expect(l.size).toBe(1);
  });
});
