/**
 * The flattened-devicetree reader (Devicetree Specification v0.4, chapter 5): enough to check our
 * own output (dtb.ts writes it), inspect a user-supplied DTB and patch decisions.
 */
import { FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_NOP, FDT_PROP, FDT_VERSION, FDT_MAGIC, HEADER_SIZE, FdtError, type MemReservation } from './dtb-format.js';

export interface ParsedNode {
  name: string;
  props: Map<string, Uint8Array>;
  children: ParsedNode[];
}

export interface ParsedFdt {
  version: number;
  lastCompVersion: number;
  bootCpuidPhys: number;
  reservations: MemReservation[];
  root: ParsedNode;
}

/** Where the blocks are (spec 5.2), checked to lie inside the blob. */
interface FdtHeader {
  total: number;
  offStruct: number;
  offStrings: number;
  offRsv: number;
  version: number;
  lastComp: number;
  bootCpu: number;
  sizeStrings: number;
  sizeStruct: number;
}

/** Parse a DTB (spec chapter 5); throws FdtError with one line describing the problem. */
export function parseFdt(bytes: Uint8Array): ParsedFdt {
  if (bytes.length < HEADER_SIZE) throw new FdtError(`DTB truncated: ${bytes.length} bytes, header needs ${HEADER_SIZE}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hd = parseHeader(bytes, dv);
  const reservations = readReservations(dv, hd);
  const root = parseStructure(bytes, dv, hd);
  return { version: hd.version, lastCompVersion: hd.lastComp, bootCpuidPhys: hd.bootCpu, reservations, root };
}

/** Offset and length inside the blob's totalsize. */
const inside = (h: { total: number }, off: number, len: number): boolean => off <= h.total && len <= h.total - off;

/** The header (spec 5.2): magic, version, and block offsets and sizes inside the blob. */
function parseHeader(bytes: Uint8Array, dv: DataView): FdtHeader {
  const h = (i: number): number => dv.getUint32(i * 4);
  if (h(0) !== FDT_MAGIC) throw new FdtError(`bad DTB magic 0x${h(0).toString(16)} (want 0xd00dfeed)`);
  const [total, offStruct, offStrings, offRsv, version, lastComp, bootCpu, sizeStrings, sizeStruct] =
    [h(1), h(2), h(3), h(4), h(5), h(6), h(7), h(8), h(9)];
  if (total > bytes.length) throw new FdtError(`DTB totalsize ${total} exceeds the ${bytes.length} bytes given`);
  if (lastComp > FDT_VERSION || version < 16) throw new FdtError(`unsupported DTB version ${version} (last compatible ${lastComp})`);
  const hd: FdtHeader = { total, offStruct, offStrings, offRsv, version, lastComp, bootCpu, sizeStrings, sizeStruct };
  if (!inside(hd, offStruct, sizeStruct) || !inside(hd, offStrings, sizeStrings) || offStruct % 4 !== 0) {
    throw new FdtError('DTB block offsets/sizes outside the blob');
  }
  if (offRsv % 8 !== 0 || !inside(hd, offRsv, 16)) throw new FdtError('DTB memory reservation map misplaced');
  return hd;
}

/** The memory reservation map (spec 5.3): u64 pairs up to a (0, 0) entry. */
function readReservations(dv: DataView, hd: FdtHeader): MemReservation[] {
  const reservations: MemReservation[] = [];
  for (let o = hd.offRsv; ; o += 16) {
    if (!inside(hd, o, 16)) throw new FdtError('DTB memory reservation map not terminated');
    const address = dv.getBigUint64(o);
    const size = dv.getBigUint64(o + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }
  return reservations;
}

/** The structure block (spec 5.4): one root node, its properties and children. */
function parseStructure(bytes: Uint8Array, dv: DataView, hd: FdtHeader): ParsedNode {
  const { offStruct, sizeStruct, offStrings, sizeStrings } = hd;
  const dec = new TextDecoder('utf-8', { fatal: false });
  const cstr = (start: number, limit: number, what: string): string => {
    let e = start;
    while (e < limit && bytes[e] !== 0) e++;
    if (e >= limit) throw new FdtError(`DTB ${what} not NUL-terminated`);
    return dec.decode(bytes.subarray(start, e));
  };

  const end = offStruct + sizeStruct;
  let p = offStruct;
  const word = (): number => {
    if (p + 4 > end) throw new FdtError('DTB structure block truncated');
    const v = dv.getUint32(p);
    p += 4;
    return v;
  };
  const align4 = (): void => {
    p = (p + 3) & ~3;
  };

  const stack: ParsedNode[] = [];
  let root: ParsedNode | undefined;
  for (;;) {
    const tok = word();
    if (tok === FDT_NOP) continue;
    if (tok === FDT_BEGIN_NODE) {
      const name = cstr(p, end, 'node name');
      while (bytes[p] !== 0) p++;
      p++;
      align4();
      const n: ParsedNode = { name, props: new Map(), children: [] };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(n);
      else if (root) throw new FdtError('DTB has more than one root node');
      else root = n;
      stack.push(n);
    } else if (tok === FDT_PROP) {
      const len = word();
      const nameoff = word();
      const n = stack[stack.length - 1];
      if (!n) throw new FdtError('DTB property outside any node');
      if (p + len > end) throw new FdtError('DTB property value runs past the structure block');
      if (nameoff >= sizeStrings) throw new FdtError(`DTB property name offset ${nameoff} outside strings block`);
      const name = cstr(offStrings + nameoff, offStrings + sizeStrings, 'property name');
      if (n.props.has(name)) throw new FdtError(`DTB duplicate property ${name} in ${n.name || '/'}`);
      n.props.set(name, bytes.slice(p, p + len));
      p += len;
      align4();
    } else if (tok === FDT_END_NODE) {
      if (!stack.pop()) throw new FdtError('DTB unbalanced END_NODE');
    } else if (tok === FDT_END) {
      break;
    } else {
      throw new FdtError(`DTB unknown token 0x${tok.toString(16)} at offset 0x${(p - 4).toString(16)}`);
    }
  }
  if (!root || stack.length !== 0) throw new FdtError('DTB structure block unbalanced');
  return root;
}

/** Look up a node by absolute path ("/", "/cpus/cpu@0"). */
export function findNode(root: ParsedNode, path: string): ParsedNode | undefined {
  let n: ParsedNode | undefined = root;
  for (const part of path.split('/').filter((s) => s.length > 0)) {
    n = n?.children.find((c) => c.name === part);
    if (!n) return undefined;
  }
  return n;
}

/** Decode a property as big-endian u32 cells. */
export function propU32s(v: Uint8Array): number[] {
  if (v.length % 4 !== 0) throw new FdtError(`property of ${v.length} bytes is not a cell array`);
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return Array.from({ length: v.length / 4 }, (_, i) => dv.getUint32(i * 4));
}

/** Decode a <stringlist> (a single <string> gives a one-element list). */
export function propStrings(v: Uint8Array): string[] {
  if (v.length === 0 || v[v.length - 1] !== 0) throw new FdtError('property is not a NUL-terminated string list');
  return new TextDecoder().decode(v.subarray(0, v.length - 1)).split('\0');
}

export function propString(v: Uint8Array): string {
  const l = propStrings(v);
  if (l.length !== 1) throw new FdtError('property holds several strings');
  return l[0] as string;
}

/** Render a parsed tree as DTS-like text (for `--dump-dtb`-style debugging and test diffs). */
export function toDts(fdt: ParsedFdt): string {
  const lines: string[] = ['/dts-v1/;', ''];
  for (const r of fdt.reservations) lines.push(`/memreserve/ 0x${r.address.toString(16)} 0x${r.size.toString(16)};`);
  const fmt = (v: Uint8Array): string => {
    if (v.length === 0) return '';
    const printable = v[v.length - 1] === 0 && v[0] !== 0 &&
      v.every((b, i) => (b >= 0x20 && b < 0x7f) || (b === 0 && i > 0 && v[i - 1] !== 0));
    if (printable) return ` = ${propStrings(v).map((s) => JSON.stringify(s)).join(', ')}`;
    if (v.length % 4 === 0) return ` = <${propU32s(v).map((c) => `0x${c.toString(16)}`).join(' ')}>`;
    return ` = [${Array.from(v, (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
  };
  const walk = (n: ParsedNode, depth: number): void => {
    const ind = '\t'.repeat(depth);
    lines.push(`${ind}${n.name || '/'} {`);
    for (const [k, v] of n.props) lines.push(`${ind}\t${k}${fmt(v)};`);
    for (const c of n.children) {
      lines.push('');
      walk(c, depth + 1);
    }
    lines.push(`${ind}};`);
  };
  walk(fdt.root, 0);
  return lines.join('\n') + '\n';
}
