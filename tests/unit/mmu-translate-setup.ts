/**
 * Set-up shared by the translation tests (mmu-translate.test.ts, mmu-translate-s2.test.ts): the
 * MAIR they use, access kinds, outcome checks, and a stage-1 regime over fresh test RAM.
 */
import { TestRam, tcr, type TableWriter } from './mmu-helpers.js';
import { decodeStage1, type Stage1Config } from '../../emulator/mmu/config.js';
import type { GranuleBits } from '../../emulator/mmu/descriptors.js';
import { Regime, createRegime, type TranslateOutcome, type TranslationResult } from '../../emulator/mmu/translate.js';
import type { TranslationFault } from '../../emulator/mmu/faults.js';

export const MAIR = 0xbb_44_04_00_ffn; // Attr0 Normal WB, Attr1 Device-nGnRnE, Attr2 Device-nGnRE, Attr3 Normal NC, Attr4 Normal WT
export const R = { kind: 'read', el: 1 } as const;
export const W = { kind: 'write', el: 1 } as const;
export const X = { kind: 'fetch', el: 1 } as const;
export const R0 = { kind: 'read', el: 0 } as const;
export const W0 = { kind: 'write', el: 0 } as const;
export const X0 = { kind: 'fetch', el: 0 } as const;

export function ok(o: TranslateOutcome): TranslationResult {
  if (!o.ok) throw new Error(`unexpected fault: stage ${o.stage} ${o.type} level ${o.level} ${o.detail}`);
  return { ...o };
}
export function bad(o: TranslateOutcome): TranslationFault {
  if (o.ok) throw new Error(`expected a fault, got PA 0x${o.pa.toString(16)}`);
  return { ...o };
}

export const TG0 = { 12: 0, 14: 2, 16: 1 } as const; // TCR.TG0 encodings
export const TG1 = { 12: 2, 14: 1, 16: 3 } as const; // TCR.TG1 encodings

export interface S1Setup {
  ram: TestRam;
  w0: TableWriter;
  w1: TableWriter;
  s1: Stage1Config;
  regime: Regime;
  gb: GranuleBits;
}

export function s1Setup(o: { gb?: GranuleBits; t0sz?: number; t1sz?: number; ips?: number; sctlr?: bigint; asid?: number; extraTcr?: Parameters<typeof tcr>[0] } = {}): S1Setup {
  const gb = o.gb ?? 12;
  const ram = new TestRam();
  const root0 = ram.alloc(2 ** gb);
  const root1 = ram.alloc(2 ** gb);
  const s1 = decodeStage1({
    sctlr: o.sctlr ?? 1n,
    tcr: tcr({ t0sz: o.t0sz ?? 16, t1sz: o.t1sz ?? 16, tg0: TG0[gb], tg1: TG1[gb], ips: o.ips ?? 5, as: true, ...o.extraTcr }),
    ttbr0: BigInt(root0) | (BigInt(o.asid ?? 0) << 48n),
    ttbr1: BigInt(root1),
    mair: MAIR,
  });
  const regime = createRegime({ stage1: s1, mem: ram.mem });
  return { ram, s1, regime, gb, w0: { ram, g: s1.ranges[0].geometry, root: root0 }, w1: { ram, g: s1.ranges[1].geometry, root: root1 } };
}
