/**
 * A minimal RSP client for the stub tests: real TCP on 127.0.0.1, raw byte access for hostile
 * input, and a packet-level helper that handles acks like GDB does.
 */
import * as net from 'node:net';
import { execFileSync } from 'node:child_process';
import { RspDecoder, encodePacket, type RspEvent } from '../../emulator/debug/rsp.js';

export class RspClient {
  readonly raw: Buffer[] = [];
  private readonly decoder = new RspDecoder(1 << 20);
  private readonly events: RspEvent[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  noAck = false;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.raw.push(chunk);
      for (const ev of this.decoder.push(chunk)) {
        if (ev.type === 'packet' && !this.noAck) socket.write('+');
        this.events.push(ev);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RspClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RspClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until `pred` finds something in the event list, or time out. */
  private async waitFor<T>(pred: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v !== undefined) return v;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Next packet payload (as latin1 text), skipping acks. */
  async nextPacket(timeoutMs = 30_000): Promise<string> {
    return this.waitFor(
      () => {
        while (this.events.length > 0) {
          const ev = this.events.shift()!;
          if (ev.type === 'packet') return Buffer.from(ev.payload).toString('latin1');
        }
        return undefined;
      },
      timeoutMs,
      'a packet',
    );
  }

  /** Next ack/nak byte. */
  async nextAck(timeoutMs = 2000): Promise<'+' | '-'> {
    return this.waitFor(
      () => {
        const i = this.events.findIndex((e) => e.type === 'ack' || e.type === 'nak');
        if (i < 0) return undefined;
        const [ev] = this.events.splice(i, 1);
        return ev!.type === 'ack' ? '+' : '-';
      },
      timeoutMs,
      'an ack',
    );
  }

  /** True if nothing (no packet) arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return !this.events.some((e) => e.type === 'packet');
  }

  write(data: string | Uint8Array): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  send(payload: string | Uint8Array): void {
    this.write(encodePacket(payload));
  }

  /** Send a packet and return the reply payload. */
  // 30 s by default: a reply takes milliseconds, but on the shared CI machine at load 36 a 2 s wait ran out (gdb-e2e determinism test).
  async request(payload: string | Uint8Array, timeoutMs = 30_000): Promise<string> {
    this.send(payload);
    return this.nextPacket(timeoutMs);
  }

  /** Switch both sides to no-ack mode, as GDB does right after qSupported. */
  async startNoAck(): Promise<void> {
    const r = await this.request('QStartNoAckMode');
    if (r !== 'OK') throw new Error(`QStartNoAckMode: ${r}`);
    this.noAck = true;
    this.events.splice(0, this.events.length, ...this.events.filter((e) => e.type !== 'ack'));
  }

  /** Run a monitor command; returns the console text and the final reply. */
  async monitor(line: string): Promise<{ text: string; reply: string }> {
    this.send('qRcmd,' + Buffer.from(line, 'utf8').toString('hex'));
    let text = '';
    for (;;) {
      const p = await this.nextPacket();
      if (p.startsWith('O') && p !== 'OK') text += Buffer.from(p.slice(1), 'hex').toString('utf8');
      else return { text, reply: p };
    }
  }

  waitClosed(timeoutMs = 2000): Promise<true> {
    return this.waitFor(() => (this.closed ? true : undefined), timeoutMs, 'close').catch((e: Error) => {
      if (this.closed) return true as const;
      throw e;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The gdb the real-GDB tests drive (Debian's gdb-multiarch, installed by the set-up), or null. */
export function findGdb(): string | null {
  for (const exe of ['gdb-multiarch', 'aarch64-linux-gnu-gdb']) {
    try {
      execFileSync(exe, ['--version'], { stdio: 'ignore' });
      return exe;
    } catch {
      // not installed
    }
  }
  return null;
}
