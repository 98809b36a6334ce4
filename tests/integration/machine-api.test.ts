/** The library API (machine/): run conditions, events, errors, as a test or a script uses them. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, Machine, type ExitEvent } from '../../machine/index.js';
import { guest } from './helpers.js';

/** Address of the first instruction matching `re` in a guest's disassembly listing. */
function lstAddress(name: string, re: RegExp): bigint {
  for (const line of readFileSync(guest(name).replace(/\.elf$/, '.lst'), 'utf8').split('\n')) {
    const m = /^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+(.*)$/.exec(line);
    if (m && re.test(m[2]!)) return BigInt('0x' + m[1]);
  }
  throw new Error(`no ${re} in ${name}.lst`);
}

describe('Machine', () => {
  it('run until an instruction count, then on to the end: the same count as one run', async () => {
    const whole = await Machine.create({ image: guest('hello') });
    const all = await whole.run();
    await whole.dispose();
    const m = await Machine.create({ image: guest('hello') });
    const r1 = await m.run({ until: { instructions: 1000 } });
    expect(r1).toEqual({ status: null, reason: 'instructions', instructions: 1000, end: null });
    const r2 = await m.run();
    expect(r2).toEqual(all);
    expect(await m.run()).toEqual(all); // an ended machine answers with its end
    await m.dispose();
  });

  it('run until PC stops before that instruction, with an exact instruction count', async () => {
    const hvc = lstAddress('hello', /^hvc\s+#0x0/);
    const m = await Machine.create({ image: guest('hello') });
    const r = await m.run({ until: { pc: hvc } });
    expect(r.reason).toBe('pc');
    expect(m.regs().pc).toBe(hvc);
    expect(m.regs().x[0]).toBe(0xc600_0001n);
    const end = await m.run();
    expect(end.status).toBe(0);
    expect(end.instructions).toBe(r.instructions + 1);
    await m.dispose();
  });

  it('maxInsns ends the run with status 124; a listener removed stops the events', async () => {
    const m = await Machine.create({ image: guest('sysreg-storm'), mairMangle: true, maxInsns: 200_000 });
    const seen: ExitEvent[] = [];
    const l = (e: ExitEvent): void => void seen.push(e);
    m.on('exit', l);
    await m.run({ until: { instructions: 100_000 } });
    const n = seen.length;
    expect(n).toBeGreaterThan(0);
    m.off('exit', l);
    const r = await m.run();
    expect(r).toMatchObject({ status: 124, reason: 'insn-limit', instructions: 200_000 });
    expect(seen.length).toBe(n);
    expect(m.stats().exits.total).toBeGreaterThan(n);
    await m.dispose();
  });

  it('bad configuration is a one-line ConfigError naming the option', async () => {
    const bad: [object, RegExp][] = [
      [{ maxInsns: '1x' }, /^--max-insns: '1x' is not a number/],
      [{ load: 0x4008_0001 }, /^--load: 0x40080001 is not 4 KiB aligned/],
      [{ mem: '3Q' }, /^--mem: '3Q' is not a size/],
      [{ hypMode: 'bogus' }, /^--hyp-mode: 'bogus' is not one of vhe, nvhe/],
      [{ cost: ['nope=1'] }, /^--cost: unknown cost key 'nope'/],
      [{ image: '/nonexistent.elf' }, /^image \/nonexistent.elf: no such file$/],
      [{ imag: 'typo' }, /^unknown machine option 'imag'/],
    ];
    for (const [config, re] of bad) {
      const err = await Machine.create({ image: guest('hello'), ...config }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});
