// GDB remote protocol framing (GDB manual, Appendix E.1 "Overview": checksums, `}` escapes,
// `*` run-length encoding, +/- acks, 0x03 interrupt), fed clean and hostile byte streams.
import { describe, expect, it } from 'vitest';
import {
  RspDecoder,
  checksum,
  decodePayload,
  encodePacket,
  fromHex,
  leHex,
  parseHexBig,
  parseHexNum,
  parseLeHex,
  type RspEvent,
} from '../../emulator/debug/rsp.js';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

function packets(events: RspEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'packet' ? [text(e.payload)] : []));
}

describe('checksum and framing', () => {
  it('computes the modulo-256 sum', () => {
    expect(checksum(bytes('OK'))).toBe(0x9a);
    expect(checksum(bytes(''))).toBe(0);
    expect(encodePacket('OK').toString('latin1')).toBe('$OK#9a');
    expect(encodePacket('qSupported').toString('latin1')).toBe('$qSupported#37');
  });

  it('escapes $ # } * and checksums the escaped bytes', () => {
    const frame = encodePacket(new Uint8Array([0x24, 0x23, 0x7d, 0x2a, 0x41]));
    expect(frame.toString('latin1').slice(0, -3)).toBe('$}\x04}\x03}]}\x0aA');
    const d = new RspDecoder(100).push(frame);
    expect(d).toHaveLength(1);
    expect(d[0]!.type).toBe('packet');
    expect([...(d[0] as { payload: Uint8Array }).payload]).toEqual([0x24, 0x23, 0x7d, 0x2a, 0x41]);
  });
});

describe('decodePayload', () => {
  it('expands run-length encoding (count = char - 29)', () => {
    const r = decodePayload(bytes('0* '));
    expect(r.ok && text(r.payload)).toBe('0000'); // ' ' = 32 -> 3 more copies
    const r2 = decodePayload(bytes('ab*~'));
    expect(r2.ok && r2.payload.length).toBe(2 + 97);
  });

  it('rejects a trailing escape, a leading RLE marker, a dangling or non-printable count', () => {
    expect(decodePayload(bytes('abc}')).ok).toBe(false);
    expect(decodePayload(bytes('*3abc')).ok).toBe(false);
    expect(decodePayload(bytes('a*')).ok).toBe(false);
    expect(decodePayload(new Uint8Array([0x61, 0x2a, 0x05])).ok).toBe(false);
  });
});

describe('RspDecoder', () => {
  it('decodes a packet delivered one byte at a time', () => {
    const d = new RspDecoder(1024);
    const all: RspEvent[] = [];
    for (const b of encodePacket('m40080000,4')) all.push(...d.push(new Uint8Array([b])));
    expect(packets(all)).toEqual(['m40080000,4']);
  });

  it('reports acks, naks and Ctrl-C, and skips garbage between packets', () => {
    const d = new RspDecoder(1024);
    const ev = d.push(bytes('+-\x03garbage\r\n\x00\xff$OK#9a junk $g#67'));
    expect(ev.map((e) => e.type)).toEqual(['ack', 'nak', 'interrupt', 'packet', 'packet']);
    expect(packets(ev)).toEqual(['OK', 'g']);
  });

  it('treats 0x03 inside a packet as data, not as an interrupt', () => {
    const payload = new Uint8Array([0x58, 0x03]);
    const ev = new RspDecoder(64).push(encodePacket(payload));
    expect(ev.map((e) => e.type)).toEqual(['packet']);
  });

  it('flags bad and non-hex checksums, then recovers', () => {
    const d = new RspDecoder(1024);
    const ev = d.push(bytes('$OK#00$OK#zz$OK#9a'));
    expect(ev[0]).toEqual({ type: 'bad-checksum', expected: 0x9a, received: 0 });
    expect(ev[1]).toEqual({ type: 'bad-checksum', expected: 0x9a, received: null });
    expect(packets(ev)).toEqual(['OK']);
  });

  it('accepts upper-case checksum digits', () => {
    expect(packets(new RspDecoder(64).push(bytes('$OK#9A')))).toEqual(['OK']);
  });

  it('discards an oversized packet without buffering it, then continues', () => {
    const d = new RspDecoder(16);
    const big = 'M' + 'a'.repeat(5000);
    const ev = d.push(Buffer.concat([encodePacket(big), encodePacket('g')]));
    expect(ev[0]).toEqual({ type: 'oversized', size: big.length });
    expect(packets(ev)).toEqual(['g']);
  });

  it('accepts a packet of exactly the maximum size', () => {
    const p = 'a'.repeat(16);
    expect(packets(new RspDecoder(16).push(encodePacket(p)))).toEqual([p]);
  });

  it('resynchronises on a raw $ inside a truncated packet', () => {
    const ev = new RspDecoder(1024).push(bytes('$m4008$qC#b4'));
    expect(packets(ev)).toEqual(['qC']);
  });

  it('reports a runaway escape at the end as malformed', () => {
    const body = bytes('X0,1:}');
    const frame = Buffer.concat([Buffer.from('$'), body, Buffer.from('#' + checksum(body).toString(16).padStart(2, '0'))]);
    expect(new RspDecoder(64).push(frame)).toEqual([{ type: 'malformed', error: 'escape character at end of packet' }]);
  });

  it('decodes RLE in incoming packets', () => {
    const body = bytes('G0*"'); // '"' = 34 -> 5 more '0'
    const frame = Buffer.concat([Buffer.from('$'), body, Buffer.from('#' + checksum(body).toString(16).padStart(2, '0'))]);
    expect(packets(new RspDecoder(64).push(frame))).toEqual(['G000000']);
  });

  it('never throws on random bytes', () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const d = new RspDecoder(128);
    for (let i = 0; i < 200; i++) {
      const chunk = new Uint8Array(1 + (rnd() % 200));
      for (let j = 0; j < chunk.length; j++) {
        const r = rnd();
        // bias towards protocol characters so every state is visited
        chunk[j] = r < 40 ? 0x24 : r < 80 ? 0x23 : r < 100 ? 0x7d : r < 120 ? 0x2a : r;
      }
      expect(() => d.push(chunk)).not.toThrow();
    }
  });
});

describe('hex helpers', () => {
  it('round-trips little-endian register values', () => {
    expect(leHex(0x40080000n, 8)).toBe('0000084000000000');
    expect(parseLeHex('0000084000000000', 8)).toBe(0x40080000n);
    expect(leHex(-1n, 4)).toBe('ffffffff');
    const v = (1n << 127n) | 0x1234n;
    expect(parseLeHex(leHex(v, 16), 16)).toBe(v);
    expect(parseLeHex('00', 8)).toBeNull();
    expect(parseLeHex('zz00000000000000', 8)).toBeNull();
  });

  it('rejects odd-length, non-hex and over-wide numbers', () => {
    expect(fromHex('abc')).toBeNull();
    expect(fromHex('zz')).toBeNull();
    expect(fromHex('')).toEqual(new Uint8Array(0));
    expect(parseHexBig('ffffffffffffffff')).toBe((1n << 64n) - 1n);
    expect(parseHexBig('1ffffffffffffffff')).toBeNull();
    expect(parseHexBig('')).toBeNull();
    expect(parseHexBig('-1')).toBeNull();
    expect(parseHexNum('10')).toBe(16);
    expect(parseHexNum('fffffffffffffff')).toBeNull();
  });
});
