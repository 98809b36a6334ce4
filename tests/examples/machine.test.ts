// The README's library example ("Library API"), run in CI as it is printed there.
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { Machine, type ExitEvent } from 'hypemu';

const demo = fileURLToPath(new URL('../../guest-images/build/demo.elf', import.meta.url));

it('boots the demo guest, watches its EL2 exits and console, and checks the run', async () => {
  const m = await Machine.create({ image: demo, mairMangle: true, maxInsns: '1e7' });
  const exits: ExitEvent[] = [];
  let console = '';
  m.on('exit', (e) => exits.push(e));
  m.on('console', (text) => (console += text));

  // Stop once the guest reports its MMU is on, and look at the machine there.
  const r1 = await m.run({ until: { console: /MMU on/ } });
  expect(r1).toMatchObject({ status: null, reason: 'console' });
  expect(m.regs().el).toBe(1);
  const w = m.walk(0x4008_0000n); // the guest's identity map, through both stages
  expect(w.fault).toBeUndefined();
  expect(w.pa).toBe('0x40080000');
  expect(m.readMemory(0x4008_0000, 4)).toHaveLength(4);

  // Run to the end: the guest exits with status 0 through HVC #0.
  const r2 = await m.run();
  expect(r2).toMatchObject({ status: 0, reason: 'guest-exit' });
  expect(console).toContain('[5] bye');

  // Seed 000: with --mair-mangle the MAIR_EL1 write traps and is handled on the EL2 fast path.
  const mair = exits.find((e) => e.reason === 'sysreg' && e.sysreg.name === 'MAIR_EL1' && e.sysreg.write);
  expect(mair).toMatchObject({ path: 'fastPath', sysreg: { value: 0x4404ffn } });
  // The UART's output: UARTDR writes complete on the EL2 fast path (coalesced MMIO), status
  // reads (UARTFR) go to the user-space device model.
  expect(exits.some((e) => e.reason === 'dabt_s2' && e.path === 'fastPath' && e.mmio?.write)).toBe(true);
  expect(exits.some((e) => e.reason === 'dabt_s2' && e.path === 'userspace' && e.mmio && !e.mmio.write)).toBe(true);
  // Every exit the model counted was an event; m.stats() is what --stats-json writes.
  const stats = m.stats();
  expect(stats.exits.total).toBe(exits.length);
  expect(stats.instructions).toBe(r2.instructions);
  await m.dispose();
});
