/** The terminal escapes of `hypemu run` (QEMU's -nographic mux: C-a x, C-a h, C-a C-a). */
import { describe, expect, it } from 'vitest';
import { EscapeFilter, ESCAPE_HELP } from '../../cli/stdin.js';

function feed(...chunks: number[][]): { guest: number[]; quit: number; help: string[] } {
  const out = { guest: [] as number[], quit: 0, help: [] as string[] };
  const f = new EscapeFilter({ push: (b) => out.guest.push(...b), quit: () => out.quit++, help: (t) => out.help.push(t) });
  for (const c of chunks) f.data(Uint8Array.from(c));
  return out;
}

describe('terminal escapes', () => {
  it('passes keys through, Ctrl-C included (it goes to the guest, as under QEMU)', () => {
    expect(feed([0x6c, 0x73, 0x03, 0x0d])).toEqual({ guest: [0x6c, 0x73, 0x03, 0x0d], quit: 0, help: [] });
  });
  it('C-a x quits, C-a h prints the escapes, neither reaches the guest', () => {
    expect(feed([0x61, 0x01, 0x68, 0x62, 0x01, 0x78])).toEqual({ guest: [0x61, 0x62], quit: 1, help: [ESCAPE_HELP] });
  });
  it('C-a C-a sends one C-a; an escape split across reads still works; unknown escapes are dropped', () => {
    expect(feed([0x01], [0x01, 0x41], [0x01], [0x7a, 0x42])).toEqual({ guest: [0x01, 0x41, 0x42], quit: 0, help: [] });
  });
});
