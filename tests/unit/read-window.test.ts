// Pure-read windows (emulator/cpu/read-window.ts, hyp/pure-read.ts; issue 13, kvm-unit-tests'
// micro-bench mmio_read_vgic / mmio_read_user): a read of a device whose reads are pure is
// answered at EL2 on the fast path, and, while nobody observes exits, from inside the core's load
// without an exit at all. Either way the guest sees the same registers at the same instruction
// count and the EL2 model's statistics count the same exits; a write still exits.
//
// Rules encoded here: Arm ARM D17.2.37 (ESR_EL2 ISS for a data abort: ISV, SAS, SSE, SRT, SF: the
// loaded value is sign-extended to the access size when SSE, and Xt gets 64 or 32 bits by SF),
// C6.2 LDRSH (immediate): sign-extends the halfword to 64 bits.
import { afterEach, describe, expect, it } from 'vitest';
import { Vcpu } from '../../emulator/cpu/vcpu.js';
import type { AccessSize, MmioDevice } from '../../emulator/memory/bus.js';
import { Hypervisor } from '../../hyp/hypervisor.js';
import { DEFAULT_COST_MODEL } from '../../hyp/cost.js';

const BASE = 0x4000_0000;
const RAM_SIZE = 0x20_0000;
const DEV = 0x0a00_0000;

// aarch64-linux-gnu-as
const CODE = [
  0xb9400282, // ldr   w2, [x20]       pure read, 4 bytes
  0xf94002a3, // ldr   x3, [x21]       pure read, 8 bytes (two 4-byte reads in the core)
  0x79800685, // ldrsh x5, [x20, #2]   pure read, sign-extended halfword
  0xb9000284, // str   w4, [x20]       a write: always an exit (world switch)
  0xb9400286, // ldr   w6, [x20]       reads what the write stored
  0x14000000, // b .
];

/** A register file with pure reads: word registers, reads count calls. */
function device(pure: boolean): MmioDevice & { reads: number; writes: number } {
  const regs = new Map<number, number>([
    [0x0, 0x8001_7fff],
    [0x8, 0x1122_3344],
    [0xc, 0x5566_7788],
  ]);
  const word = (off: number): number => regs.get(off & ~3) ?? 0;
  const d = {
    name: 'pure',
    base: DEV,
    size: 0x1000,
    pureReads: pure,
    reads: 0,
    writes: 0,
    read(off: number, size: AccessSize): number {
      d.reads++;
      const v = word(off) >>> ((off & 3) * 8);
      return size >= 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
    },
    write(off: number, _size: AccessSize, value: number): void {
      d.writes++;
      regs.set(off & ~3, value >>> 0);
    },
  };
  return d;
}

let open: Vcpu[] = [];
afterEach(() => {
  for (const v of open) v.close();
  open = [];
});

function run(opts: { observe: boolean; pure?: boolean }) {
  const v = new Vcpu({ ramBase: BASE, ramSize: RAM_SIZE });
  open.push(v);
  CODE.forEach((w, i) => v.ram.write32(BASE + i * 4, w));
  const dev = device(opts.pure ?? true);
  v.bus.add(dev); // before attach: the EL2 model maps the windows of the devices on the bus
  const hyp = new Hypervisor({});
  hyp.attach(v, { ram: { base: BASE, size: RAM_SIZE } });
  const reasons: string[] = [];
  if (opts.observe) v.onExit = (exit) => reasons.push(exit.reason);
  v.pc = BASE;
  v.setX(20, BigInt(DEV));
  v.setX(21, BigInt(DEV + 8));
  v.setX(4, 0xcafe_f00dn);
  expect(v.runFor(CODE.length - 1)).toBeNull();
  return { v, hyp, dev, reasons };
}

describe('pure device reads: EL2 fast path, and the read window while exits are not observed', () => {
  it('observed: every access is an exit, the reads on the fast path, the write a world switch', () => {
    const { v, hyp, dev, reasons } = run({ observe: true });
    expect(reasons).toEqual(['iabt_s2', 'dabt_s2', 'dabt_s2', 'dabt_s2', 'dabt_s2', 'dabt_s2']);
    expect(v.x(2)).toBe(0x8001_7fffn);
    expect(v.x(3)).toBe(0x5566_7788_1122_3344n);
    expect(v.x(5)).toBe(0xffff_ffff_ffff_8001n);
    expect(v.x(6)).toBe(0xcafe_f00dn);
    expect(dev.writes).toBe(1);
    // 4 reads on the fast path; the write (user space) and the RAM fault switch worlds.
    expect(hyp.stats.exits).toMatchObject({ total: 6, fastPath: 4, worldSwitch: 2, userspace: 1 });
    expect(hyp.stats.mmio.syndrome).toBe(5);
    const c = DEFAULT_COST_MODEL;
    expect(hyp.stats.cost.byReason.dabt_s2).toBe(4 * (c.trap + c.fastPath) + c.trap + c.worldSwitch.vhe + c.handler.dabt_s2 + c.userspace);
  });

  it('unobserved: the reads complete inside the core (no refused fill), with the same registers, count and statistics', () => {
    const seen = run({ observe: true });
    const { v, hyp, dev } = run({ observe: false });
    for (const r of [2, 3, 5, 6]) expect(v.x(r)).toBe(seen.v.x(r));
    expect(v.pc).toBe(seen.v.pc);
    expect(v.instructions).toBe(seen.v.instructions);
    expect(hyp.stats.exits).toEqual(seen.hyp.stats.exits);
    expect(hyp.stats.cost.modelCycles).toBe(seen.hyp.stats.cost.modelCycles);
    expect(hyp.stats.mmio).toEqual(seen.hyp.stats.mmio);
    expect(hyp.stats.stage2.faults).toBe(seen.hyp.stats.stage2.faults);
    expect(v.exceptions).toEqual(seen.v.exceptions);
    // Only the RAM fault and the write reached the fill hook's refusal; the 8-byte load was two device reads.
    expect(seen.v.refusedFills).toBe(6);
    expect(v.refusedFills).toBe(2);
    expect(dev.reads).toBe(5);
    expect(dev.writes).toBe(1);
  });

  it('a device without pure reads: every read is an exit that switches worlds', () => {
    const { v, hyp } = run({ observe: false, pure: false });
    expect(v.x(5)).toBe(0xffff_ffff_ffff_8001n);
    expect(v.refusedFills).toBe(6);
    expect(hyp.stats.exits).toMatchObject({ total: 6, fastPath: 0, worldSwitch: 6, userspace: 5 });
  });
});
