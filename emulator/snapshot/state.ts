/**
 * Machine snapshots, the component side: every stateful part of the machine (a device, the vCPU,
 * the EL2 model) implements Snapshottable, and the machine module (machine/snapshot.ts) assembles
 * their states into one file (docs: emulator/snapshot/README.md).
 *
 * Most components are plain data (numbers, bigints, typed arrays, Maps, Sets, small objects), so
 * their snapshot() is `captureState(this, skip)`: every own data field, deeply, except the ones
 * named in `skip` (references to other components, host resources such as Unicorn hook handles)
 * and functions (callbacks wired by the board). restore() is `applyState(this, state)`: values are
 * written *in place* (typed arrays set, Maps and Sets refilled, nested objects merged), so
 * references other components hold stay valid. A field that is not data and not skipped is an
 * error when the snapshot is taken, not a silently missing piece of state.
 *
 * Large typed arrays (a stage-2 table pool) go to the binary page section as "blobs", not to the
 * JSON section: capture returns them beside the JSON value.
 */

/** A JSON-able value with tags for what JSON cannot say (bigint, typed arrays, Map, Set, undefined). */
export type StateValue = null | boolean | number | string | StateValue[] | { [k: string]: StateValue };

export interface Snapshottable {
  /** This component's state, as data (no references to other components). */
  snapshot(ctx: SnapshotContext): StateValue;
  /** Put the state back into a freshly built component of the same configuration. */
  restore(state: StateValue, ctx: RestoreContext): void;
}

/** Typed arrays this large or larger go to the binary section (page-compressed) instead of JSON. */
const BLOB_MIN = 64 * 1024;

export class SnapshotContext {
  readonly blobs: Uint8Array[] = [];
  addBlob(bytes: Uint8Array): number {
    this.blobs.push(bytes);
    return this.blobs.length - 1;
  }
}

export class RestoreContext {
  constructor(readonly blobs: readonly Uint8Array[]) {}
  blob(i: number): Uint8Array {
    const b = this.blobs[i];
    if (b === undefined) throw new SnapshotFormatError(`blob ${i} is missing from the page section`);
    return b;
  }
}

/** A snapshot file that is not ours, is damaged, or does not fit this machine. One line. */
export class SnapshotFormatError extends Error {}

type AnyTyped = Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array | Float64Array | Float32Array | BigUint64Array | BigInt64Array;
const TYPED: Record<string, new (b: ArrayBuffer) => AnyTyped> = {
  Uint8Array, Uint16Array, Uint32Array, Int8Array, Int16Array, Int32Array, Float64Array, Float32Array, BigUint64Array, BigInt64Array,
};

function isTyped(v: unknown): v is AnyTyped {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function bytesOf(t: AnyTyped): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** Encode one value. `path` names it in errors. */
export function encodeValue(v: unknown, ctx: SnapshotContext, path: string, seen: Set<object> = new Set()): StateValue {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? v : { $n: String(v) };
    case 'string':
    case 'boolean':
      return v;
    case 'bigint':
      return { $b: v.toString(16) };
    case 'undefined':
      return { $u: 1 };
    case 'function':
      throw new Error(`snapshot: ${path} is a function`);
    default:
      break;
  }
  if (v === null) return null;
  const o = v as object;
  if (seen.has(o)) throw new Error(`snapshot: ${path} refers back to an enclosing object (skip it)`);
  seen.add(o);
  try {
    if (isTyped(o)) {
      const name = o.constructor.name;
      const bytes = bytesOf(o);
      if (bytes.byteLength >= BLOB_MIN) return { $t: name, blob: ctx.addBlob(bytes) };
      return { $t: name, d: Buffer.from(bytes).toString('base64') };
    }
    if (Array.isArray(o)) return o.map((x, i) => encodeValue(x, ctx, `${path}[${i}]`, seen));
    if (o instanceof Map) return { $m: [...o.entries()].map(([k, x]) => [encodeValue(k, ctx, `${path}.key`, seen), encodeValue(x, ctx, `${path}.get(${String(k)})`, seen)]) };
    if (o instanceof Set) return { $s: [...o].map((x) => encodeValue(x, ctx, `${path}.item`, seen)) };
    // A class instance inside a component is saved as its own data fields, like a plain object,
    // unless it is a component of its own (the machine saves those).
    if (typeof (o as { snapshot?: unknown }).snapshot === 'function') throw new Error(`snapshot: ${path} is a component of its own (skip it; the machine saves it)`);
    const out: { [k: string]: StateValue } = {};
    for (const k of Object.keys(o)) {
      const x = (o as Record<string, unknown>)[k];
      if (typeof x === 'function') continue;
      out[k] = encodeValue(x, ctx, `${path}.${k}`, seen);
    }
    return out;
  } finally {
    seen.delete(o);
  }
}

/** Decode a value for a field that holds nothing to update in place. */
export function decodeValue(s: StateValue, ctx: RestoreContext): unknown {
  if (s === null || typeof s !== 'object') return s;
  if (Array.isArray(s)) return s.map((x) => decodeValue(x, ctx));
  if ('$b' in s) return BigInt(`0x${s.$b as string}`);
  if ('$u' in s) return undefined;
  if ('$n' in s) return Number(s.$n);
  if ('$t' in s) {
    const C = TYPED[s.$t as string];
    if (C === undefined) throw new SnapshotFormatError(`unknown array type ${String(s.$t)}`);
    const bytes = typeof s.blob === 'number' ? ctx.blob(s.blob) : new Uint8Array(Buffer.from(s.d as string, 'base64'));
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new C(copy.buffer);
  }
  if ('$m' in s) return new Map((s.$m as StateValue[][]).map(([k, x]) => [decodeValue(k!, ctx), decodeValue(x!, ctx)]));
  if ('$s' in s) return new Set((s.$s as StateValue[]).map((x) => decodeValue(x, ctx)));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(s)) out[k] = decodeValue(x, ctx);
  return out;
}

/** Write a saved value into the current one in place where it is a container; returns the value to store. */
export function applyValue(cur: unknown, s: StateValue, ctx: RestoreContext, path: string): unknown {
  if (isTyped(cur)) {
    const v = decodeValue(s, ctx);
    if (!isTyped(v) || v.byteLength !== cur.byteLength) throw new SnapshotFormatError(`${path}: array of another size`);
    bytesOf(cur).set(bytesOf(v));
    return cur;
  }
  if (cur instanceof Map) {
    const v = decodeValue(s, ctx);
    if (!(v instanceof Map)) throw new SnapshotFormatError(`${path}: not a map`);
    cur.clear();
    for (const [k, x] of v) cur.set(k, x);
    return cur;
  }
  if (cur instanceof Set) {
    const v = decodeValue(s, ctx);
    if (!(v instanceof Set)) throw new SnapshotFormatError(`${path}: not a set`);
    cur.clear();
    for (const x of v) cur.add(x);
    return cur;
  }
  if (Array.isArray(cur) && Array.isArray(s)) {
    const next = s.map((x, i) => (i < cur.length && cur[i] !== null && typeof cur[i] === 'object' ? applyValue(cur[i], x, ctx, `${path}[${i}]`) : decodeValue(x, ctx)));
    cur.length = 0;
    cur.push(...next);
    return cur;
  }
  if (cur !== null && typeof cur === 'object' && s !== null && typeof s === 'object' && !Array.isArray(s) && !('$b' in s) && !('$u' in s) && !('$t' in s) && !('$m' in s) && !('$s' in s) && !('$n' in s)) {
    applyState(cur, s, ctx, path);
    return cur;
  }
  return decodeValue(s, ctx);
}

/** Every own data field of `obj` except `skip` (and functions). */
export function captureState(obj: object, ctx: SnapshotContext, skip: readonly string[] = [], path = obj.constructor.name): StateValue {
  const out: { [k: string]: StateValue } = {};
  for (const k of Object.keys(obj)) {
    if (skip.includes(k)) continue;
    const x = (obj as Record<string, unknown>)[k];
    if (typeof x === 'function') continue;
    out[k] = encodeValue(x, ctx, `${path}.${k}`);
  }
  return out;
}

/** Put captured fields back, in place. Fields the snapshot does not name keep their values. */
export function applyState(obj: object, state: StateValue, ctx: RestoreContext, path = obj.constructor.name): void {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) throw new SnapshotFormatError(`${path}: state is not an object`);
  const o = obj as Record<string, unknown>;
  // A plain object is a record (counters by name): its keys are data, and the saved set replaces
  // the current one. A class instance has fixed fields: a saved field it lacks is a foreign file.
  const proto = Object.getPrototypeOf(obj) as object | null;
  const isRecord = proto === Object.prototype || proto === null;
  if (isRecord) {
    for (const k of Object.keys(o)) if (!(k in state) && typeof o[k] !== 'function') delete o[k];
  }
  for (const [k, s] of Object.entries(state)) {
    if (!isRecord && !(k in o)) throw new SnapshotFormatError(`${path}.${k}: no such field in this version`);
    o[k] = applyValue(o[k], s, ctx, `${path}.${k}`);
  }
}
