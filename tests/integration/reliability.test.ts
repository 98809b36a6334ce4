// Issue 9: no guest instruction ends the process; the guest sees its own
// translation of every address. Guests in guest-images/ (also run under QEMU).
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

describe('untranslatable (unallocated FP16 words; top of the VA space)', () => {
  it('every word is UNDEFINED, also as self-modified code, and the top 1 KiB faults as the architecture says', () => {
    const r = hypemu(['run', guest('untranslatable'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT untranslatable: 0 failures');
    expect(r.status).toBe(0);
    expect(r.stats!.exceptions.byTarget.EL1.unknown).toBe(24);
  });
});

describe('code-alias (code rewritten through another VA of its page, Arm ARM B2.4.4)', () => {
  it('runs as rewritten: the second store through one alias entry drops the old translation too', () => {
    const r = hypemu(['run', guest('code-alias'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT code-alias: 0 failures');
    expect(r.status).toBe(0);
  });
});
