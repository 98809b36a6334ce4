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
 *
 * Size (~500 lines), why it stays whole: this file is the session state machine alone (the
 * connection and its acks, who owns a run, what a stop means, packet dispatch), because each of those
 * reads and changes the same two states (client, exec); the packets that only translate
 * target state (registers, memory, breakpoints, features, queries, stop replies) are in
 * gdb-packets.ts.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { runMonitorCommand } from './monitor.js';
import {
  RspDecoder,
  encodePacket,
  fromHex,
  parseHexBig,
  toHex,
  type RspEvent,
} from './rsp.js';
import type { DebugTarget, StopReason } from './target.js';
import { TargetPackets } from './gdb-packets.js';

export const DEFAULT_GDB_PORT = 1234;

/** A vCont thread id: `T`, `-1`, `pP.T` (hex); -1 = all; null when malformed. */
function parseThreadId(text: string): number | null {
  const t = text.startsWith('p') ? text.slice(text.indexOf('.') + 1) : text;
  if (t === '-1') return -1;
  if (!/^[0-9a-fA-F]+$/.test(t)) return null;
  return parseInt(t, 16);
}
/** Largest payload we accept and advertise (hex: 0x4000). Big enough for a full `g` with all vector registers. */
export const DEFAULT_PACKET_SIZE = 0x4000;
/** Packets that arrive while the target runs are kept (GDB does not send any in all-stop mode; a hostile client might). */
const MAX_QUEUED_PACKETS = 32;
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
  readonly socket: Socket;
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
  private server: Server | null = null;
  private client: Client | null = null;
  private exec: Exec = { state: 'halted' };
  private ended = false;
  private lastStop: StopReason | null = null;
  private draining = false;
  /** Registers, memory, break/watchpoints and the target description (gdb-packets.ts). */
  private readonly packets: TargetPackets;
  private readonly packetSize: number;
  private readonly log: (line: string) => void;

  constructor(
    private readonly target: DebugTarget,
    private readonly options: GdbStubOptions = {},
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.packetSize = Math.max(256, options.packetSize ?? DEFAULT_PACKET_SIZE);
    this.packets = new TargetPackets(target, this.packetSize);
    this.log = options.log ?? (() => {});
    target.setStopHandler((reason) => this.onTargetStop(reason));
  }

  /** Listen on 127.0.0.1; resolves with the bound port. Starts the guest unless waitForAttach. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.onConnection(socket));
      server.once('error', (err: NodeJS.ErrnoException) => {
        const port = this.options.port ?? DEFAULT_GDB_PORT;
        reject(new Error(err.code === 'EADDRINUSE' ? `gdb: port ${port} on 127.0.0.1 is already in use` : `gdb: cannot listen: ${err.message}`));
      });
      server.listen({ host: '127.0.0.1', port: this.options.port ?? DEFAULT_GDB_PORT }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log(`gdb: server error: ${err.message}`));
        this.server = server;
        const addr = server.address() as AddressInfo;
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

  private onConnection(socket: Socket): void {
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
      this.lastStop = { kind: 'signal', pc: this.packets.readPc(), signal: SIGTRAP };
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
    this.packets.removeAll((fn) => this.safely(fn));
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
      if (this.client !== null) this.send(this.packets.stopReply(reason));
      this.dropClient();
      this.finish({ kind: 'exited', exitCode: reason.exitCode });
      void this.closeServer();
      return;
    }
    switch (owner) {
      case 'client':
        this.lastStop = reason;
        if (reason.kind === 'trap-break') this.sendConsole(`hypemu: trap-break (${reason.reason}): ${reason.text}\n`);
        this.send(this.packets.stopReply(reason));
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

  // ------------------------------------------------------------------ packets

  /** Returns the reply payload, or null when the packet gets no immediate reply (c, s, k). */
  private handlePacket(payload: Uint8Array): string | null {
    // Commands are ASCII; only X carries binary, handled on the bytes.
    if (payload.length > 0 && payload[0] === 0x58 /* X */) return this.packets.handleBinaryWrite(payload);
    const pkt = Buffer.from(payload).toString('latin1');
    if (pkt.length === 0) return '';
    const cmd = pkt[0]!;
    const rest = pkt.slice(1);
    switch (cmd) {
      case '?':
        return this.packets.stopReply(this.lastStop ?? { kind: 'signal', pc: this.packets.readPc(), signal: SIGTRAP });
      case 'g':
        return this.packets.readAllRegisters();
      case 'G':
        return this.packets.writeAllRegisters(rest);
      case 'p':
        return this.packets.readOneRegister(rest);
      case 'P':
        return this.packets.writeOneRegister(rest);
      case 'm':
        return this.packets.readMemory(rest);
      case 'M':
        return this.packets.writeMemoryHex(rest);
      case 'Z':
      case 'z':
        return this.packets.breakpoint(cmd === 'Z', rest);
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
      case 'T':
        return this.packets.thread(cmd, rest);
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
      if (!this.target.writeRegister(this.packets.pcRegnum, addr)) return 'E01';
    }
    this.run('client', mode);
    return null;
  }

  private handleV(pkt: string): string | null {
    if (pkt === 'vCont?') return 'vCont;c;C;s;S';
    if (pkt.startsWith('vCont;')) {
      // All-stop: a step of one thread (`s:T`, the others continue: `c`) steps that thread and
      // lets the machine run only as far as that takes; otherwise the machine continues.
      const actions = pkt.slice(6).split(';').map((part) => {
        const [action = '', thread] = part.split(':', 2);
        // No thread: every thread (-1).
        return { letter: action[0], thread: thread === undefined ? -1 : parseThreadId(thread) };
      });
      if (actions.some((a) => a.letter !== 'c' && a.letter !== 'C' && a.letter !== 's' && a.letter !== 'S')) return 'E22';
      const step = actions.find((a) => a.letter === 's' || a.letter === 'S');
      if (step !== undefined) {
        if (step.thread === null) return 'E22';
        if (step.thread > 0 && this.target.selectThread !== undefined && !this.target.selectThread('c', step.thread)) return 'E22';
        if (step.thread > 0 && this.target.selectThread === undefined && step.thread !== 1) return 'E22';
        return this.resumeFromPacket('step', '');
      }
      if (actions.length === 0 || actions.some((a) => a.thread === null)) return 'E22';
      return this.resumeFromPacket('continue', '');
    }
    if (pkt.startsWith('vKill')) {
      this.send('OK');
      this.kill();
      return null;
    }
    return ''; // vMustReplyEmpty, vFile, vRun, ...: unsupported
  }

  private handleQuery(pkt: string): string | null {
    if (pkt === 'QStartNoAckMode') {
      // The OK still travels (and is acked) in ack mode; the switch happens once it is sent.
      this.send('OK');
      if (this.client !== null) this.client.noAck = true;
      return null;
    }
    if (pkt.startsWith('qRcmd,')) return this.monitor(pkt.slice('qRcmd,'.length));
    return this.packets.query(pkt);
  }

  private monitor(hex: string): string {
    const raw = fromHex(hex);
    if (raw === null) return 'E22';
    const line = Buffer.from(raw).toString('utf8');
    const text = runMonitorCommand(this.target, line);
    this.sendConsole(text);
    return 'OK';
  }
}
