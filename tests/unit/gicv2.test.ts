// GICv2 model (emulator/devices/gicv2.ts) against Arm IHI0048B, and its device-tree node against
// QEMU 7.2's virt-gicv2-smp2.dts.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GicV2, GICV2_SPURIOUS } from '../../emulator/devices/gicv2.js';
import { findNode, parseFdt, propStrings, propU32s } from '../../emulator/platform/dtb.js';
import { buildVirtDtb } from '../../emulator/platform/virt-dt.js';
import { sharedFile } from '../shared-files.js';

const D = 0x0800_0000;
const C = 0x0801_0000;
function rig(cpus = 1) {
  const gic = new GicV2({ distBase: D, cpuBase: C, cpus });
  const dist = (c: number) => gic.distributorFor(c);
  const cpu = (c: number) => gic.cpuInterfaceFor(c);
  const enable = (c: number) => {
    dist(c).write(0x000, 4, 1); // GICD_CTLR.Enable
    cpu(c).write(0x04, 4, 0xf0); // GICC_PMR
    cpu(c).write(0x00, 4, 1); // GICC_CTLR.Enable
  };
  return { gic, dist, cpu, enable };
}

describe('GICv2 distributor identification (IHI0048B 4.3.2, 4.3.3)', () => {
  it('TYPER: ITLinesNumber 8 (288 INTIDs), CPUNumber = cpus - 1; IIDR and ICPIDR2 as QEMU', () => {
    const { dist } = rig(2);
    expect(dist(0).read(0x004, 4)).toBe(8 | (1 << 5));
    expect(dist(0).read(0x008, 4)).toBe(0x43b);
    expect(dist(0).read(0xfe8, 4)).toBe(0x2b);
    dist(0).write(0x004, 4, 0xffffffff);
    expect(dist(0).read(0x004, 4)).toBe(8 | (1 << 5));
  });
  it('IPRIORITYR: 8 bits, byte accessible; ITARGETSR: 0-31 banked read-only, SPIs masked to present CPUs', () => {
    const { dist } = rig(2);
    dist(0).write(0x420, 4, 0xff7fbf3f);
    expect(dist(0).read(0x420, 4)).toBe(0xff7fbf3f);
    dist(0).write(0x422, 1, 0x1f);
    expect(dist(0).read(0x420, 4)).toBe(0xff1fbf3f);
    expect(dist(0).read(0x421, 1)).toBe(0xbf);
    expect(dist(0).read(0x800, 4)).toBe(0x01010101);
    expect(dist(1).read(0x800, 4)).toBe(0x02020202);
    dist(0).write(0x820, 4, 0x0103020f);
    expect(dist(0).read(0x820, 4)).toBe(0x01030203);
    expect(dist(0).read(0x400 + 288, 4)).toBe(0); // beyond the last INTID: RAZ/WI
  });
});

describe('GICv2 interrupt flow (IHI0048B 3.2 "General handling of interrupts")', () => {
  it('an SPI targeted at CPU 0: pending, IAR acknowledges it (active), EOIR ends it', () => {
    const { gic, dist, cpu, enable } = rig(1);
    enable(0);
    dist(0).write(0x100 + 4, 4, 1 << 1); // ISENABLER1: INTID 33
    dist(0).write(0x820, 4, 0x0100); // ITARGETSR for 33 -> CPU 0
    expect(gic.irqPending()).toBe(false);
    gic.setLevel(33, true);
    expect(gic.irqPending()).toBe(true);
    expect(cpu(0).read(0x0c, 4)).toBe(33);
    expect(gic.irqPending()).toBe(false); // active, and level still high: not pending again until EOI
    expect(dist(0).read(0x300 + 4, 4)).toBe(1 << 1); // ISACTIVER1
    gic.setLevel(33, false);
    cpu(0).write(0x10, 4, 33);
    expect(dist(0).read(0x300 + 4, 4)).toBe(0);
    expect(cpu(0).read(0x0c, 4)).toBe(GICV2_SPURIOUS);
  });
  it('priority masking: PMR and the running priority (no preemption by an equal or lower priority)', () => {
    const { gic, dist, cpu, enable } = rig(1);
    enable(0);
    dist(0).write(0x100 + 4, 4, 0b110); // INTIDs 33, 34
    dist(0).write(0x820, 4, 0x010100);
    dist(0).write(0x420, 4, 0x0080a000); // 33: 0xa0, 34: 0x80
    cpu(0).write(0x04, 4, 0x90); // PMR: only priority < 0x90 passes
    gic.setLevel(33, true);
    expect(gic.irqPending()).toBe(false);
    gic.setLevel(34, true);
    expect(cpu(0).read(0x0c, 4)).toBe(34);
    cpu(0).write(0x04, 4, 0xff);
    expect(gic.irqPending()).toBe(false); // 0xa0 does not preempt the active 0x80
    cpu(0).write(0x10, 4, 34);
    expect(gic.irqPending()).toBe(true);
  });
  it('GICD_SGIR: an SGI reaches the listed CPUs, and IAR reports the sender in CPUID [12:10]', () => {
    const { gic, dist, cpu, enable } = rig(2);
    enable(0);
    enable(1);
    dist(1).write(0xf00, 4, (1 << 16) | 5); // CPU 1 sends SGI 5 to CPU 0
    expect(gic.irqPending(0)).toBe(true);
    expect(gic.irqPending(1)).toBe(false);
    expect(cpu(0).read(0x0c, 4)).toBe(5 | (1 << 10));
    cpu(0).write(0x10, 4, 5 | (1 << 10));
    dist(0).write(0xf00, 4, (1 << 24) | 3); // all but self
    expect(gic.irqPending(1)).toBe(true);
    expect(gic.irqPending(0)).toBe(false);
    expect(cpu(1).read(0x0c, 4)).toBe(3);
  });
  it('a PPI is per CPU (the timer of CPU 1 does not interrupt CPU 0)', () => {
    const { gic, dist, enable } = rig(2);
    enable(0);
    enable(1);
    dist(0).write(0x100, 4, 1 << 27);
    dist(1).write(0x100, 4, 1 << 27);
    gic.setLevel(27, true, 1);
    expect(gic.irqPending(1)).toBe(true);
    expect(gic.irqPending(0)).toBe(false);
  });
  it('nothing is signalled while GICD_CTLR or GICC_CTLR is clear', () => {
    const { gic, dist, cpu } = rig(1);
    dist(0).write(0x100, 4, 1 << 27);
    gic.setLevel(27, true);
    expect(gic.irqPending()).toBe(false);
    dist(0).write(0x000, 4, 1);
    expect(gic.irqPending()).toBe(false);
    cpu(0).write(0x00, 4, 1);
    cpu(0).write(0x04, 4, 0xff);
    expect(gic.irqPending()).toBe(true);
  });
});

const REF = sharedFile('reference/virt-gicv2-smp2.dts');
describe.skipIf(REF === null)('virt DT with --gic v2 mirrors QEMU 7.2 virt-gicv2-smp2.dts', () => {
  it('intc node, timer and PMU PPI flags (CPU mask 0x3 << 8 for 2 CPUs)', () => {
    const ref = parseFdt(new Uint8Array(execFileSync('dtc', ['-I', 'dts', '-O', 'dtb', REF!], { stdio: ['ignore', 'pipe', 'pipe'] }))).root;
    const ours = parseFdt(buildVirtDtb({ ramBase: 0x4000_0000, ramSize: 0x1000_0000, cpus: 2, gic: 'v2' })).root;
    const intc = (r: typeof ref) => findNode(r, '/intc@8000000')!;
    for (const k of ['reg', '#interrupt-cells', '#address-cells', '#size-cells']) {
      expect(propU32s(intc(ours).props.get(k)!), k).toEqual(propU32s(intc(ref).props.get(k)!));
    }
    expect(propStrings(intc(ours).props.get('compatible')!)).toEqual(['arm,cortex-a15-gic']);
    for (const n of ['/timer', '/pmu']) {
      expect(propU32s(findNode(ours, n)!.props.get('interrupts')!), n).toEqual(propU32s(findNode(ref, n)!.props.get('interrupts')!));
    }
  });
});
