/**
 * The GDB packets that read and change the target's state, as a stateless translation between
 * the remote protocol's encodings and DebugTarget calls: registers (g/G/p/P over the target's
 * register table), memory (m/M/X, clamped to the packet size), break/watchpoints (Z/z, tracked
 * so a detaching debugger's are removed), the target description (qXfer:features:read), the
 * queries that depend on nothing else, and stop replies. The session (connection, acks, who runs the target, stop replies, monitor) is gdbstub.ts.
 */
import { buildTargetXml } from './tdesc.js';
import { fromHex, leHex, parseHexBig, parseHexNum, parseLeHex, toHex } from './rsp.js';
import type { BreakpointKind, DebugTarget, RegisterDescriptor, StopReason } from './target.js';
import { FEATURE_CORE, FEATURE_FPU, regnumOf } from './aarch64-registers.js';

/** Bound on stub-tracked break/watchpoints, so a hostile client cannot grow the target's tables without limit. */
const MAX_BREAKPOINTS = 4096;
const SIGTRAP = 5;
const BREAKPOINT_KINDS: Readonly<Record<number, BreakpointKind>> = { 0: 'sw', 1: 'hw', 2: 'write', 3: 'read', 4: 'access' };

export class TargetPackets {
  readonly breakpoints = new Map<string, { kind: BreakpointKind; addr: bigint; length: number }>();
  readonly regs: readonly RegisterDescriptor[];
  /** The `g` packet covers the core+fpu prefix of the table; system registers go through `p`/`P`. */
  private readonly gCount: number;
  readonly pcRegnum: number;
  private readonly targetXml: string;

  constructor(
    private readonly target: DebugTarget,
    private readonly packetSize: number,
  ) {
    this.regs = target.registerTable();
    let g = 0;
    while (g < this.regs.length && (this.regs[g]!.feature === FEATURE_CORE || this.regs[g]!.feature === FEATURE_FPU)) g++;
    this.gCount = g;
    this.pcRegnum = regnumOf(this.regs, 'pc');
    if (this.pcRegnum < 0) throw new Error('gdbstub: register table has no pc');
    this.targetXml = buildTargetXml(this.regs);
  }

  /** The debugger left: remove its break/watchpoints from the target (`safely` reports target errors). */
  removeAll(safely: (fn: () => unknown) => void): void {
    for (const bp of this.breakpoints.values()) safely(() => this.target.removeBreakpoint(bp.kind, bp.addr, bp.length));
    this.breakpoints.clear();
  }

  /** The queries whose answer depends only on the target and the packet size (null: not one of them; '' unsupported). */
  query(pkt: string): string {
    if (pkt.startsWith('qSupported')) {
      return `PacketSize=${this.packetSize.toString(16)};qXfer:features:read+;vContSupported+;QStartNoAckMode+`;
    }
    if (pkt.startsWith('qXfer:features:read:')) return this.xferFeatures(pkt.slice('qXfer:features:read:'.length));
    if (pkt === 'qAttached' || pkt.startsWith('qAttached:')) return '1'; // attached to a running machine: quit detaches, never kills
    // One thread per vCPU (all-stop): thread i + 1 is vCPU i.
    if (pkt === 'qC') return 'QC' + this.currentThread().toString(16);
    if (pkt === 'qfThreadInfo') return 'm' + this.threadIds().map((t) => t.toString(16)).join(',');
    if (pkt === 'qsThreadInfo') return 'l';
    if (pkt.startsWith('qThreadExtraInfo,')) {
      const id = parseHexNum(pkt.slice('qThreadExtraInfo,'.length));
      if (id === null || !this.threadIds().includes(id)) return 'E22';
      return toHex(Buffer.from(this.target.threadInfo?.(id) ?? `vCPU ${id - 1}`, 'latin1'));
    }
    if (pkt === 'qOffsets') return 'Text=0;Data=0;Bss=0';
    if (pkt.startsWith('qSymbol')) return 'OK';
    return '';
  }

  threadIds(): number[] {
    return this.target.threadIds?.() ?? [1];
  }

  currentThread(): number {
    return this.target.currentThread?.() ?? 1;
  }

  /** `H` (Hg, Hc, id in hex, -1 = all) and `T` (is the thread alive). */
  thread(cmd: 'H' | 'T', rest: string): string {
    if (cmd === 'T') {
      const id = rest === '-1' ? -1 : parseHexNum(rest);
      return id !== null && (id === -1 || this.threadIds().includes(id)) ? 'OK' : 'E22';
    }
    const op = rest[0];
    const idText = rest.slice(1);
    const id = idText === '-1' ? -1 : parseHexNum(idText);
    if ((op !== 'g' && op !== 'c') || id === null) return 'E22';
    if (this.target.selectThread === undefined) return id === 0 || id === -1 || id === 1 ? 'OK' : 'E22';
    return this.target.selectThread(op, id) ? 'OK' : 'E22';
  }

  /** PC, or 0 when the target cannot say (a stop reply must still be sent). */
  readPc(): bigint {
    try {
      return this.target.readRegister(this.pcRegnum) ?? 0n;
    } catch {
      return 0n;
    }
  }

  /** The T/S/W reply for a stop (thread 1, PC, the watchpoint that hit). */
  stopReply(reason: StopReason): string {
    if (reason.kind === 'exited') return 'W' + (reason.exitCode & 0xff).toString(16).padStart(2, '0');
    const signal = reason.kind === 'signal' ? reason.signal & 0xff : SIGTRAP;
    const pcBytes = this.regs[this.pcRegnum]!.bitsize / 8;
    const thread = this.currentThread().toString(16).padStart(2, '0');
    let reply = `T${signal.toString(16).padStart(2, '0')}thread:${thread};${this.pcRegnum.toString(16).padStart(2, '0')}:${leHex(reason.pc, pcBytes)};`;
    if (reason.kind === 'watch') {
      const key = reason.watch === 'write' ? 'watch' : reason.watch === 'read' ? 'rwatch' : 'awatch';
      reply += `${key}:${reason.addr.toString(16)};`;
    }
    return reply;
  }

  xferFeatures(args: string): string {
    const colon = args.lastIndexOf(':');
    if (colon < 0) return 'E22';
    const annex = args.slice(0, colon);
    const [offText = '', lenText = ''] = args.slice(colon + 1).split(',', 2);
    const offset = parseHexNum(offText);
    const length = parseHexNum(lenText);
    if (offset === null || length === null) return 'E22';
    if (annex !== 'target.xml') return 'E00';
    const xml = this.targetXml;
    if (offset >= xml.length) return 'l';
    // Leave room for the marker and for escapes (the XML has none, but be safe).
    const n = Math.min(length, Math.floor((this.packetSize - 4) / 2));
    const piece = xml.slice(offset, offset + n);
    return (offset + piece.length >= xml.length ? 'l' : 'm') + piece;
  }

  // ---- registers

  private regHex(regnum: number): string {
    const reg = this.regs[regnum]!;
    const bytes = reg.bitsize / 8;
    const v = this.target.readRegister(regnum);
    return v === undefined ? 'xx'.repeat(bytes) : leHex(v, bytes);
  }

  readAllRegisters(): string {
    let out = '';
    for (let i = 0; i < this.gCount; i++) out += this.regHex(i);
    return out;
  }

  writeAllRegisters(data: string): string {
    if (data.length % 2 !== 0 || !/^[0-9a-fA-Fx]*$/.test(data)) return 'E22';
    let pos = 0;
    for (let i = 0; i < this.gCount; i++) {
      const width = (this.regs[i]!.bitsize / 8) * 2;
      if (pos + width > data.length) break; // a short G leaves the remaining registers alone
      const field = data.slice(pos, pos + width);
      pos += width;
      if (field.includes('x')) continue; // 'xx': value unknown to GDB, leave it
      const v = parseLeHex(field, width / 2);
      if (v === null) return 'E22';
      this.target.writeRegister(i, v);
    }
    return 'OK';
  }

  readOneRegister(text: string): string {
    const n = parseHexNum(text);
    if (n === null || n >= this.regs.length) return 'E22';
    return this.regHex(n);
  }

  writeOneRegister(text: string): string {
    const eq = text.indexOf('=');
    if (eq < 0) return 'E22';
    const n = parseHexNum(text.slice(0, eq));
    if (n === null || n >= this.regs.length) return 'E22';
    const v = parseLeHex(text.slice(eq + 1), this.regs[n]!.bitsize / 8);
    if (v === null) return 'E22';
    return this.target.writeRegister(n, v) ? 'OK' : 'E01';
  }

  // ---- memory

  /** Parse `addr,len` (hex). Length is clamped so the range never wraps past 2^64. */
  private parseRange(text: string): { addr: bigint; length: number } | null {
    const comma = text.indexOf(',');
    if (comma < 0) return null;
    const addr = parseHexBig(text.slice(0, comma));
    const length = parseHexNum(text.slice(comma + 1));
    if (addr === null || length === null) return null;
    const room = (1n << 64n) - addr;
    return { addr, length: BigInt(length) > room ? Number(room) : length };
  }

  readMemory(text: string): string {
    const range = this.parseRange(text);
    if (range === null || range.length === 0) return 'E22';
    // Clamp huge requests to what fits in one reply; GDB asks again for the rest.
    const length = Math.min(range.length, Math.floor((this.packetSize - 4) / 2));
    const data = this.target.readMemory(range.addr, length);
    if (data === null || data.length === 0) return 'E14';
    return toHex(data.length > length ? data.subarray(0, length) : data);
  }

  writeMemoryHex(text: string): string {
    const colon = text.indexOf(':');
    if (colon < 0) return 'E22';
    const range = this.parseRange(text.slice(0, colon));
    const data = fromHex(text.slice(colon + 1));
    if (range === null || data === null || data.length !== range.length) return 'E22';
    if (data.length === 0) return 'OK';
    return this.target.writeMemory(range.addr, data) ? 'OK' : 'E14';
  }

  handleBinaryWrite(payload: Uint8Array): string {
    const colon = payload.indexOf(0x3a);
    if (colon < 0) return 'E22';
    const range = this.parseRange(Buffer.from(payload.subarray(1, colon)).toString('latin1'));
    const data = payload.subarray(colon + 1);
    if (range === null || data.length !== range.length) return 'E22';
    if (data.length === 0) return 'OK'; // GDB probes X support with a zero-length write
    return this.target.writeMemory(range.addr, Uint8Array.from(data)) ? 'OK' : 'E14';
  }

  // ---- breakpoints

  breakpoint(insert: boolean, text: string): string {
    const fields = text.split(';', 1)[0]!.split(','); // ignore conditions/commands we never advertised
    if (fields.length !== 3) return 'E22';
    const type = parseHexNum(fields[0]!);
    const addr = parseHexBig(fields[1]!);
    const length = parseHexNum(fields[2]!);
    if (type === null || addr === null || length === null) return 'E22';
    const kind = BREAKPOINT_KINDS[type];
    if (kind === undefined) return '';
    if (kind !== 'sw' && kind !== 'hw' && (length === 0 || length > 0x10000)) return 'E22';
    const key = `${kind}:${addr}:${length}`;
    if (insert) {
      if (this.breakpoints.has(key)) return 'OK';
      if (this.breakpoints.size >= MAX_BREAKPOINTS) return 'E01';
      const r = this.target.addBreakpoint(kind, addr, length);
      if (r === 'ok') this.breakpoints.set(key, { kind, addr, length });
      return r === 'ok' ? 'OK' : r === 'unsupported' ? '' : 'E01';
    }
    if (!this.breakpoints.has(key)) return 'OK';
    this.breakpoints.delete(key);
    const r = this.target.removeBreakpoint(kind, addr, length);
    return r === 'ok' ? 'OK' : r === 'unsupported' ? '' : 'E01';
  }
}
