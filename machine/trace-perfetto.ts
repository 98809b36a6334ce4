/**
 * `--trace FILE --trace-format perfetto`: the run as Chrome trace-event JSON, which
 * ui.perfetto.dev (and chrome://tracing) open. Timestamps are the guest's virtual time (µs, the
 * format's unit, with ns precision), so two runs write the same file.
 *
 *   pid 1 "hypemu guest"
 *     tid 1 + n "vCPU n":  "guest ELx" slices while the guest runs, an "EL2 <reason>" slice per exit
 *                          (args: instruction count, PC, the trapping instruction disassembled,
 *                          ESR, syndrome, path, action, cycles, the register or MMIO access), an
 *                          instant per interrupt the guest takes
 *     tid 1000 "console":  an instant per console line (args.text)
 *     counter "exits/s":   exits per second of virtual time, per vCPU, over 100 µs buckets
 *
 * Virtual time does not advance while the EL2 model handles an exit (it counts guest
 * instructions), so an EL2 slice is drawn as long as the cost model's charge for it (cycles at
 * 1 GHz), cut short where the guest's next event begins: slices on a track never overlap. hostNs
 * is not written (the file would differ run to run).
 */
import { describeEsr } from '../emulator/cpu/esr.js';
import { disassemble } from '../emulator/debug/disasm.js';
import { vaFromBigint } from '../emulator/types.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import { TraceFile } from './trace-file.js';
import type { ExitEvent, InterruptEvent, ConsoleEvent } from './events.js';
import { keepsExit, type TraceFilter } from './trace.js';

const PID = 1;
const CONSOLE_TID = 1000;
/** Counter bucket: 100 µs of virtual time, in ns. */
const BUCKET_NS = 100_000;
/** The cost model's cycles drawn at 1 GHz: one cycle is one ns. */
const NS_PER_CYCLE = 1;

const us = (ns: number): number => ns / 1000;
const hex = (v: bigint | number): string => '0x' + v.toString(16);

interface Pending {
  readonly ts: number; // ns
  readonly dur: number; // ns, before clamping
  readonly ev: Record<string, unknown>;
}

/** One vCPU's track: where its last slice ended, the EL2 slice not yet written, its exit counter. */
interface Track {
  readonly tid: number;
  cursor: number;
  el: number;
  pending: Pending | null;
  bucket: number;
  count: number;
}

export class PerfettoTraceWriter {
  private readonly file: TraceFile;
  private first = true;
  private readonly tracks = new Map<number, Track>();

  constructor(
    path: string,
    private readonly filter: TraceFilter | null,
    /** The machine's virtual time and instruction count now (console lines, the end of the run). */
    private readonly clock: () => { readonly virtualTimeNs: number; readonly instructions: number },
    /** The vCPUs (each exit's instruction is read in its own vCPU's regime, as the JSONL trace does). */
    private readonly vcpus: readonly Vcpu[] = [],
  ) {
    this.file = new TraceFile(path);
    this.file.writeNow('{"traceEvents":[\n');
    this.put({ name: 'process_name', ph: 'M', pid: PID, args: { name: 'hypemu guest' } });
    this.put({ name: 'thread_name', ph: 'M', pid: PID, tid: CONSOLE_TID, args: { name: 'console' } });
  }

  private put(ev: Record<string, unknown>): void {
    const s = (this.first ? '' : ',\n') + JSON.stringify(ev);
    this.first = false;
    this.file.add(s);
  }

  private track(vcpu: number): Track {
    let t = this.tracks.get(vcpu);
    if (t === undefined) {
      t = { tid: 1 + vcpu, cursor: 0, el: 1, pending: null, bucket: 0, count: 0 };
      this.tracks.set(vcpu, t);
      this.put({ name: 'thread_name', ph: 'M', pid: PID, tid: t.tid, args: { name: `vCPU ${vcpu}` } });
      this.put({ name: 'thread_sort_index', ph: 'M', pid: PID, tid: t.tid, args: { sort_index: vcpu } });
    }
    return t;
  }

  /** Bring a track to virtual time `ns`: the pending EL2 slice ends (at the latest) there, the guest ran until it. */
  private advance(t: Track, ns: number): void {
    const p = t.pending;
    if (p !== null) {
      const dur = Math.min(p.dur, ns - p.ts);
      this.put({ ...p.ev, dur: us(dur) });
      t.cursor = p.ts + dur;
      t.pending = null;
    }
    if (ns > t.cursor) this.put({ name: `guest EL${t.el}`, cat: 'guest', ph: 'X', pid: PID, tid: t.tid, ts: us(t.cursor), dur: us(ns - t.cursor) });
    t.cursor = Math.max(t.cursor, ns);
  }

  /** Exits per second of virtual time for the bucket a track just left (and a zero if it skipped some). */
  private count(t: Track, vcpu: number, ns: number): void {
    const b = Math.floor(ns / BUCKET_NS);
    if (b === t.bucket) {
      t.count++;
      return;
    }
    this.put({ name: 'exits/s', ph: 'C', pid: PID, ts: us(t.bucket * BUCKET_NS), args: { [`vCPU ${vcpu}`]: t.count * (1e9 / BUCKET_NS) } });
    if (b > t.bucket + 1) this.put({ name: 'exits/s', ph: 'C', pid: PID, ts: us((t.bucket + 1) * BUCKET_NS), args: { [`vCPU ${vcpu}`]: 0 } });
    t.bucket = b;
    t.count = 1;
  }

  readonly exit = (e: ExitEvent): void => {
    if (!keepsExit(this.filter, e)) return;
    const vcpu = e.vcpu;
    const t = this.track(vcpu);
    const ns = e.virtualTimeNs;
    this.advance(t, ns);
    this.count(t, vcpu, ns);
    t.el = e.el;
    const word = (this.vcpus[vcpu] ?? this.vcpus[0])?.readInsn(vaFromBigint(e.pc)) ?? null;
    const args: Record<string, unknown> = {
      insn: e.instructions, pc: hex(e.pc), insnText: word === null ? null : disassemble(word, e.pc), el: e.el, esr: hex(e.esr), syndrome: describeEsr(e.esr),
      path: e.path, action: e.action, cycles: e.cycles,
    };
    let name: string = e.reason;
    switch (e.reason) {
      case 'sysreg':
        name = `sysreg ${e.sysreg.name}`;
        args.sysreg = { name: e.sysreg.name, value: hex(e.sysreg.value), write: e.sysreg.write };
        break;
      case 'dabt_s2':
      case 'iabt_s2':
        args.ipa = hex(e.ipa);
        if (e.mmio) {
          name = `mmio ${e.mmio.write ? 'write' : 'read'} ${hex(e.mmio.ipa)}`;
          args.mmio = { ipa: hex(e.mmio.ipa), size: e.mmio.size, write: e.mmio.write, value: hex(e.mmio.value) };
        }
        break;
      case 'hvc':
      case 'smc':
        name = `${e.reason} ${hex(e.function)}`;
        args.imm = e.imm;
        args.function = hex(e.function);
        break;
      case 'wfx':
        name = e.wfe ? 'wfe' : 'wfi';
        break;
      case 'debug':
        args.far = hex(e.far);
        args.reflected = e.reflected;
        break;
    }
    t.pending = { ts: ns, dur: e.cycles * NS_PER_CYCLE, ev: { name: `EL2 ${name}`, cat: `el2,${e.reason},${e.path}`, ph: 'X', pid: PID, tid: t.tid, ts: us(ns), args } };
  };

  readonly interrupt = (e: InterruptEvent): void => {
    if (this.filter !== null && !this.filter.kinds.has('interrupt')) return;
    const t = this.track(e.vcpu);
    this.advance(t, e.virtualTimeNs);
    this.put({ name: e.kind, cat: 'interrupt', ph: 'i', s: 't', pid: PID, tid: t.tid, ts: us(e.virtualTimeNs), args: { insn: e.instructions, pc: hex(e.pc) } });
  };

  /** A console line, at the virtual time the UART output was flushed. */
  readonly console = (text: string, e?: ConsoleEvent): void => {
    if (this.filter !== null && !this.filter.kinds.has('console')) return;
    const c = this.clock();
    this.put({ name: 'console', cat: 'console', ph: 'i', s: 't', pid: PID, tid: CONSOLE_TID, ts: us(c.virtualTimeNs), args: { insn: c.instructions, vcpu: e?.vcpu ?? 0, text } });
  };

  flush(): void {
    this.file.flush();
  }

  /** The pending slices and counters end; the JSON is closed. */
  close(): void {
    const endNs = this.clock().virtualTimeNs;
    for (const [vcpu, t] of this.tracks) {
      const end = Math.max(endNs, t.pending !== null ? t.pending.ts + t.pending.dur : t.cursor);
      this.advance(t, end);
      this.put({ name: 'exits/s', ph: 'C', pid: PID, ts: us(t.bucket * BUCKET_NS), args: { [`vCPU ${vcpu}`]: t.count * (1e9 / BUCKET_NS) } });
    }
    this.tracks.clear();
    this.file.flush();
    this.file.writeNow('\n],"displayTimeUnit":"ns","otherData":{"producer":"hypemu","clock":"virtual time (1 ns per retired instruction, plus idle time)"}}\n');
    this.file.close();
  }
}
