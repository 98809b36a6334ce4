#!/usr/bin/env node
/**
 * Brute-force sweep for A64 instruction words that kill Unicorn's process
 * (an assertion in its decoder, SIGABRT, or a crash in generated code).
 *
 *   node scripts/untranslatable-sweep.mjs [--regs zero|ones|mixed|wide|fp16misc] [--from N] [--to N]
 *
 * The candidate space is every word with its register fields (bits [4:0],
 * [9:5], [20:16]) fixed by --regs, i.e. 2^17 words per pass: the decoder's
 * decisions depend on the other bits. A child process translates and runs
 * each word once (a fresh block: the word followed by `B .`), printing the
 * index before each; when the child dies on a signal, the parent records the
 * word it was at and starts a new child after it. Needs `npm run build`.
 * Prints one line per killing word: index, word, signal.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const regsMode = opt('--regs', 'zero');
const from = Number(opt('--from', '0'));
const to = Number(opt('--to', String(regsMode === 'wide' ? 1 << 22 : regsMode === 'fp16misc' ? 1 << 9 : 1 << 17)));

/**
 * Index -> word. Modes zero/ones/mixed: 17-bit index, bits [31:21] and [15:10]
 * from it, the register fields [4:0], [9:5], [20:16] from the mode. Mode
 * `wide`: 22-bit index for bits [31:10] (bits [20:16] are opcode bits in
 * some groups, e.g. two-register miscellaneous), [9:0] zero.
 */
export function wordAt(i, mode) {
  if (mode === 'wide') return (i << 10) >>> 0;
  // The FP16 two-register-misc group (vector and scalar): Q, U, scalar, a and opcode from the index.
  if (mode === 'fp16misc') {
    return (0x0e780800 | (((i >>> 8) & 1) << 30) | (((i >>> 7) & 1) << 29) | (((i >>> 6) & 1) << 28) | (((i >>> 5) & 1) << 23) | ((i & 0x1f) << 12)) >>> 0;
  }
  const hi = (i >>> 6) & 0x7ff; // bits 31:21
  const mid = i & 0x3f; // bits 15:10
  let regs = 0;
  if (mode === 'ones') regs = 0x1f | (0x1f << 5) | (0x1f << 16);
  else if (mode === 'mixed') regs = 1 | (2 << 5) | (3 << 16);
  return ((hi << 21) | (mid << 10) | regs) >>> 0;
}

if (process.env.SWEEP_CHILD === '1') {
  await child();
} else {
  await parent();
}

async function parent() {
  let next = from;
  const bad = [];
  while (next < to) {
    const c = fork(fileURLToPath(import.meta.url), args, { env: { ...process.env, SWEEP_CHILD: '1', SWEEP_FROM: String(next), SWEEP_TO: String(to) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let last = next - 1;
    const rl = createInterface({ input: c.stdout });
    rl.on('line', (l) => {
      // glib prints its assertion message on stdout too: only index lines count.
      if (/^\d+$/.test(l)) last = Number(l);
    });
    c.stderr.resume();
    const closed = new Promise((r) => rl.on('close', r));
    const { code, signal } = await new Promise((res) => c.on('exit', (code, signal) => res({ code, signal })));
    await closed;
    if (signal === null && code === 0) break;
    const w = wordAt(last, regsMode);
    bad.push(w);
    console.log(`${last} 0x${w.toString(16).padStart(8, '0')} ${signal ?? 'exit ' + code}`);
    next = last + 1;
  }
  console.error(`swept [${from}, ${to}) regs=${regsMode}: ${bad.length} killing words`);
}

async function child() {
  const { Unicorn, Reg, Prot } = await import(join(here, '../dist/emulator/unicorn/uc.js'));
  const start = Number(process.env.SWEEP_FROM);
  const end = Number(process.env.SWEEP_TO);
  const uc = new Unicorn();
  const CODE = 0x4000_0000;
  const DATA = 0x5000_0000;
  const code = Unicorn.allocShared(0x10_0000);
  const data = Unicorn.allocShared(0x1000);
  uc.mapShared(CODE, code);
  uc.mapShared(DATA, data);
  const words = new Uint32Array(code.bytes.buffer, code.bytes.byteOffset, code.bytes.byteLength >>> 2);
  const SLOTS = code.bytes.byteLength >>> 3;
  // Code pages map 1:1; every other address goes to one scratch page.
  uc.onTlbFill((va) => {
    if (va >= CODE && va < CODE + code.bytes.byteLength) return { pa: va, perms: Prot.ALL };
    return { pa: DATA + (va & 0xc00), perms: Prot.READ | Prot.WRITE };
  });
  uc.onInterrupt(() => uc.emuStop());
  const CPACR = { op0: 3, op1: 0, crn: 1, crm: 0, op2: 2 };
  const B_SELF = 0x14000000;
  let slot = 0;
  for (let i = start; i < end; i++) {
    if (slot === SLOTS) {
      uc.flushTb();
      slot = 0;
    }
    const at = CODE + slot * 8;
    words[slot * 2] = wordAt(i, regsMode);
    words[slot * 2 + 1] = B_SELF;
    slot++;
    writeSync(1, `${i}\n`);
    // EL1h, DAIF masked; FP/SIMD enabled (else the decoder stops at the access check).
    uc.regWrite(Reg.PSTATE, 0x3c5);
    uc.sysregWrite(CPACR, 3n << 20n);
    uc.emuStart(at, 1);
  }
  process.exit(0);
}
