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

import {
  FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_LAST_COMP_VERSION, FDT_MAGIC, FDT_PROP, FDT_VERSION, HEADER_SIZE, FdtError, type MemReservation,
} from './dtb-format.js';

export { FDT_MAGIC, FDT_VERSION, FDT_LAST_COMP_VERSION, FdtError, type MemReservation };
export { parseFdt, findNode, propU32s, propStrings, propString, toDts, type ParsedNode, type ParsedFdt } from './dtb-parse.js';

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

  /** Serialise to a DTB: header, memory reservation map, structure block, strings block (spec 5.1). */
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
    const strings = new StringsBlock();
    const words = structureBlock(this.root, strings);

    const offRsv = HEADER_SIZE; // already 8-byte aligned
    const rsvSize = (this.reservations.length + 1) * 16;
    const offStruct = offRsv + rsvSize;
    const structSize = words.length * 4;
    const offStrings = offStruct + structSize;
    const total = offStrings + strings.size;

    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    const hdr = [
      FDT_MAGIC, total, offStruct, offStrings, offRsv, FDT_VERSION, FDT_LAST_COMP_VERSION,
      this.bootCpuidPhys, strings.size, structSize,
    ];
    hdr.forEach((v, i) => dv.setUint32(i * 4, v));
    this.reservations.forEach((r, i) => {
      dv.setBigUint64(offRsv + i * 16, r.address);
      dv.setBigUint64(offRsv + i * 16 + 8, r.size);
    });
    words.forEach((w, i) => dv.setUint32(offStruct + i * 4, w));
    let o = offStrings;
    for (const c of strings.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** The strings block (spec 5.5): each property name once, as dtc does. */
class StringsBlock {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  private readonly offsets = new Map<string, number>();

  /** The name's offset in the block, adding it the first time. */
  offset(name: string): number {
    let off = this.offsets.get(name);
    if (off === undefined) {
      off = this.size;
      const b = stringBytes(name, name);
      this.chunks.push(b);
      this.size += b.length;
      this.offsets.set(name, off);
    }
    return off;
  }
}

/** The structure block (spec 5.4) as u32 words: tokens, names and values padded to 4 bytes. */
function structureBlock(root: FdtNode, strings: StringsBlock): number[] {
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
      words.push(FDT_PROP, data.length, strings.offset(p.name));
      pushBytesPadded(data);
    }
    for (const c of n.children) emit(c);
    words.push(FDT_END_NODE);
  };
  emit(root);
  words.push(FDT_END);
  return words;
}
