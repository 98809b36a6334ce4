/**
 * Micro-benchmark: microseconds per translation. Node 20 cannot strip types and tsx is not
 * installed; bundle with the esbuild that vitest ships (bench/out is git-ignored):
 *   npx esbuild bench/mmu-translate.ts --bundle --platform=node --format=esm \
 *     --outfile=bench/out/mmu-translate.mjs && node bench/out/mmu-translate.mjs
 * (`npx vite-node bench/mmu-translate.ts` also works but measures ~2.5x slower: its module
 * wrapper defeats some inlining.)
 * Both stages 4K granule with 4 levels each (TCR.T0SZ=16, VTCR.T0SZ=16 SL0=2), every
 * stage-1 table access translated by stage 2; stage 2 maps RAM with 4K pages.
 */
import { RamDescriptorMemory, write64, read64 } from '../emulator/mmu/memory.js';
import { decodeStage1, decodeStage2 } from '../emulator/mmu/config.js';
import { makeTable, makeS1Page, makeS2Page, levelShift, splitDescriptor, tableAddress } from '../emulator/mmu/descriptors.js';
import { createRegime, PERM_R } from '../emulator/mmu/translate.js';
import { TlbModel } from '../emulator/mmu/tlb.js';
import type { Geometry } from '../emulator/mmu/config.js';

const BASE = 0x4000_0000;
const bytes = new Uint8Array(16 << 20);
const mem = new RamDescriptorMemory({ base: BASE, bytes });
let next = BASE;
const alloc = (): number => {
  const a = next;
  next += 4096;
  return a;
};

function map(g: Geometry, root: number, ia: number, level: number, d: bigint): void {
  let table = root;
  for (let l = g.startLevel; l < level; l++) {
    const bits = l === g.startLevel ? g.startBits : g.stride;
    const slot = table + (Math.floor(ia / 2 ** levelShift(12, l)) % 2 ** bits) * 8;
    let cur = read64(mem, slot);
    if ((cur & 3n) !== 3n) {
      cur = makeTable(alloc(), 12);
      write64(mem, slot, cur);
    }
    const { lo, hi } = splitDescriptor(cur);
    table = tableAddress(lo, hi, 12);
  }
  write64(mem, table + (Math.floor(ia / 4096) % 512) * 8, d);
}

const s2root = alloc();
const s2 = decodeStage2({ vtcr: 16n | (2n << 6n) | (5n << 16n), vttbr: BigInt(s2root) | (1n << 48n), hcr: 1n });
const s1root = alloc();
const s1 = decodeStage1({ sctlr: 1n, tcr: 16n | (16n << 16n) | (2n << 30n) | (5n << 32n), ttbr0: BigInt(s1root), ttbr1: 0n, mair: 0xffn });
// stage 2: identity map the 16 MiB of RAM with 4K pages
for (let a = BASE; a < BASE + bytes.length; a += 4096) map(s2.geometry, s2root, a, 3, makeS2Page(a, 12));
// stage 1: 4096 pages at VA 0x10_0000_0000 spread over several level-1/level-2 tables
const N = 4096;
const vas: number[] = [];
for (let i = 0; i < N; i++) {
  const va = 0x10_0000_0000 + (i % 64) * 0x4000_0000 + Math.floor(i / 64) * 0x1000;
  vas.push(va);
  map(s1.ranges[0].geometry, s1root, va, 3, makeS1Page(BASE + 0x80_0000 + (i % 2048) * 4096, 12));
}
const regime = createRegime({ stage1: s1, stage2: s2, mem });
const access = { kind: 'read', el: 1 } as const;

function bench(name: string, iters: number, fn: (i: number) => void): void {
  for (let i = 0; i < iters / 10; i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(`${name.padEnd(48)} ${(ns / iters / 1000).toFixed(3)} us/op (${iters} ops)`);
}

let sink = 0;
bench('walk: 2 stages x 4 levels (S1PTW), no TLB', 400_000, (i) => {
  const o = regime.translate(vas[i % N]!, access);
  if (!o.ok) throw new Error('fault');
  sink += o.pa;
});
bench('walk with record: true', 50_000, (i) => {
  const o = regime.translate(vas[i % N]!, access, { record: true });
  sink += o.ok ? o.pa : 0;
});
const tlb = new TlbModel();
for (const va of vas) tlb.translate(regime, va, access);
bench('TlbModel.translate hit (1 KiB sub-page fills)', 2_000_000, (i) => {
  const o = tlb.translate(regime, vas[i % N]! + ((i & 3) << 10), access);
  sink += o.ok ? o.perms & PERM_R : 0;
});
const tlb2 = new TlbModel();
bench('TlbModel.translate miss+insert (invalidate each 4096)', 400_000, (i) => {
  if (i % N === 0) tlb2.invalidateAll();
  const o = tlb2.translate(regime, vas[i % N]!, access);
  sink += o.ok ? o.pa : 0;
});
bench('fault: stage-1 translation fault (unmapped)', 400_000, (i) => {
  const o = regime.translate(0x20_0000_0000 + (i % 64) * 0x1000, access);
  sink += o.ok ? 1 : 0;
});
console.log(`(sink ${sink % 7})`);
