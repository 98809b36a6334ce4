/**
 * FDT writer/reader: Devicetree Specification v0.4 chapter 5 (header 5.2, reservation map
 * 5.3, structure block 5.4, strings block 5.5) and 2.2.1/2.2.4 (names).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FDT_MAGIC, FdtBuilder, FdtError, findNode, parseFdt, propString, propStrings, propU32s, toDts,
} from '../../emulator/platform/dtb.js';

// npm run setup installs device-tree-compiler; without it these tests fail rather than skip.
const dtcMissing = (): string | null =>
  spawnSync('dtc', ['--version']).status === 0 ? null : 'dtc not found: npm run setup installs device-tree-compiler';

function sample(): Uint8Array {
  const b = new FdtBuilder();
  b.reserve(0x4800_0000, 0x1000);
  const r = b.root;
  r.u32('#address-cells', 2).u32('#size-cells', 2).strings('compatible', ['acme,board', 'acme,generic']);
  const clk = r.node('clk');
  r.node('memory@40000000').string('device_type', 'memory').u64s('reg', [0x4000_0000, 0x1000_0000]);
  r.node('dev@9000000')
    .u64s('reg', [0x900_0000, 0x1000])
    .cells('clocks', [clk, clk])
    .u64('big', 0x1_2345_6789n)
    .bytes('blob', new Uint8Array([1, 2, 3]))
    .empty('flag')
    .strings('compatible', ['acme,dev']);
  clk.u32('#clock-cells', 0);
  return b.build();
}

describe('FDT header and layout (DT spec 5.2-5.5)', () => {
  const dtb = sample();
  const dv = new DataView(dtb.buffer);
  const h = (i: number): number => dv.getUint32(i * 4);

  it('has magic, version 17, last_comp_version 16, totalsize', () => {
    expect(h(0)).toBe(FDT_MAGIC);
    expect(h(1)).toBe(dtb.length);
    expect(h(5)).toBe(17);
    expect(h(6)).toBe(16);
  });
  it('aligns the reservation map to 8 and the structure block to 4, blocks in spec order', () => {
    const [offStruct, offStrings, offRsv] = [h(2), h(3), h(4)];
    expect(offRsv % 8).toBe(0);
    expect(offStruct % 4).toBe(0);
    expect(offRsv).toBeLessThan(offStruct);
    expect(offStruct + h(9)).toBe(offStrings);
    expect(offStrings + h(8)).toBe(dtb.length);
  });
  it('writes the reservation map terminated by a 0,0 entry', () => {
    const fdt = parseFdt(dtb);
    expect(fdt.reservations).toEqual([{ address: 0x4800_0000n, size: 0x1000n }]);
    const offRsv = h(4);
    expect(dv.getBigUint64(offRsv + 16)).toBe(0n);
    expect(dv.getBigUint64(offRsv + 24)).toBe(0n);
  });
  it('stores each property name once in the strings block', () => {
    const strings = new TextDecoder().decode(dtb.subarray(h(3), h(3) + h(8))).split('\0').filter(Boolean);
    expect(strings.filter((s) => s === 'compatible')).toHaveLength(1);
    expect(new Set(strings).size).toBe(strings.length);
  });
});

describe('FDT properties round trip', () => {
  const fdt = parseFdt(sample());
  const dev = findNode(fdt.root, '/dev@9000000')!;
  const clk = findNode(fdt.root, '/clk')!;

  it('encodes u32, u64 (two cells, MSW first), string lists, bytes, empty', () => {
    expect(propU32s(fdt.root.props.get('#address-cells')!)).toEqual([2]);
    expect(propU32s(dev.props.get('big')!)).toEqual([0x1, 0x2345_6789]);
    expect(propStrings(fdt.root.props.get('compatible')!)).toEqual(['acme,board', 'acme,generic']);
    expect(propString(findNode(fdt.root, '/memory@40000000')!.props.get('device_type')!)).toBe('memory');
    expect(propU32s(findNode(fdt.root, '/memory@40000000')!.props.get('reg')!)).toEqual([0, 0x4000_0000, 0, 0x1000_0000]);
    expect([...dev.props.get('blob')!]).toEqual([1, 2, 3]);
    expect(dev.props.get('flag')!.length).toBe(0);
  });
  it('resolves node references to phandles assigned at build time (DT spec 2.3.3)', () => {
    const ph = propU32s(clk.props.get('phandle')!)[0]!;
    expect(ph).toBeGreaterThan(0);
    expect(propU32s(dev.props.get('clocks')!)).toEqual([ph, ph]);
  });
  it('keeps node and property insertion order', () => {
    expect(fdt.root.children.map((c) => c.name)).toEqual(['clk', 'memory@40000000', 'dev@9000000']);
    expect([...dev.props.keys()]).toEqual(['reg', 'clocks', 'big', 'blob', 'flag', 'compatible']);
  });
  it('renders DTS text', () => {
    const dts = toDts(fdt);
    expect(dts).toContain('compatible = "acme,board", "acme,generic";');
    expect(dts).toContain('reg = <0x0 0x40000000 0x0 0x10000000>;');
    expect(dts).toContain('flag;');
  });
});

describe('FDT builder validation (DT spec 2.2.1, 2.2.4)', () => {
  it('rejects bad node names, property names and duplicates', () => {
    const b = new FdtBuilder();
    expect(() => b.root.node('has space')).toThrow(FdtError);
    expect(() => b.root.node('a'.repeat(32))).toThrow(FdtError);
    b.root.node('x');
    expect(() => b.root.node('x')).toThrow(/duplicate node/);
    expect(() => b.root.u32('bad name', 1)).toThrow(FdtError);
    b.root.u32('p', 1);
    expect(() => b.root.u32('p', 2)).toThrow(/duplicate property/);
  });
  it('rejects out-of-range cells and NUL inside strings', () => {
    const r = new FdtBuilder().root;
    expect(() => r.u32('a', -1)).toThrow(FdtError);
    expect(() => r.u32('b', 2 ** 32)).toThrow(FdtError);
    expect(() => r.u64('c', 2 ** 64)).toThrow(FdtError);
    expect(() => r.string('d', 'a\0b')).toThrow(FdtError);
  });
  it('starts phandles where asked and never at 0', () => {
    expect(() => new FdtBuilder({ firstPhandle: 0 })).toThrow(FdtError);
    const b = new FdtBuilder({ firstPhandle: 0x8000 });
    expect(b.root.node('a').phandle()).toBe(0x8000);
    expect(b.root.node('b').phandle()).toBe(0x8001);
  });
});

describe('FDT reader rejects malformed blobs', () => {
  const good = sample();
  it('bad magic, truncation, totalsize beyond the buffer', () => {
    expect(() => parseFdt(good.subarray(0, 20))).toThrow(/truncated/);
    const bad = good.slice();
    bad[0] = 0;
    expect(() => parseFdt(bad)).toThrow(/magic/);
    expect(() => parseFdt(good.subarray(0, good.length - 1))).toThrow(/totalsize/);
  });
  it('unknown token', () => {
    const bad = good.slice();
    const offStruct = new DataView(bad.buffer).getUint32(8);
    new DataView(bad.buffer).setUint32(offStruct, 0x77);
    expect(() => parseFdt(bad)).toThrow(/unknown token/);
  });
});

describe('FDT against dtc', () => {
  beforeAll(() => {
    const why = dtcMissing();
    if (why) throw new Error(why);
  });
  const dir = mkdtempSync(join(tmpdir(), 'hypemu-dtb-'));
  it('dtc decompiles our blob without warnings and recompiles it to the same tree', () => {
    const f = join(dir, 'a.dtb');
    writeFileSync(f, sample());
    const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', '-o', join(dir, 'a.dts'), f], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const dts = readFileSync(join(dir, 'a.dts'), 'utf8');
    expect(dts).toMatch(/\/memreserve\/\s+0x0*48000000 0x0*1000;/);
    expect(dts).toContain('compatible = "acme,board\\0acme,generic";');
    // Recompiled by dtc, the tree must parse back to the same nodes and properties.
    const again = execFileSync('dtc', ['-I', 'dts', '-O', 'dtb', join(dir, 'a.dts')], { stdio: ['ignore', 'pipe', 'ignore'] });
    expect(toDts(parseFdt(new Uint8Array(again)))).toBe(toDts(parseFdt(sample())));
  });
  it('our reader parses a dtc-built blob', () => {
    const src = '/dts-v1/;\n/memreserve/ 0x1000 0x2000;\n/ { a = <1 2>; s = "x", "y"; n@1 { e; }; };\n';
    writeFileSync(join(dir, 'b.dts'), src);
    const blob = new Uint8Array(execFileSync('dtc', ['-I', 'dts', '-O', 'dtb', join(dir, 'b.dts')]));
    const fdt = parseFdt(blob);
    expect(fdt.reservations).toEqual([{ address: 0x1000n, size: 0x2000n }]);
    expect(propU32s(fdt.root.props.get('a')!)).toEqual([1, 2]);
    expect(propStrings(fdt.root.props.get('s')!)).toEqual(['x', 'y']);
    expect(findNode(fdt.root, '/n@1')!.props.has('e')).toBe(true);
  });
});
