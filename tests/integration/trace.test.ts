/** --trace FILE and --trace-filter (issue 11): every EL2 exit as one JSON line, deterministic but for host ns. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

const lines = (f: string): Record<string, any>[] => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('--trace', () => {
  it('one line per exit and console line; the same trace twice apart from hostNs; as many exits as the stats count', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-trace-'));
    const a = hypemu(['run', guest('demo'), '--mair-mangle', '-q', '--trace', join(dir, 'a.jsonl')], { stats: true });
    const b = hypemu(['run', guest('demo'), '--mair-mangle', '-q', '--trace', join(dir, 'b.jsonl')]);
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    const ta = lines(join(dir, 'a.jsonl'));
    const strip = (r: Record<string, any>[]) => r.map(({ hostNs: _h, ...rest }) => rest);
    expect(strip(ta)).toEqual(strip(lines(join(dir, 'b.jsonl'))));
    const exits = ta.filter((r) => r.type === 'exit');
    expect(exits).toHaveLength(a.stats!.exits.total);
    const mair = exits.find((r) => r.reason === 'sysreg' && r.sysreg.name === 'MAIR_EL1' && r.sysreg.write);
    expect(mair).toMatchObject({
      vcpu: 0, el: 1, ec: 'sys64', il: 1, path: 'fastPath', action: 'resume', insnText: expect.stringMatching(/^msr mair_el1, x\d+$/),
      sysreg: { value: '0x4404ff' }, syndrome: expect.stringMatching(/^sys64 write op0=3 op1=0 CRn=10 CRm=2 op2=0 Rt=\d+$/),
    });
    expect(mair!.esr).toMatch(/^0x62[0-9a-f]{6}$/);
    expect(typeof mair!.hostNs).toBe('number');
    expect(mair!.cycles).toBeGreaterThan(0);
    // UART writes: emulated MMIO (on the EL2 fast path when the model coalesces PL011 TX, else in user space).
    const mmio = exits.find((r) => r.mmio?.write);
    expect(mmio).toMatchObject({ reason: 'dabt_s2', mmio: { ipa: '0x9000000', size: 4 }, insnText: expect.stringMatching(/^str w\d+, \[x\d+\]$/) });
    expect(['fastPath', 'userspace']).toContain(mmio!.path);
    expect(exits.at(-1)).toMatchObject({ reason: 'hvc', function: '0xc6000001', action: 'halt', insnText: 'hvc #0' });
    const text = ta.filter((r) => r.type === 'console').map((r) => r.text).join('');
    expect(text).toBe(a.stdout);
    // Virtual time never goes backwards along the trace.
    for (let i = 1; i < ta.length; i++) expect(ta[i]!.vtimeNs).toBeGreaterThanOrEqual(ta[i - 1]!.vtimeNs);
  });

  it('--trace-filter keeps the named reasons, registers and record kinds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-trace-'));
    const f = join(dir, 't.jsonl');
    expect(hypemu(['run', guest('demo'), '--mair-mangle', '-q', '--trace', f, '--trace-filter', 'MAIR_EL1,hvc']).status).toBe(0);
    const t = lines(f);
    expect(t.length).toBeGreaterThan(1);
    for (const r of t) expect(r.reason === 'hvc' || r.sysreg?.name === 'MAIR_EL1').toBe(true);
    const bad = hypemu(['run', guest('demo'), '--trace', f, '--trace-filter', 'not-a-thing!']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/^hypemu: --trace-filter: 'not-a-thing!' is not an exit reason/);
  });
});
