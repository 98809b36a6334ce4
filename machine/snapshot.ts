/**
 * Machine snapshots, assembled: the machine's configuration (what the restoring machine is built
 * from), each stateful component's snapshot() (vCPUs, devices, the EL2 model), guest RAM's
 * non-zero pages and the components' large arrays, in the format of emulator/snapshot/format.ts
 * (documented in emulator/snapshot/README.md). Restoring builds the machine from the recorded
 * configuration and calls each component's restore() in the same order.
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import { PAGE, decodeSnapshotFile, encodeSnapshotFile, packRegion, unpackRegion, type RegionRef } from '../emulator/snapshot/format.js';
import { RestoreContext, SnapshotContext, SnapshotFormatError, decodeValue, encodeValue, type Snapshottable, type StateValue } from '../emulator/snapshot/state.js';
import type { ResolvedConfig } from './config.js';

/** The package version written into snapshots (package.json's). */
export const HYPEMU_VERSION = '0.1.0';

/** The configuration fields that shape the machine: recorded in a snapshot, never changed on restore. */
export const MACHINE_SHAPING = ['imagePath', 'imageName', 'format', 'load', 'entry', 'ram', 'initrdPath', 'append', 'hyp', 'gic', 'seed'] as const;
export type MachineShape = Pick<ResolvedConfig, (typeof MACHINE_SHAPING)[number]>;

/** The stateful components of a board and its EL2 model, by name, in restore order. */
export function components(board: VirtMachine, hyp: Hypervisor): Array<[string, Snapshottable]> {
  // Several vCPUs (SMP) would each be `vcpu<i>` (snapshots refuse --smp > 1 for now: machine/config.ts).
  const vcpus: Snapshottable[] = board.vcpus;
  return [
    ...vcpus.map((v, i): [string, Snapshottable] => [`vcpu${i}`, v]),
    ['uart', board.uart],
    ['trapdev', board.trapdev],
    ['gic', board.gic],
    ['timer', board.timer],
    ['pmu', board.pmu],
    ['debugRegs', board.debugRegs],
    ['rng', board.rng],
    ['hyp', hyp],
  ];
}

export interface SnapshotMeta {
  readonly instructions: number;
}

/** Serialise the whole machine; returns the file's bytes. */
export function takeSnapshot(board: VirtMachine, hyp: Hypervisor, config: ResolvedConfig, meta: SnapshotMeta): Buffer {
  const ctx = new SnapshotContext();
  const states: Record<string, StateValue> = {};
  for (const [name, c] of components(board, hyp)) states[name] = c.snapshot(ctx);
  const ram = board.vcpu.ram;
  const packed = [
    packRegion('ram', ram.size, (off) => ram.bytesAt(ram.base + off, PAGE)),
    ...ctx.blobs.map((b, i) => packRegion(`blob${i}`, b.byteLength, (off) => b.subarray(off, Math.min(off + PAGE, b.byteLength)))),
  ];
  let offset = 0;
  const regions: RegionRef[] = packed.map((p) => {
    const r = { ...p.ref, offset, length: p.data.byteLength };
    offset += p.data.byteLength;
    return r;
  });
  const shape = Object.fromEntries(MACHINE_SHAPING.map((k) => [k, config[k]]));
  const json = {
    hypemu: HYPEMU_VERSION,
    createdAt: { instructions: meta.instructions },
    config: encodeValue(shape, new SnapshotContext(), 'config'),
    components: states,
    regions,
  };
  return encodeSnapshotFile(json, Buffer.concat(packed.map((p) => p.data)));
}

export interface ParsedSnapshot {
  readonly shape: MachineShape;
  readonly instructions: number;
  readonly hypemu: string;
  readonly components: Record<string, StateValue>;
  readonly regions: readonly RegionRef[];
  readonly pages: Uint8Array;
}

/** Check the header and the JSON section; the pages are inflated by restoreSnapshot. */
export function parseSnapshot(bytes: Buffer): ParsedSnapshot {
  const f = decodeSnapshotFile(bytes);
  const j = f.json as Record<string, unknown>;
  if (typeof j !== 'object' || j === null || typeof j['components'] !== 'object' || !Array.isArray(j['regions']) || typeof j['config'] !== 'object') {
    throw new SnapshotFormatError('JSON section lacks config, components or regions');
  }
  const ci = (j['createdAt'] as { instructions?: unknown } | undefined)?.instructions;
  return {
    shape: decodeValue(j['config'] as StateValue, new RestoreContext([])) as MachineShape,
    instructions: typeof ci === 'number' ? ci : 0,
    hypemu: String(j['hypemu']),
    components: j['components'] as Record<string, StateValue>,
    regions: j['regions'] as RegionRef[],
    pages: f.pages,
  };
}

/** Put a parsed snapshot into a machine freshly built from its configuration. */
export function restoreSnapshot(board: VirtMachine, hyp: Hypervisor, s: ParsedSnapshot): void {
  const ram = board.vcpu.ram;
  const blobs: Uint8Array[] = [];
  for (const r of s.regions) {
    if (r.name === 'ram') {
      if (r.size !== ram.size) throw new SnapshotFormatError(`RAM is ${r.size} bytes in the snapshot, ${ram.size} here`);
      unpackRegion(r, s.pages, (off, page) => ram.load(ram.base + off, page));
    } else {
      const b = new Uint8Array(r.size);
      unpackRegion(r, s.pages, (off, page) => b.set(page.subarray(0, Math.min(PAGE, r.size - off)), off));
      blobs[Number(r.name.slice(4))] = b;
    }
  }
  const ctx = new RestoreContext(blobs);
  const list = components(board, hyp);
  for (const name of Object.keys(s.components)) {
    if (!list.some(([n]) => n === name)) throw new SnapshotFormatError(`component '${name}' does not exist in this machine`);
  }
  for (const [name, c] of list) {
    const st = s.components[name];
    if (st === undefined) throw new SnapshotFormatError(`component '${name}' is missing`);
    c.restore(st, ctx);
  }
  // Restoring the EL2 registers reinstalled stage 2; start from cold caches, as the saving run
  // does at the snapshot point (Vcpu.dropCachedTranslations), and re-arm debug hooks.
  board.vcpu.dropCachedTranslations();
  board.debugRegs.onChange?.();
}
