/**
 * A small flattened-devicetree (FDT / DTB) writer and reader.
 *
 * Format: Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format".
 * We emit version 17 (last_comp_version 16), the version every Linux since 2.6 reads.
 *
 *   header (40 bytes, big-endian u32s)                     spec 5.2
 *   memory reservation map (8-byte aligned, u64 pairs, ends with 0,0)   spec 5.3
 *   structure block (4-byte aligned tokens)                 spec 5.4
 *   strings block (NUL-terminated property names, no alignment)         spec 5.5
 *
 * The writer builds a tree in memory (nodes own properties and children, in insertion
 * order) and serialises it once. Phandles may be referenced before they are assigned: a
 * cell that is an `FdtNode` becomes that node's phandle, allocated at build time.
 */

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;

/** Structure block tokens (spec 5.4.1). */
const FDT_BEGIN_NODE = 0x1;
const FDT_END_NODE = 0x2;
const FDT_PROP = 0x3;
const FDT_NOP = 0x4;
const FDT_END = 0x9;

const HEADER_SIZE = 40;

export class FdtError extends Error {
  override name = 'FdtError';
}

/** A property cell: a number (u32) or a node, which stands for that node's phandle. */
export type FdtCell = number | FdtNode;

type FdtValue =
  | { kind: 'bytes'; data: Uint8Array }
  | { kind: 'cells'; cells: FdtCell[] }
  /** The node's own `phandle` property; its number is known once allocated. */
  | { kind: 'self-phandle' };

interface FdtProp {
  name: string;
  value: FdtValue;
}

/** Spec 2.2.1: node-name 1-31 characters from [0-9a-zA-Z,._+-], then an optional @unit-address. */
const NODE_NAME_RE = /^[0-9a-zA-Z,._+-]{1,31}(@[0-9a-zA-Z,._+-]+)?$/;
/** Spec 2.2.4: property names 1-31 characters from [0-9a-zA-Z,._+?#-]. */
const PROP_NAME_RE = /^[0-9a-zA-Z,._+?#-]{1,31}$/;

function u32Check(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new FdtError(`property ${name}: ${v} is not a u32`);
  }
  return v;
}

function u64Check(name: string, v: number | bigint): bigint {
  const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
  if (b < 0n || b > 0xffff_ffff_ffff_ffffn) throw new FdtError(`property ${name}: ${v} is not a u64`);
  return b;
}

/** Split a u64 into two big-endian cells (how the spec encodes <u64>, spec 2.2.4.1). */
function u64Cells(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffff_ffffn)];
}

const utf8 = new TextEncoder();

function stringBytes(name: string, s: string): Uint8Array {
  if (s.includes('\0')) throw new FdtError(`property ${name}: string contains NUL`);
  const enc = utf8.encode(s);
  const out = new Uint8Array(enc.length + 1);
  out.set(enc);
  return out;
}

export class FdtNode {
  readonly children: FdtNode[] = [];
  readonly props: FdtProp[] = [];
  /** Assigned phandle, or undefined while nobody referenced the node. */
  phandleValue: number | undefined;

  /** @internal use FdtBuilder.root / node.node() */
  constructor(
    readonly name: string,
    private readonly owner: FdtBuilder,
  ) {}

  /** Add a child node; names must be unique among siblings (spec 2.2.1). */
  node(name: string): FdtNode {
    if (!NODE_NAME_RE.test(name)) throw new FdtError(`invalid node name "${name}"`);
    if (this.children.some((c) => c.name === name)) {
      throw new FdtError(`duplicate node "${name}" under "${this.name || '/'}"`);
    }
    const n = new FdtNode(name, this.owner);
    this.children.push(n);
    return n;
  }

  child(name: string): FdtNode | undefined {
    return this.children.find((c) => c.name === name);
  }

  private add(name: string, value: FdtValue): this {
    if (!PROP_NAME_RE.test(name)) throw new FdtError(`invalid property name "${name}"`);
    if (this.props.some((p) => p.name === name)) {
      throw new FdtError(`duplicate property "${name}" in node "${this.name || '/'}"`);
    }
    this.props.push({ name, value });
    return this;
  }

  /** `<u32>` */
  u32(name: string, v: number): this {
    return this.add(name, { kind: 'cells', cells: [u32Check(name, v)] });
  }

  /** `<u64>`: two cells, most significant first. */
  u64(name: string, v: number | bigint): this {
    return this.add(name, { kind: 'cells', cells: u64Cells(u64Check(name, v)) });
  }

  /** `<prop-encoded-array>` of cells; a node in the list stands for its phandle. */
  cells(name: string, cells: readonly FdtCell[]): this {
    for (const c of cells) if (typeof c === 'number') u32Check(name, c);
    return this.add(name, { kind: 'cells', cells: [...cells] });
  }

  /** `<u64>` values each encoded as two cells (e.g. `reg` with #address-cells = #size-cells = 2). */
  u64s(name: string, values: readonly (number | bigint)[]): this {
    return this.add(name, { kind: 'cells', cells: values.flatMap((v) => u64Cells(u64Check(name, v))) });
  }

  /** `<string>` */
  string(name: string, s: string): this {
    return this.add(name, { kind: 'bytes', data: stringBytes(name, s) });
  }

  /** `<stringlist>`: NUL-terminated strings concatenated (e.g. `compatible`). */
  strings(name: string, list: readonly string[]): this {
    if (list.length === 0) throw new FdtError(`property ${name}: empty string list`);
    const parts = list.map((s) => stringBytes(name, s));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return this.add(name, { kind: 'bytes', data: out });
  }

  /** Raw bytes. */
  bytes(name: string, data: Uint8Array): this {
    return this.add(name, { kind: 'bytes', data: Uint8Array.from(data) });
  }

  /** `<empty>`: a boolean property such as `interrupt-controller` or `ranges`. */
  empty(name: string): this {
    return this.add(name, { kind: 'bytes', data: new Uint8Array(0) });
  }

  /** Give this node a phandle (spec 2.3.3) and return it; idempotent. */
  phandle(): number {
    if (this.phandleValue === undefined) {
      this.phandleValue = this.owner.allocPhandle();
      this.add('phandle', { kind: 'self-phandle' });
    }
    return this.phandleValue;
  }
}

export interface FdtBuilderOptions {
  /** First phandle handed out (QEMU's virt board starts at 0x8000). Default 1. */
  firstPhandle?: number;
  /** Header boot_cpuid_phys (spec 5.2). Default 0. */
  bootCpuidPhys?: number;
}

export interface MemReservation {
  address: bigint;
  size: bigint;
}

export class FdtBuilder {
  readonly root: FdtNode;
  private nextPhandle: number;
  private readonly bootCpuidPhys: number;
  private readonly reservations: MemReservation[] = [];

  constructor(opts: FdtBuilderOptions = {}) {
    this.root = new FdtNode('', this);
    this.nextPhandle = opts.firstPhandle ?? 1;
    // Spec 2.3.3: phandle 0 and 0xffffffff are not valid.
    if (!Number.isInteger(this.nextPhandle) || this.nextPhandle < 1 || this.nextPhandle >= 0xffff_ffff) {
      throw new FdtError(`invalid first phandle ${this.nextPhandle}`);
    }
    this.bootCpuidPhys = u32Check('boot_cpuid_phys', opts.bootCpuidPhys ?? 0);
  }

  /** @internal */
  allocPhandle(): number {
    if (this.nextPhandle >= 0xffff_ffff) throw new FdtError('out of phandles');
    return this.nextPhandle++;
  }

  /** Add a /memreserve/ entry (spec 5.3). */
  reserve(address: number | bigint, size: number | bigint): void {
    const a = u64Check('memreserve address', address);
    const s = u64Check('memreserve size', size);
    if (s === 0n) throw new FdtError('memreserve with size 0 would end the map');
    this.reservations.push({ address: a, size: s });
  }

  /** Serialise to a DTB. */
  build(): Uint8Array {
    // Pass 1: make sure every node referenced from a cell has a phandle, in tree order so
    // the numbering is deterministic.
    const walk = (n: FdtNode): void => {
      for (const p of n.props) {
        if (p.value.kind === 'cells') for (const c of p.value.cells) if (typeof c !== 'number') c.phandle();
      }
      for (const c of n.children) walk(c);
    };
    walk(this.root);

    // Strings block: each property name once (dtc does the same dedup).
    const strOffsets = new Map<string, number>();
    const strChunks: Uint8Array[] = [];
    let strSize = 0;
    const nameOff = (name: string): number => {
      let off = strOffsets.get(name);
      if (off === undefined) {
        off = strSize;
        const b = stringBytes(name, name);
        strChunks.push(b);
        strSize += b.length;
        strOffsets.set(name, off);
      }
      return off;
    };

    // Structure block as a growable list of u32 words plus byte payloads.
    const words: number[] = [];
    const pushBytesPadded = (b: Uint8Array): void => {
      for (let i = 0; i < b.length; i += 4) {
        words.push(((b[i] ?? 0) << 24 | (b[i + 1] ?? 0) << 16 | (b[i + 2] ?? 0) << 8 | (b[i + 3] ?? 0)) >>> 0);
      }
    };
    const emit = (n: FdtNode): void => {
      words.push(FDT_BEGIN_NODE);
      pushBytesPadded(stringBytes('node name', n.name));
      for (const p of n.props) {
        let data: Uint8Array;
        if (p.value.kind === 'bytes') data = p.value.data;
        else {
          const cells = p.value.kind === 'self-phandle' ? [n.phandleValue ?? 0] : p.value.cells;
          data = new Uint8Array(cells.length * 4);
          const dv = new DataView(data.buffer);
          cells.forEach((c, i) => dv.setUint32(i * 4, typeof c === 'number' ? c : (c.phandleValue ?? 0)));
        }
        words.push(FDT_PROP, data.length, nameOff(p.name));
        pushBytesPadded(data);
      }
      for (const c of n.children) emit(c);
      words.push(FDT_END_NODE);
    };
    emit(this.root);
    words.push(FDT_END);

    const offRsv = HEADER_SIZE; // already 8-byte aligned
    const rsvSize = (this.reservations.length + 1) * 16;
    const offStruct = offRsv + rsvSize;
    const structSize = words.length * 4;
    const offStrings = offStruct + structSize;
    const total = offStrings + strSize;

    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    const hdr = [
      FDT_MAGIC, total, offStruct, offStrings, offRsv, FDT_VERSION, FDT_LAST_COMP_VERSION,
      this.bootCpuidPhys, strSize, structSize,
    ];
    hdr.forEach((v, i) => dv.setUint32(i * 4, v));
    this.reservations.forEach((r, i) => {
      dv.setBigUint64(offRsv + i * 16, r.address);
      dv.setBigUint64(offRsv + i * 16 + 8, r.size);
    });
    words.forEach((w, i) => dv.setUint32(offStruct + i * 4, w));
    let o = offStrings;
    for (const c of strChunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// Reader: enough to check our own output, inspect a user-supplied DTB and patch decisions.

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

/** Parse a DTB (spec chapter 5); throws FdtError with one line describing the problem. */
export function parseFdt(bytes: Uint8Array): ParsedFdt {
  if (bytes.length < HEADER_SIZE) throw new FdtError(`DTB truncated: ${bytes.length} bytes, header needs ${HEADER_SIZE}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = (i: number): number => dv.getUint32(i * 4);
  if (h(0) !== FDT_MAGIC) throw new FdtError(`bad DTB magic 0x${h(0).toString(16)} (want 0xd00dfeed)`);
  const [total, offStruct, offStrings, offRsv, version, lastComp, bootCpu, sizeStrings, sizeStruct] =
    [h(1), h(2), h(3), h(4), h(5), h(6), h(7), h(8), h(9)];
  if (total > bytes.length) throw new FdtError(`DTB totalsize ${total} exceeds the ${bytes.length} bytes given`);
  if (lastComp > FDT_VERSION || version < 16) throw new FdtError(`unsupported DTB version ${version} (last compatible ${lastComp})`);
  const inside = (off: number, len: number): boolean => off <= total && len <= total - off;
  if (!inside(offStruct, sizeStruct) || !inside(offStrings, sizeStrings) || offStruct % 4 !== 0) {
    throw new FdtError('DTB block offsets/sizes outside the blob');
  }
  if (offRsv % 8 !== 0 || !inside(offRsv, 16)) throw new FdtError('DTB memory reservation map misplaced');

  const reservations: MemReservation[] = [];
  for (let o = offRsv; ; o += 16) {
    if (!inside(o, 16)) throw new FdtError('DTB memory reservation map not terminated');
    const address = dv.getBigUint64(o);
    const size = dv.getBigUint64(o + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }

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
  return { version, lastCompVersion: lastComp, bootCpuidPhys: bootCpu, reservations, root };
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
