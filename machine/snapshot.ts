/**
 * Machine snapshots, assembled: the machine's configuration (what the restoring machine is built
 * from), each stateful component's snapshot() (vCPUs, devices, the EL2 model), guest RAM's
 * non-zero pages and the components' large arrays, in the format of emulator/snapshot/format.ts
 * (documented in emulator/snapshot/README.md). Restoring builds the machine from the recorded
 * configuration and calls each component's restore() in the same order.
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import { restoreHypervisor, snapshotHypervisor } from '../hyp/snapshot.js';
import { PAGE, SnapshotFile, checkRegion, crc32, encodeSnapshotFile, packRegion, type RegionRef } from '../emulator/snapshot/format.js';
import { RestoreContext, SnapshotContext, SnapshotFormatError, decodeValue, encodeValue, type Snapshottable, type StateValue } from '../emulator/snapshot/state.js';
import type { ResolvedConfig } from './config.js';
import type { GuestRam } from '../emulator/memory/ram.js';
import { readSync } from 'node:fs';

/** The package version written into snapshots (package.json's). */
export const HYPEMU_VERSION = '0.1.0';

/** The configuration fields that shape the machine: recorded in a snapshot, never changed on restore. */
export const MACHINE_SHAPING = ['imagePath', 'imageName', 'format', 'load', 'entry', 'ram', 'initrdPath', 'append', 'hyp', 'gic', 'seed', 'smp'] as const;
export type MachineShape = Pick<ResolvedConfig, (typeof MACHINE_SHAPING)[number]>;

/** What a snapshot is taken of: the board, every vCPU's EL2 model (by vCPU index) and, with --smp > 1, the power model and scheduler. */
export interface SnapshotMachine {
  readonly board: VirtMachine;
  readonly hyps: readonly Hypervisor[];
  readonly smp: Snapshottable | null;
}

/**
 * The stateful components of a machine, by name, in restore order. vCPU 0's devices and EL2 model
 * keep the names of format version 2 (`timer`, `pmu`, `debugRegs`, `hyp`), so a one-vCPU
 * snapshot is laid out as before; vCPU i > 0 adds `vcpu<i>`, `timer<i>`, `pmu<i>`, `debugRegs<i>`
 * and `hyp<i>` (whose stage 2 is the VM's, saved with `hyp`), and `smp` the PSCI power states and
 * the scheduler. A new stateful device implements Snapshottable (emulator/snapshot/state.ts) and
 * gets one line here.
 */
export function components(m: SnapshotMachine): Array<[string, Snapshottable]> {
  const { board, hyps } = m;
  const suffix = (i: number): string => (i === 0 ? '' : String(i));
  const list: Array<[string, Snapshottable]> = board.cpus.map((c, i): [string, Snapshottable] => [`vcpu${i}`, c.vcpu]);
  list.push(['uart', board.uart], ['trapdev', board.trapdev], ['gic', board.gic]);
  board.cpus.forEach((c, i) => list.push([`timer${suffix(i)}`, c.timer], [`pmu${suffix(i)}`, c.pmu], [`debugRegs${suffix(i)}`, c.debugRegs]));
  list.push(['rng', board.rng]);
  hyps.forEach((h, i) => {
    const opts = { stage2: i === 0 };
    list.push([`hyp${suffix(i)}`, { snapshot: (ctx) => snapshotHypervisor(h, ctx, opts), restore: (st, ctx) => restoreHypervisor(h, st, ctx, opts) }]);
  });
  if (m.smp !== null) list.push(['smp', m.smp]);
  return list;
}

export interface SnapshotMeta {
  readonly instructions: number;
  /** Console bytes the UART transmitted that were not handed on yet (the line in progress). */
  readonly console: Uint8Array;
}

/**
 * Serialise the whole machine; returns the file's bytes as chunks (RAM pages are views of guest
 * RAM: write them before the guest runs on).
 */
export function takeSnapshot(m: SnapshotMachine, config: ResolvedConfig, meta: SnapshotMeta): Uint8Array[] {
  const ctx = new SnapshotContext();
  const states: Record<string, StateValue> = {};
  for (const [name, c] of components(m)) states[name] = c.snapshot(ctx);
  const ram = m.board.vcpu.ram;
  const packed = [
    packRegion('ram', ram.size, (off) => ram.bytesAt(ram.base + off, PAGE)),
    ...ctx.blobs.map((b, i) => packRegion(`blob${i}`, b.byteLength, (off) => b.subarray(off, Math.min(off + PAGE, b.byteLength)))),
  ];
  let offset = 0;
  const regions: RegionRef[] = packed.map((p) => {
    const r = { ...p.ref, offset };
    offset += p.ref.length;
    return r;
  });
  const shape = Object.fromEntries(MACHINE_SHAPING.map((k) => [k, config[k]]));
  const json = {
    hypemu: HYPEMU_VERSION,
    createdAt: { instructions: meta.instructions },
    console: Buffer.from(meta.console).toString('base64'),
    config: encodeValue(shape, new SnapshotContext(), 'config'),
    components: states,
    regions,
  };
  return encodeSnapshotFile(json, packed);
}

export interface ParsedSnapshot {
  readonly shape: MachineShape;
  readonly instructions: number;
  readonly hypemu: string;
  readonly components: Record<string, StateValue>;
  readonly regions: readonly RegionRef[];
  readonly file: SnapshotFile;
  readonly console: Uint8Array;
}

/** Open a snapshot file, check its header, JSON section and region table; pages are read by restoreSnapshot. */
export function parseSnapshot(path: string): ParsedSnapshot {
  const f = SnapshotFile.open(path);
  try {
    const j = f.json as Record<string, unknown>;
    if (typeof j !== 'object' || j === null || typeof j['components'] !== 'object' || !Array.isArray(j['regions']) || typeof j['config'] !== 'object') {
      throw new SnapshotFormatError('JSON section lacks config, components or regions');
    }
    const regions = j['regions'] as RegionRef[];
    for (const r of regions) {
      if (typeof r !== 'object' || r === null || !Array.isArray(r.runs)) throw new SnapshotFormatError('a region is not described');
      checkRegion(r, f.pageSectionLength);
    }
    const ci = (j['createdAt'] as { instructions?: unknown } | undefined)?.instructions;
    return {
      shape: decodeValue(j['config'] as StateValue, new RestoreContext([])) as MachineShape,
      instructions: typeof ci === 'number' ? ci : 0,
      hypemu: String(j['hypemu']),
      components: j['components'] as Record<string, StateValue>,
      regions,
      file: f,
      console: new Uint8Array(Buffer.from(typeof j['console'] === 'string' ? j['console'] : '', 'base64')),
    };
  } catch (e) {
    f.close();
    throw e;
  }
}

/**
 * Guest RAM from the file: each run of saved pages mapped copy-on-write from the file over the
 * RAM (GuestRam.mapFile; the OS reads a page when it is touched), or read into it where mapping
 * is not possible; then the CRC-32 over the restored pages.
 */
function restoreRam(ram: GuestRam, file: SnapshotFile, r: RegionRef): void {
  if (r.size !== ram.size) throw new SnapshotFormatError(`RAM is ${r.size} bytes in the snapshot, ${ram.size} here`);
  let at = file.pageSection + r.offset;
  for (const [first, n] of r.runs) {
    const pa = ram.base + first * PAGE;
    if (!ram.mapFile(file.fd, at, pa, n * PAGE)) {
      const buf = new Uint8Array(n * PAGE);
      if (readSync(file.fd, buf, 0, buf.byteLength, at) !== buf.byteLength) throw new SnapshotFormatError('region ram: truncated');
      ram.load(pa, buf);
    }
    at += n * PAGE;
  }
  let crc = 0;
  for (const [first, n] of r.runs) for (let i = 0; i < n; i++) crc = crc32(ram.bytesAt(ram.base + (first + i) * PAGE, PAGE), crc);
  if (crc !== r.crc32) throw new SnapshotFormatError('region ram: pages damaged (CRC-32 mismatch)');
}

function readBlob(file: SnapshotFile, r: RegionRef): Uint8Array {
  const data = file.read(r);
  if (crc32(data) !== r.crc32) throw new SnapshotFormatError(`region ${r.name}: pages damaged (CRC-32 mismatch)`);
  const b = new Uint8Array(r.size);
  let i = 0;
  for (const [first, n] of r.runs) {
    for (let k = 0; k < n; k++, i++) {
      const off = (first + k) * PAGE;
      b.set(data.subarray(i * PAGE, i * PAGE + Math.min(PAGE, r.size - off)), off);
    }
  }
  return b;
}

/** Put a parsed snapshot into a machine freshly built from its configuration (and close the file). */
export function restoreSnapshot(m: SnapshotMachine, s: ParsedSnapshot): void {
  const board = m.board;
  const blobs: Uint8Array[] = [];
  try {
    for (const r of s.regions) {
      if (r.name === 'ram') restoreRam(board.vcpu.ram, s.file, r);
      else if (/^blob\d+$/.test(r.name)) blobs[Number(r.name.slice(4))] = readBlob(s.file, r);
      else throw new SnapshotFormatError(`unknown region ${String(r.name)}`);
    }
  } finally {
    s.file.close();
  }
  const ctx = new RestoreContext(blobs);
  const list = components(m);
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
  for (const c of board.cpus) {
    c.vcpu.dropCachedTranslations();
    c.debugRegs.onChange?.();
  }
}
