// FEAT_RNG (Arm ARM DDI0487 D19.2 "RNDR, Random Number", "RNDRRS, Reseeded Random Number"):
// MRS RNDR/RNDRRS return 64 random bits and set PSTATE.NZCV = 0b0000 on success. hypemu answers
// both from a generator seeded by --seed (emulator/devices/rng.ts), never the core's own RNDR
// (Unicorn 2.1's rndr_readfn draws host entropy), so two machines with one seed read the same
// numbers; ID_AA64ISAR0_EL1.RNDR = 1 offers it (hyp/idregs.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor } from '../../hyp/hypervisor.js';
import { DEFAULT_SEED, SeededRandom } from '../../emulator/devices/rng.js';

const B = 0x4008_0000;
const PROGRAM = [
  0xd51b4203, // msr nzcv, x3      (x3 = 0xf000_0000: N, Z, C, V all set)
  0xd53b2400, // mrs x0, rndr
  0xd53b4202, // mrs x2, nzcv
  0xd51b4203, // msr nzcv, x3
  0xd53b2421, // mrs x1, rndrrs
  0xd53b4204, // mrs x4, nzcv
  0xd5380605, // mrs x5, id_aa64isar0_el1
  0x14000000, // b .
];

let machines: VirtMachine[] = [];
afterEach(() => {
  for (const m of machines) m.close();
  machines = [];
});

function run(seed?: bigint) {
  const m = new VirtMachine({ uartOut: () => {}, ...(seed !== undefined ? { seed } : {}) });
  machines.push(m);
  const hyp = new Hypervisor();
  hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
  PROGRAM.forEach((w, i) => m.vcpu.ram.write32(B + 4 * i, w));
  m.vcpu.pc = B;
  m.vcpu.setX(3, 0xf000_0000n);
  // (A device-answered MRS currently counts the instruction after it twice in a multi-instruction
  // slice, CNTVCT_EL0 as well: the budget leaves room; the program ends in `b .`.)
  expect(m.vcpu.runFor(PROGRAM.length + 8)).toBeNull();
  const v = m.vcpu;
  return { rndr: v.x(0), rndrrs: v.x(1), nzcv: [v.x(2), v.x(4)], isar0: v.x(5), hyp, m };
}

describe('FEAT_RNG from the seeded generator', () => {
  it('RNDR and RNDRRS return the generator\'s draws and set NZCV = 0b0000', () => {
    const r = run();
    const g = new SeededRandom(DEFAULT_SEED, 'rndr');
    expect(r.rndr).toBe(g.next64());
    expect(r.rndrrs).toBe(g.next64());
    expect(r.nzcv).toEqual([0n, 0n]);
    expect(r.m.vcpu.pc).toBe(B + 4 * (PROGRAM.length - 1));
    // Answered by the device route: no exit to the EL2 model.
    expect(r.hyp.stats.sysregTraps.RNDR).toBeUndefined();
  });

  it('ID_AA64ISAR0_EL1.RNDR [63:60] = 1 is what the guest reads', () => {
    expect(Number(run().isar0 >> 60n)).toBe(1);
  });

  it('the same seed gives the same numbers; another seed others', () => {
    const a = run(12345n);
    const b = run(12345n);
    const c = run(12346n);
    expect([a.rndr, a.rndrrs]).toEqual([b.rndr, b.rndrrs]);
    expect(a.rndr).not.toBe(c.rndr);
  });

  it('SeededRandom: SplitMix64 streams are distinct per name and per seed', () => {
    const x = new SeededRandom(1n, 'rndr').bytes(32);
    expect(new SeededRandom(1n, 'rndr').bytes(32)).toEqual(x);
    expect(new SeededRandom(1n, 'dt').bytes(32)).not.toEqual(x);
    expect(new SeededRandom(2n, 'rndr').bytes(32)).not.toEqual(x);
  });
});
