/**
 * GDB remote serial protocol server over a DebugTarget (all-stop mode, one vCPU = thread 1).
 *
 * One client at a time on 127.0.0.1 only: the stub can read and write all guest memory and
 * registers, so it must never be reachable from another host. A second connection while one is
 * attached is closed at once (and logged) rather than queued, so it cannot steal the session.
 *
 * Execution ownership. The stub is the only one that resumes the target, which is how it always
 * knows whether a stop event answers a debugger's `c`/`s` ('client'), comes from halting a
 * free-running guest when a debugger attaches ('attach'), or happened with nobody attached
 * ('free'). Without --gdb-wait the stub starts the guest free-running in listen(); the CLI then
 * only awaits `finished`.
 *
 * The stub never blocks: every target call is expected to be short (the target runs guest code
 * in slices scheduled on the event loop and reports back through the stop handler).
 */
import * as net from 'node:net';
import { buildTargetXml } from './tdesc.js';
import { runMonitorCommand } from './monitor.js';
import {
  RspDecoder,
  encodePacket,
  fromHex,
  leHex,
  parseHexBig,
  parseHexNum,
  parseLeHex,
  toHex,
  type RspEvent,
} from './rsp.js';
import type { BreakpointKind, DebugTarget, RegisterDescriptor, StopReason } from './target.js';
import { FEATURE_CORE, FEATURE_FPU, regnumOf } from './aarch64-registers.js';

export const DEFAULT_GDB_PORT = 1234;
/** Largest payload we accept and advertise (hex: 0x4000). Big enough for a full `g` with all vector registers. */
export const DEFAULT_PACKET_SIZE = 0x4000;
/** Packets that arrive while the target runs are kept (GDB does not send any in all-stop mode; a hostile client might). */
const MAX_QUEUED_PACKETS = 32;
/** Bound on stub-tracked break/watchpoints, so a hostile client cannot grow the target's tables without limit. */
const MAX_BREAKPOINTS = 4096;
/** Replies buffered for a client that is not reading before we stop reading its requests. */
const MAX_UNREAD_REPLY_BYTES = 1 << 20;
const SIGTRAP = 5;

/**
 * Parse the CLI's `--gdb [PORT]` value (commander gives `true` when the port is omitted).
 * Throws an Error with a one-line message for the CLI to print.
 */
export function parseGdbPort(value: string | boolean | undefined): number {
  if (value === undefined || value === true || value === false) return DEFAULT_GDB_PORT;
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new Error(`--gdb: '${value}' is not a TCP port (1-65535)`);
  }
  return Number(value);
}

export interface GdbStubOptions {
  /** TCP port on 127.0.0.1; 0 picks an ephemeral port (tests). Default 1234. */
  readonly port?: number;
  /** --gdb-wait: keep the guest halted before its first instruction until a debugger continues it. */
  readonly waitForAttach?: boolean;
  readonly packetSize?: number;
  /** Human progress lines (the CLI passes its logger). */
  readonly log?: (line: string) => void;
}

/** How a stub-driven run ended; the CLI maps this to its exit status. */
export type GdbSessionEnd =
  | { readonly kind: 'exited'; readonly exitCode: number }
  | { readonly kind: 'killed' }
  /** close() was called (e.g. the CLI is shutting down). */
  | { readonly kind: 'closed' };

type Exec =
  | { readonly state: 'halted' }
  /** Who asked for the run decides what a stop event means. */
  | { readonly state: 'running'; owner: 'client' | 'attach' | 'free' };

interface Client {
  readonly socket: net.Socket;
  readonly decoder: RspDecoder;
  noAck: boolean;
  /** Last packet sent, for retransmission on '-' in ack mode. */
  lastSent: Buffer | null;
  naks: number;
  readonly queue: Uint8Array[];
  closed: boolean;
}

export class GdbStub {
  readonly finished: Promise<GdbSessionEnd>;
  private resolveFinished!: (end: GdbSessionEnd) => void;
  private server: net.Server | null = null;
  private client: Client | null = null;
  private exec: Exec = { state: 'halted' };
  private ended = false;
  private lastStop: StopReason | null = null;
  private draining = false;
  private readonly breakpoints = new Map<string, { kind: BreakpointKind; addr: bigint; length: number }>();
  private readonly regs: readonly RegisterDescriptor[];
  /** The `g` packet covers the core+fpu prefix of the table; system registers go through `p`/`P`. */
  private readonly gCount: number;
  private readonly pcRegnum: number;
  private readonly targetXml: string;
  private readonly packetSize: number;
  private readonly log: (line: string) => void;

  constructor(
    private readonly target: DebugTarget,
    private readonly options: GdbStubOptions = {},
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.regs = target.registerTable();
    let g = 0;
    while (g < this.regs.length && (this.regs[g]!.feature === FEATURE_CORE || this.regs[g]!.feature === FEATURE_FPU)) g++;
    this.gCount = g;
    this.pcRegnum = regnumOf(this.regs, 'pc');
    if (this.pcRegnum < 0) throw new Error('gdbstub: register table has no pc');
    this.targetXml = buildTargetXml(this.regs);
    this.packetSize = Math.max(256, options.packetSize ?? DEFAULT_PACKET_SIZE);
    this.log = options.log ?? (() => {});
    target.setStopHandler((reason) => this.onTargetStop(reason));
  }

  /** Listen on 127.0.0.1; resolves with the bound port. Starts the guest unless waitForAttach. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.onConnection(socket));
      server.once('error', (err: NodeJS.ErrnoException) => {
        const port = this.options.port ?? DEFAULT_GDB_PORT;
        reject(new Error(err.code === 'EADDRINUSE' ? `gdb: port ${port} on 127.0.0.1 is already in use` : `gdb: cannot listen: ${err.message}`));
      });
      server.listen({ host: '127.0.0.1', port: this.options.port ?? DEFAULT_GDB_PORT }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log(`gdb: server error: ${err.message}`));
        this.server = server;
        const addr = server.address() as net.AddressInfo;
        if (this.options.waitForAttach) this.log(`gdb: waiting for a debugger on 127.0.0.1:${addr.port}`);
        else {
          this.log(`gdb: listening on 127.0.0.1:${addr.port}`);
          this.run('free', 'continue');
        }
        resolve(addr.port);
      });
    });
  }

  /** Stop listening and drop the client; the target is left as it is. */
  close(): Promise<void> {
    this.dropClient();
    this.finish({ kind: 'closed' });
    return this.closeServer();
  }

  private closeServer(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private finish(end: GdbSessionEnd): void {
    this.resolveFinished(end); // later calls are no-ops on a settled promise
  }

  // ------------------------------------------------------------------ connections

  private onConnection(socket: net.Socket): void {
    if (this.client !== null || this.ended) {
      this.log(`gdb: refused connection from ${socket.remoteAddress}:${socket.remotePort}: a debugger is already attached`);
      socket.on('error', () => {});
      socket.end();
      return;
    }
    socket.setNoDelay(true);
    const client: Client = { socket, decoder: new RspDecoder(this.packetSize), noAck: false, lastSent: null, naks: 0, queue: [], closed: false };
    this.client = client;
    this.log(`gdb: debugger attached from ${socket.remoteAddress}:${socket.remotePort}`);
    socket.on('data', (chunk: Buffer) => {
      if (this.client !== client) return;
      for (const ev of client.decoder.push(chunk)) {
        if (this.client !== client) return;
        this.onEvent(client, ev);
      }
      // A client that pipelines requests but never reads the replies would grow our send
      // buffer without bound: stop reading its requests until it has taken the replies.
      if (this.client === client && socket.writableLength > MAX_UNREAD_REPLY_BYTES) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // GDB exiting resets the connection; that is an ordinary disconnect, reported on 'close'.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.log(`gdb: connection error: ${err.message}`);
    });
    socket.on('close', () => {
      if (this.client === client) {
        this.log('gdb: debugger disconnected');
        this.detachSession();
      }
    });
    if (this.exec.state === 'running') {
      // Halt a free-running guest so the debugger sees a stopped target; its first packets
      // (qSupported, ?, ...) wait in the queue until the stop arrives.
      this.exec.owner = 'attach';
      this.target.interrupt();
    } else {
      // A new debugger sees a plain stop; why an earlier session stopped is not its business.
      this.lastStop = { kind: 'signal', pc: this.readPc(), signal: SIGTRAP };
    }
  }

  private dropClient(): void {
    const client = this.client;
    if (client === null) return;
    this.client = null;
    client.closed = true;
    client.socket.end();
    client.socket.destroySoon();
  }

  /** The debugger left (D, or the socket closed): remove its breakpoints and let the guest run. */
  private detachSession(): void {
    this.client = null;
    for (const bp of this.breakpoints.values()) this.safely(() => this.target.removeBreakpoint(bp.kind, bp.addr, bp.length));
    this.breakpoints.clear();
    this.safely(() => this.target.detached?.());
    if (this.ended) return;
    if (this.exec.state === 'running') this.exec.owner = 'free';
    else this.run('free', 'continue');
  }

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.log(`gdb: target error: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ wire events

  private onEvent(client: Client, ev: RspEvent): void {
    switch (ev.type) {
      case 'ack':
        client.naks = 0;
        return;
      case 'nak':
        // Retransmit the last packet a few times; a client that NAKs forever is not worth a loop.
        if (!client.noAck && client.lastSent !== null && client.naks++ < 3) client.socket.write(client.lastSent);
        return;
      case 'interrupt':
        if (this.exec.state === 'running' && this.exec.owner === 'client') this.target.interrupt();
        return;
      case 'bad-checksum':
        if (!client.noAck) client.socket.write('-');
        return;
      case 'oversized':
        this.log(`gdb: dropped a ${ev.size}-byte packet (limit ${this.packetSize})`);
        if (!client.noAck) client.socket.write('+');
        this.send('E22');
        return;
      case 'malformed':
        this.log(`gdb: malformed packet: ${ev.error}`);
        if (!client.noAck) client.socket.write('+');
        this.send('E22');
        return;
      case 'packet':
        if (!client.noAck) client.socket.write('+');
        if (this.exec.state === 'running') {
          if (client.queue.length < MAX_QUEUED_PACKETS) client.queue.push(ev.payload);
          return;
        }
        this.handleAndReply(ev.payload);
        return;
    }
  }

  private handleAndReply(payload: Uint8Array): void {
    let reply: string | null;
    try {
      reply = this.handlePacket(payload);
    } catch (err) {
      // A target bug must not take the debugger session (or the emulator) down with it.
      this.log(`gdb: error handling packet: ${(err as Error).message}`);
      reply = 'E01';
    }
    if (reply !== null) this.send(reply);
  }

  /** Process packets that arrived while the target was running, until one resumes it again. */
  private drainQueue(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      const client = this.client;
      while (client !== null && this.client === client && this.exec.state === 'halted' && client.queue.length > 0) {
        this.handleAndReply(client.queue.shift()!);
      }
    } finally {
      this.draining = false;
    }
  }

  private send(payload: string | Uint8Array): void {
    const client = this.client;
    if (client === null || client.closed) return;
    const frame = encodePacket(payload);
    if (!client.noAck) {
      client.lastSent = frame;
      client.naks = 0;
    }
    client.socket.write(frame);
  }

  /** Console output for the debugger user (O packets, hex text), split to fit the packet size. */
  private sendConsole(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    const chunk = Math.floor((this.packetSize - 8) / 2);
    for (let i = 0; i < bytes.length; i += chunk) this.send('O' + toHex(bytes.subarray(i, i + chunk)));
  }

  // ------------------------------------------------------------------ execution

  private run(owner: 'client' | 'attach' | 'free', mode: 'continue' | 'step'): void {
    if (this.ended) return;
    // Set state first: a target that reports synchronously from resume() must still be handled.
    this.exec = { state: 'running', owner };
    this.target.resume(mode);
  }

  private onTargetStop(reason: StopReason): void {
    if (this.exec.state !== 'running') {
      this.log(`gdb: ignoring stop event (${reason.kind}) while the target is already halted`);
      return;
    }
    const owner = this.exec.owner;
    this.exec = { state: 'halted' };
    if (reason.kind === 'exited') {
      this.ended = true;
      this.lastStop = reason;
      this.log(`gdb: guest exited with code ${reason.exitCode}`);
      if (this.client !== null) this.send(this.stopReply(reason));
      this.dropClient();
      this.finish({ kind: 'exited', exitCode: reason.exitCode });
      void this.closeServer();
      return;
    }
    switch (owner) {
      case 'client':
        this.lastStop = reason;
        if (reason.kind === 'trap-break') this.sendConsole(`hypemu: trap-break (${reason.reason}): ${reason.text}\n`);
        this.send(this.stopReply(reason));
        break;
      case 'attach':
        // The debugger sees the guest as "just stopped", as QEMU reports it on attach.
        this.lastStop = { kind: 'signal', pc: this.pcOf(reason), signal: SIGTRAP };
        break;
      case 'free':
        if (this.client === null && reason.kind === 'signal') {
          // Our own interrupt for a debugger that has since gone away: keep running.
          this.run('free', 'continue');
          return;
        }
        this.lastStop = reason;
        this.log(`gdb: guest stopped (${reason.kind}) at 0x${this.pcOf(reason).toString(16)} with no debugger attached; waiting for one`);
        break;
    }
    this.drainQueue();
  }

  private pcOf(reason: StopReason): bigint {
    return reason.kind === 'exited' ? 0n : reason.pc;
  }

  private readPc(): bigint {
    try {
      return this.target.readRegister(this.pcRegnum) ?? 0n;
    } catch {
      return 0n;
    }
  }

  private stopReply(reason: StopReason): string {
    if (reason.kind === 'exited') return 'W' + (reason.exitCode & 0xff).toString(16).padStart(2, '0');
    const signal = reason.kind === 'signal' ? reason.signal & 0xff : SIGTRAP;
    const pcBytes = this.regs[this.pcRegnum]!.bitsize / 8;
    let reply = `T${signal.toString(16).padStart(2, '0')}thread:01;${this.pcRegnum.toString(16).padStart(2, '0')}:${leHex(reason.pc, pcBytes)};`;
    if (reason.kind === 'watch') {
      const key = reason.watch === 'write' ? 'watch' : reason.watch === 'read' ? 'rwatch' : 'awatch';
      reply += `${key}:${reason.addr.toString(16)};`;
    }
    return reply;
  }

  // ------------------------------------------------------------------ packets

  /** Returns the reply payload, or null when the packet gets no immediate reply (c, s, k). */
  private handlePacket(payload: Uint8Array): string | null {
    // Commands are ASCII; only X carries binary, handled on the bytes.
    if (payload.length > 0 && payload[0] === 0x58 /* X */) return this.handleBinaryWrite(payload);
    const pkt = Buffer.from(payload).toString('latin1');
    if (pkt.length === 0) return '';
    const cmd = pkt[0]!;
    const rest = pkt.slice(1);
    switch (cmd) {
      case '?':
        return this.stopReply(this.lastStop ?? { kind: 'signal', pc: this.readPc(), signal: SIGTRAP });
      case 'g':
        return this.readAllRegisters();
      case 'G':
        return this.writeAllRegisters(rest);
      case 'p':
        return this.readOneRegister(rest);
      case 'P':
        return this.writeOneRegister(rest);
      case 'm':
        return this.readMemory(rest);
      case 'M':
        return this.writeMemoryHex(rest);
      case 'Z':
      case 'z':
        return this.breakpoint(cmd === 'Z', rest);
      case 'c':
      case 's':
        return this.resumeFromPacket(cmd === 'c' ? 'continue' : 'step', rest);
      case 'C':
      case 'S': {
        // The signal to deliver has no meaning for a bare-metal vCPU; only the optional address counts.
        const semi = rest.indexOf(';');
        return this.resumeFromPacket(cmd === 'C' ? 'continue' : 'step', semi >= 0 ? rest.slice(semi + 1) : '');
      }
      case 'v':
        return this.handleV(pkt);
      case 'q':
      case 'Q':
        return this.handleQuery(pkt);
      case 'H':
        return 'OK'; // one thread: any selection is fine
      case 'T':
        return rest === '1' || rest === '01' || rest === '-1' ? 'OK' : 'E22';
      case 'D':
        this.send('OK');
        this.dropClient();
        this.detachSession();
        return null;
      case 'k':
        this.kill();
        return null;
      default:
        return ''; // unknown: empty reply, as the protocol requires
    }
  }

  private kill(): void {
    this.log('gdb: kill requested by the debugger');
    this.ended = true;
    this.safely(() => this.target.kill());
    this.exec = { state: 'halted' };
    this.dropClient();
    this.finish({ kind: 'killed' });
    void this.closeServer();
  }

  private resumeFromPacket(mode: 'continue' | 'step', addrText: string): string | null {
    if (addrText.length > 0) {
      const addr = parseHexBig(addrText);
      if (addr === null) return 'E22';
      if (!this.target.writeRegister(this.pcRegnum, addr)) return 'E01';
    }
    this.run('client', mode);
    return null;
  }

  private handleV(pkt: string): string | null {
    if (pkt === 'vCont?') return 'vCont;c;C;s;S';
    if (pkt.startsWith('vCont;')) {
      // One thread: the first action that applies to thread 1 or to all threads decides.
      for (const part of pkt.slice(6).split(';')) {
        const [action = '', thread] = part.split(':', 2);
        if (thread !== undefined && !['1', '01', '-1', 'p1.1', 'p1.-1', 'p-1.-1'].includes(thread)) continue;
        const letter = action[0];
        if (letter === 'c' || letter === 'C') return this.resumeFromPacket('continue', '');
        if (letter === 's' || letter === 'S') return this.resumeFromPacket('step', '');
        return 'E22';
      }
      return 'E22';
    }
    if (pkt.startsWith('vKill')) {
      this.send('OK');
      this.kill();
      return null;
    }
    return ''; // vMustReplyEmpty, vFile, vRun, ...: unsupported
  }

  private handleQuery(pkt: string): string | null {
    if (pkt.startsWith('qSupported')) {
      return `PacketSize=${this.packetSize.toString(16)};qXfer:features:read+;vContSupported+;QStartNoAckMode+`;
    }
    if (pkt === 'QStartNoAckMode') {
      // The OK still travels (and is acked) in ack mode; the switch happens once it is sent.
      this.send('OK');
      if (this.client !== null) this.client.noAck = true;
      return null;
    }
    if (pkt.startsWith('qXfer:features:read:')) return this.xferFeatures(pkt.slice('qXfer:features:read:'.length));
    if (pkt === 'qAttached' || pkt.startsWith('qAttached:')) return '1'; // attached to a running machine: quit detaches, never kills
    if (pkt === 'qC') return 'QC1';
    if (pkt === 'qfThreadInfo') return 'm1';
    if (pkt === 'qsThreadInfo') return 'l';
    if (pkt.startsWith('qThreadExtraInfo,')) return toHex(Buffer.from('vCPU 0', 'latin1'));
    if (pkt === 'qOffsets') return 'Text=0;Data=0;Bss=0';
    if (pkt.startsWith('qSymbol')) return 'OK';
    if (pkt.startsWith('qRcmd,')) return this.monitor(pkt.slice('qRcmd,'.length));
    return '';
  }

  private xferFeatures(args: string): string {
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

  private monitor(hex: string): string {
    const raw = fromHex(hex);
    if (raw === null) return 'E22';
    const line = Buffer.from(raw).toString('utf8');
    const text = runMonitorCommand(this.target, line);
    this.sendConsole(text);
    return 'OK';
  }

  // ---- registers

  private regHex(regnum: number): string {
    const reg = this.regs[regnum]!;
    const bytes = reg.bitsize / 8;
    const v = this.target.readRegister(regnum);
    return v === undefined ? 'xx'.repeat(bytes) : leHex(v, bytes);
  }

  private readAllRegisters(): string {
    let out = '';
    for (let i = 0; i < this.gCount; i++) out += this.regHex(i);
    return out;
  }

  private writeAllRegisters(data: string): string {
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

  private readOneRegister(text: string): string {
    const n = parseHexNum(text);
    if (n === null || n >= this.regs.length) return 'E22';
    return this.regHex(n);
  }

  private writeOneRegister(text: string): string {
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

  private readMemory(text: string): string {
    const range = this.parseRange(text);
    if (range === null || range.length === 0) return 'E22';
    // Clamp huge requests to what fits in one reply; GDB asks again for the rest.
    const length = Math.min(range.length, Math.floor((this.packetSize - 4) / 2));
    const data = this.target.readMemory(range.addr, length);
    if (data === null || data.length === 0) return 'E14';
    return toHex(data.length > length ? data.subarray(0, length) : data);
  }

  private writeMemoryHex(text: string): string {
    const colon = text.indexOf(':');
    if (colon < 0) return 'E22';
    const range = this.parseRange(text.slice(0, colon));
    const data = fromHex(text.slice(colon + 1));
    if (range === null || data === null || data.length !== range.length) return 'E22';
    if (data.length === 0) return 'OK';
    return this.target.writeMemory(range.addr, data) ? 'OK' : 'E14';
  }

  private handleBinaryWrite(payload: Uint8Array): string {
    const colon = payload.indexOf(0x3a);
    if (colon < 0) return 'E22';
    const range = this.parseRange(Buffer.from(payload.subarray(1, colon)).toString('latin1'));
    const data = payload.subarray(colon + 1);
    if (range === null || data.length !== range.length) return 'E22';
    if (data.length === 0) return 'OK'; // GDB probes X support with a zero-length write
    return this.target.writeMemory(range.addr, Uint8Array.from(data)) ? 'OK' : 'E14';
  }

  // ---- breakpoints

  private breakpoint(insert: boolean, text: string): string {
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

const BREAKPOINT_KINDS: Readonly<Record<number, BreakpointKind>> = { 0: 'sw', 1: 'hw', 2: 'write', 3: 'read', 4: 'access' };
