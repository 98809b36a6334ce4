/**
 * GDB remote serial protocol framing: pure functions and a streaming decoder, no I/O.
 *
 * Wire format (GDB manual, "Overview" of the remote protocol): `$payload#xx`, where xx is the
 * modulo-256 sum of the raw payload bytes in two hex digits. Inside the payload `}` escapes the
 * next byte (XOR 0x20) and `*` run-length-encodes the previous byte (count = char - 29). Outside
 * packets: `+`/`-` acknowledgements and the 0x03 interrupt byte. Everything else between packets
 * is line noise and is skipped.
 *
 * The decoder is written for hostile input: it never throws, buffers at most maxPayload bytes,
 * and turns every malformed frame into an event the server can answer (or drop) explicitly.
 */

const DOLLAR = 0x24;
const HASH = 0x23;
const ESCAPE = 0x7d;
const STAR = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const CTRL_C = 0x03;

export type RspEvent =
  /** A well-framed packet with a correct checksum; payload has escapes and RLE already decoded. */
  | { readonly type: 'packet'; readonly payload: Uint8Array }
  | { readonly type: 'ack' }
  | { readonly type: 'nak' }
  /** 0x03 received between packets (Ctrl-C in GDB). */
  | { readonly type: 'interrupt' }
  /** Frame complete but checksum wrong or unreadable; caller NAKs in ack mode, ignores otherwise. */
  | { readonly type: 'bad-checksum'; readonly expected: number; readonly received: number | null }
  /** Payload exceeded maxPayload; the bytes were discarded up to the closing `#xx`. */
  | { readonly type: 'oversized'; readonly size: number }
  /** Checksum fine but the escape/RLE encoding is invalid (trailing `}`, `*` with nothing to repeat...). */
  | { readonly type: 'malformed'; readonly error: string };

/** Modulo-256 sum used by the protocol. */
export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i]!) & 0xff;
  return sum;
}

function hexNibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Undo `}` escapes and `*` run-length encoding. GDB does not RLE what it sends, but the protocol
 * allows it and other clients do, so we accept it. A `*` repeat count is `c - 29` with c printable
 * (so 3..97 extra copies); anything else is malformed.
 */
export function decodePayload(raw: Uint8Array): { ok: true; payload: Uint8Array } | { ok: false; error: string } {
  // Worst case each RLE pair expands to 97 bytes: size the buffer exactly once.
  let out = new Uint8Array(raw.length);
  let n = 0;
  const ensure = (extra: number): void => {
    if (n + extra <= out.length) return;
    const bigger = new Uint8Array(Math.max(out.length * 2, n + extra));
    bigger.set(out.subarray(0, n));
    out = bigger;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === ESCAPE) {
      if (i + 1 >= raw.length) return { ok: false, error: 'escape character at end of packet' };
      ensure(1);
      out[n++] = raw[++i]! ^ 0x20;
    } else if (c === STAR) {
      if (n === 0) return { ok: false, error: 'run-length marker with nothing to repeat' };
      if (i + 1 >= raw.length) return { ok: false, error: 'run-length marker at end of packet' };
      const countChar = raw[++i]!;
      if (countChar < 0x20 || countChar > 0x7e) return { ok: false, error: 'invalid run-length count' };
      const count = countChar - 29;
      ensure(count);
      const prev = out[n - 1]!;
      for (let k = 0; k < count; k++) out[n++] = prev;
    } else {
      ensure(1);
      out[n++] = c;
    }
  }
  return { ok: true, payload: out.slice(0, n) };
}

/** Escape a payload for the wire: `$ # } *` always (GDB escapes `*` too, so it is never read as RLE). */
export function escapePayload(payload: Uint8Array): Uint8Array {
  let extra = 0;
  for (const c of payload) if (c === DOLLAR || c === HASH || c === ESCAPE || c === STAR) extra++;
  if (extra === 0) return payload;
  const out = new Uint8Array(payload.length + extra);
  let n = 0;
  for (const c of payload) {
    if (c === DOLLAR || c === HASH || c === ESCAPE || c === STAR) {
      out[n++] = ESCAPE;
      out[n++] = c ^ 0x20;
    } else out[n++] = c;
  }
  return out;
}

/** Frame a payload (string = latin1 bytes) as `$...#xx`, escaping as needed. */
export function encodePacket(payload: string | Uint8Array): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const body = escapePayload(bytes);
  const sum = checksum(body);
  const out = Buffer.alloc(body.length + 4);
  out[0] = DOLLAR;
  out.set(body, 1);
  out[body.length + 1] = HASH;
  out.write(sum.toString(16).padStart(2, '0'), body.length + 2, 'latin1');
  return out;
}

const enum State {
  Idle,
  Body,
  Discard, // body too long: swallow up to '#'
  Check1,
  Check2,
}

/**
 * Streaming decoder: feed it whatever the socket delivers, in any fragmentation, and get events.
 * A `$` inside a body restarts the packet: the protocol requires `$` to be escaped in payloads,
 * so a raw one means the previous frame was truncated, and resynchronising on it is what keeps
 * one lost byte from eating the next good packet.
 */
export class RspDecoder {
  private state = State.Idle;
  private body: Uint8Array;
  private bodyLen = 0;
  private discarded = 0;
  private check = 0;

  constructor(private readonly maxPayload: number) {
    this.body = new Uint8Array(Math.min(maxPayload, 4096));
  }

  push(chunk: Uint8Array): RspEvent[] {
    const events: RspEvent[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      switch (this.state) {
        case State.Idle:
          if (c === DOLLAR) this.startBody();
          else if (c === PLUS) events.push({ type: 'ack' });
          else if (c === MINUS) events.push({ type: 'nak' });
          else if (c === CTRL_C) events.push({ type: 'interrupt' });
          // anything else is noise between packets: skip it
          break;
        case State.Body:
          if (c === DOLLAR) this.startBody();
          else if (c === HASH) this.state = State.Check1;
          else if (this.bodyLen >= this.maxPayload) {
            this.discarded = this.bodyLen + 1;
            this.state = State.Discard;
          } else this.append(c);
          break;
        case State.Discard:
          if (c === DOLLAR) this.startBody();
          else if (c === HASH) this.state = State.Check1;
          else this.discarded++;
          break;
        case State.Check1:
          if (c === DOLLAR) {
            this.startBody();
            break;
          }
          this.check = hexNibble(c);
          this.state = State.Check2;
          break;
        case State.Check2: {
          if (c === DOLLAR) {
            this.startBody();
            break;
          }
          const lo = hexNibble(c);
          events.push(this.finish(this.check < 0 || lo < 0 ? null : (this.check << 4) | lo));
          this.state = State.Idle;
          break;
        }
      }
    }
    return events;
  }

  private startBody(): void {
    this.state = State.Body;
    this.bodyLen = 0;
    this.discarded = 0;
  }

  private append(c: number): void {
    if (this.bodyLen === this.body.length) {
      const bigger = new Uint8Array(Math.min(this.maxPayload, this.body.length * 2));
      bigger.set(this.body);
      this.body = bigger;
    }
    this.body[this.bodyLen++] = c;
  }

  private finish(received: number | null): RspEvent {
    if (this.discarded > 0) return { type: 'oversized', size: this.discarded };
    const raw = this.body.subarray(0, this.bodyLen);
    const expected = checksum(raw);
    if (received !== expected) return { type: 'bad-checksum', expected, received };
    const decoded = decodePayload(raw);
    if (!decoded.ok) return { type: 'malformed', error: decoded.error };
    return { type: 'packet', payload: decoded.payload };
  }
}

// ---------------------------------------------------------------- hex helpers

/** Bytes -> lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Hex -> bytes; null on odd length or any non-hex character (Buffer.from would silently truncate). */
export function fromHex(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Parse an unsigned hex number (addresses, lengths, regnums) into a bigint; null if not pure hex or wider than 64 bits. */
export function parseHexBig(s: string): bigint | null {
  if (s.length === 0 || s.length > 16 || !/^[0-9a-fA-F]+$/.test(s)) return null;
  return BigInt('0x' + s);
}

/** Parse a hex number that must fit in a JS safe integer (lengths, regnums). */
export function parseHexNum(s: string): number | null {
  if (s.length === 0 || s.length > 13 || !/^[0-9a-fA-F]+$/.test(s)) return null;
  return parseInt(s, 16);
}

/** A register value as GDB wants it: `bytes` bytes, little-endian, hex. */
export function leHex(value: bigint, bytes: number): string {
  let v = BigInt.asUintN(bytes * 8, value);
  let s = '';
  for (let i = 0; i < bytes; i++) {
    s += Number(v & 0xffn).toString(16).padStart(2, '0');
    v >>= 8n;
  }
  return s;
}

/** Inverse of leHex; null unless exactly 2*bytes hex digits. */
export function parseLeHex(hex: string, bytes: number): bigint | null {
  if (hex.length !== bytes * 2) return null;
  const raw = fromHex(hex);
  if (raw === null) return null;
  let v = 0n;
  for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]!);
  return v;
}
