/**
 * The virt board tree against QEMU 7.2's `-M virt,gic-version=3` tree
 * (shared/reference/virt-gicv3-smp2.dts beside the repository, see tests/shared-files.ts), node for node for the devices we model.
 * Bindings: devicetree spec 3.4 (/memory), 3.6 (/chosen), 3.7 (/cpus); Linux
 * Documentation/devicetree/bindings: arm/psci.yaml, timer/arm,arch_timer.yaml,
 * interrupt-controller/arm,gic-v3.yaml, serial/arm,pl011.yaml, clock/fixed-clock.yaml.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ParsedNode, findNode, parseFdt, propString, propStrings, propU32s } from '../../emulator/platform/dtb.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { RNG_SEED_BYTES, VIRT_UART_PATH, buildVirtDtb, dtRandomness, virtMpidrAffinity } from '../../emulator/platform/virt-dt.js';
import { DEFAULT_SEED, SeededRandom } from '../../emulator/devices/rng.js';

import { sharedFile } from '../shared-files.js';

// Skipped only when no shared/ directory is beside the checkout; a missing dtc is a failure
// (npm run setup installs device-tree-compiler).
const REF = sharedFile('reference/virt-gicv3-smp2.dts');

const RAM = { ramBase: 0x4000_0000, ramSize: 0x1000_0000 };

function tree(opts: Partial<Parameters<typeof buildVirtDtb>[0]> = {}): ParsedNode {
  return parseFdt(buildVirtDtb({ ...RAM, cpus: 1, ...opts })).root;
}
const node = (root: ParsedNode, path: string): ParsedNode => {
  const n = findNode(root, path);
  if (!n) throw new Error(`no node ${path}`);
  return n;
};
const u32s = (n: ParsedNode, p: string): number[] => propU32s(n.props.get(p)!);
const strs = (n: ParsedNode, p: string): string[] => propStrings(n.props.get(p)!);

describe('virt DT (self-contained checks)', () => {
  const root = tree({ bootargs: 'console=ttyAMA0', initrd: { start: 0x4800_0000, end: 0x4800_0119 } });
  const phandleOf = (path: string): number => u32s(node(root, path), 'phandle')[0]!;

  it('root: 2 address/size cells, linux,dummy-virt, interrupt-parent = GIC', () => {
    expect(u32s(root, '#address-cells')).toEqual([2]);
    expect(u32s(root, '#size-cells')).toEqual([2]);
    expect(strs(root, 'compatible')).toEqual(['linux,dummy-virt']);
    expect(u32s(root, 'interrupt-parent')).toEqual([phandleOf('/intc@8000000')]);
  });
  it('psci: 1.0/0.2/0.1 compatibles, hvc conduit', () => {
    const p = node(root, '/psci');
    expect(strs(p, 'compatible')).toEqual(['arm,psci-1.0', 'arm,psci-0.2', 'arm,psci']);
    expect(propString(p.props.get('method')!)).toBe('hvc');
    expect(u32s(p, 'cpu_on')).toEqual([0xc400_0003]);
  });
  it('memory@40000000 covers RAM', () => {
    const m = node(root, '/memory@40000000');
    expect(propString(m.props.get('device_type')!)).toBe('memory');
    expect(u32s(m, 'reg')).toEqual([0, 0x4000_0000, 0, 0x1000_0000]);
  });
  it('cpus: cpu@0 with psci enable-method, reg = MPIDR affinity', () => {
    const cpus = node(root, '/cpus');
    expect(u32s(cpus, '#address-cells')).toEqual([1]);
    expect(u32s(cpus, '#size-cells')).toEqual([0]);
    const c = node(root, '/cpus/cpu@0');
    expect(propString(c.props.get('enable-method')!)).toBe('psci');
    expect(u32s(c, 'reg')).toEqual([0]);
    expect(findNode(root, '/cpus/cpu@1')).toBeUndefined();
    expect(u32s(node(root, '/cpus/cpu-map/socket0/cluster0/core0'), 'cpu')).toEqual([phandleOf('/cpus/cpu@0')]);
  });
  it('timer: PPIs 13, 14, 11, 10 level-high, always-on', () => {
    const t = node(root, '/timer');
    expect(strs(t, 'compatible')[0]).toBe('arm,armv8-timer');
    expect(u32s(t, 'interrupts')).toEqual([1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);
    expect(t.props.has('always-on')).toBe(true);
  });
  it('GICv3: distributor + redistributor regions from memmap.ts', () => {
    const g = node(root, '/intc@8000000');
    expect(strs(g, 'compatible')).toEqual(['arm,gic-v3']);
    expect(u32s(g, 'reg')).toEqual([0, VIRT.GIC_DIST.base, 0, VIRT.GIC_DIST.size, 0, VIRT.GIC_REDIST.base, 0, VIRT.GIC_REDIST.size]);
    expect(u32s(g, '#interrupt-cells')).toEqual([3]);
    expect(g.props.has('interrupt-controller')).toBe(true);
  });
  it('pl011: primecell, SPI 1 level-high, both clocks from the 24 MHz fixed clock', () => {
    const u = node(root, '/pl011@9000000');
    expect(strs(u, 'compatible')).toEqual(['arm,pl011', 'arm,primecell']);
    expect(u32s(u, 'reg')).toEqual([0, VIRT.UART0.base, 0, VIRT.UART0.size]);
    expect(u32s(u, 'interrupts')).toEqual([0, 1, 4]);
    const clk = phandleOf('/apb-pclk');
    expect(u32s(u, 'clocks')).toEqual([clk, clk]);
    expect(strs(u, 'clock-names')).toEqual(['uartclk', 'apb_pclk']);
    expect(u32s(node(root, '/apb-pclk'), 'clock-frequency')).toEqual([24_000_000]);
  });
  it('chosen: stdout-path, bootargs, initrd span', () => {
    const c = node(root, '/chosen');
    expect(propString(c.props.get('stdout-path')!)).toBe(VIRT_UART_PATH);
    expect(VIRT_UART_PATH).toBe('/pl011@9000000');
    expect(propString(c.props.get('bootargs')!)).toBe('console=ttyAMA0');
    expect(u32s(c, 'linux,initrd-start')).toEqual([0x4800_0000]);
    expect(u32s(c, 'linux,initrd-end')).toEqual([0x4800_0119]);
  });
  it('chosen without options has no bootargs/initrd; initrd above 4 GiB takes two cells', () => {
    const c = node(tree(), '/chosen');
    expect([...c.props.keys()]).toEqual(['stdout-path']);
    const hi = node(tree({ initrd: { start: 0x1_0000_0000, end: 0x1_0000_1000 } }), '/chosen');
    expect(u32s(hi, 'linux,initrd-start')).toEqual([1, 0]);
  });
  it('MPIDR affinity packs 16 CPUs per cluster (QEMU virt + GICv3)', () => {
    expect([0, 15, 16, 17].map(virtMpidrAffinity)).toEqual([0, 15, 0x100, 0x101]);
    expect(() => buildVirtDtb({ ...RAM, cpus: 0 })).toThrow(RangeError);
  });
});

describe('/chosen kaslr-seed and rng-seed from --seed (QEMU 7.2 hw/arm/virt.c create_randomness)', () => {
  const chosenOf = (seed: bigint) => {
    const g = new SeededRandom(seed, 'dt');
    const root = parseFdt(buildVirtDtb({ ...RAM, cpus: 1, randomness: dtRandomness(() => g.next64(), (n) => g.bytes(n)) })).root;
    return node(root, '/chosen').props;
  };
  it('kaslr-seed is a u64 (two cells) and rng-seed 32 bytes', () => {
    const p = chosenOf(DEFAULT_SEED);
    expect(p.get('kaslr-seed')!.length).toBe(8);
    expect(p.get('rng-seed')!.length).toBe(RNG_SEED_BYTES);
  });
  it('the same seed gives the same bytes; another seed different ones', () => {
    expect(chosenOf(7n).get('rng-seed')).toEqual(chosenOf(7n).get('rng-seed'));
    expect(chosenOf(7n).get('kaslr-seed')).toEqual(chosenOf(7n).get('kaslr-seed'));
    expect(chosenOf(7n).get('rng-seed')).not.toEqual(chosenOf(8n).get('rng-seed'));
    expect(chosenOf(7n).get('kaslr-seed')).not.toEqual(chosenOf(8n).get('kaslr-seed'));
  });
  it('no randomness given: neither property', () => {
    const p = node(parseFdt(buildVirtDtb({ ...RAM, cpus: 1 })).root, '/chosen').props;
    expect(p.has('rng-seed') || p.has('kaslr-seed')).toBe(false);
  });
});

describe.skipIf(REF === null)('virt DT mirrors QEMU 7.2 virt-gicv3-smp2.dts', () => {
  // Built in beforeAll, not in the describe body: vitest collects a skipped describe's body too.
  let ref: ParsedNode;
  let refPh: Map<number, string>;
  beforeAll(() => {
    let dtb: Buffer;
    try {
      dtb = execFileSync('dtc', ['-I', 'dts', '-O', 'dtb', REF!], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`dtc -I dts -O dtb ${REF} failed (is device-tree-compiler installed? npm run setup installs it): ${(e as Error).message}`);
    }
    ref = parseFdt(new Uint8Array(dtb)).root;
    refPh = phandles(ref);
  });
  const seeded = new SeededRandom(DEFAULT_SEED, 'dt');
  const ours = parseFdt(buildVirtDtb({
    ...RAM, cpus: 2, bootargs: 'setup smp=2 mem=256', initrd: { start: 0x4800_0000, end: 0x4800_0119 },
    randomness: dtRandomness(() => seeded.next64(), (n) => seeded.bytes(n)),
  })).root;

  /** phandle -> node path, so references compare by target rather than by number. */
  const phandles = (root: ParsedNode): Map<number, string> => {
    const m = new Map<number, string>();
    const walk = (n: ParsedNode, path: string): void => {
      const p = n.props.get('phandle');
      if (p) m.set(propU32s(p)[0]!, path || '/');
      for (const c of n.children) walk(c, `${path}/${c.name}`);
    };
    walk(root, '');
    return m;
  };
  const ourPh = phandles(ours);
  const REF_PROPS = new Set(['interrupt-parent', 'clocks', 'cpu']);
  /** QEMU-only properties we leave out on purpose (see virt-dt.ts header): none today. */
  const OMITTED = new Set<string>();
  /** Random values (QEMU: host entropy; ours: --seed): same size, values differ. */
  const RANDOM = new Set(['/chosen:rng-seed', '/chosen:kaslr-seed']);

  const compare = (n: ParsedNode, path: string): void => {
    const r = findNode(ref, path || '/');
    expect(r, `reference has ${path}`).toBeDefined();
    for (const [k, v] of n.props) {
      if (k === 'phandle') continue;
      if (RANDOM.has(`${path}:${k}`)) {
        expect(v.length, `${path}:${k} size`).toBe(r!.props.get(k)!.length);
      } else if (REF_PROPS.has(k)) {
        expect(propU32s(v).map((x) => ourPh.get(x)), `${path}:${k}`).toEqual(propU32s(r!.props.get(k)!).map((x) => refPh.get(x)));
      } else {
        expect(r!.props.get(k), `${path}:${k}`).toEqual(v);
      }
    }
    for (const k of r!.props.keys()) {
      if (!OMITTED.has(`${path}:${k}`)) expect(n.props.has(k), `${path || '/'} lacks ${k}`).toBe(true);
    }
    for (const c of n.children) compare(c, `${path}/${c.name}`);
  };

  it('cpus: cpu-map first, then cpu@0, cpu@1, with QEMU\'s phandles (cpu@N-1 allocated first)', () => {
    const names = (root: ParsedNode): string[] => node(root, '/cpus').children.map((c) => c.name);
    expect(names(ours)).toEqual(names(ref));
    expect(names(ours)).toEqual(['cpu-map', 'cpu@0', 'cpu@1']);
    for (const cpu of ['cpu@0', 'cpu@1']) {
      expect(u32s(node(ours, `/cpus/${cpu}`), 'phandle'), cpu).toEqual(u32s(node(ref, `/cpus/${cpu}`), 'phandle'));
    }
    expect(u32s(node(ours, '/intc@8000000'), 'phandle')).toEqual(u32s(node(ref, '/intc@8000000'), 'phandle'));
  });
  it('every node we emit exists there with the same properties and values', () => {
    compare(ours, '');
  });
  it('emits exactly the modelled nodes, in the reference order', () => {
    const virtio = Array.from({ length: 32 }, (_, i) => `virtio_mmio@${(0x0a00_0000 + i * 0x200).toString(16)}`);
    expect(ours.children.map((c) => c.name).sort()).toEqual(
      ['apb-pclk', 'chosen', 'cpus', 'intc@8000000', 'memory@40000000', 'pl011@9000000', 'pmu', 'psci', 'timer', ...virtio].sort(),
    );
    const modelled = new Set(ours.children.map((c) => c.name));
    expect(ours.children.map((c) => c.name)).toEqual(ref.children.map((c) => c.name).filter((n) => modelled.has(n)));
    // The GIC's ITS child, with QEMU's phandle (the GIC's + 1).
    expect(node(ours, '/intc@8000000').children.map((c) => c.name)).toEqual(node(ref, '/intc@8000000').children.map((c) => c.name));
    expect(u32s(node(ours, '/intc@8000000/its@8080000'), 'phandle')).toEqual(u32s(node(ref, '/intc@8000000/its@8080000'), 'phandle'));
  });
});
