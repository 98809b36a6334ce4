/**
 * AT (address translation) instructions executed by the guest hypervisor at virtual EL2
 * (Arm ARM C5.5 "A64 System instructions for address translation", AT S1E2R/W, S1E1R/W,
 * S1E0R/W, S12E1R/W, S12E0R/W; PAR_EL1 format in its register description).
 *
 *  - S1E2*: L1's own EL2 regime, which is the CPU's EL1 regime while L1 runs: output = L1 PA.
 *  - S1E1* / S1E0*: L2's EL1&0 stage 1 (the EL1 context L1 keeps), its table walks through
 *    L1's stage 2 when HCR_EL2.VM is set: output = L2 IPA, attributes of stage 1. The final
 *    IPA is not looked up in stage 2 (AT S1E1R is stage 1 only), so a stage-2 fault can only
 *    come from a stage-1 table walk (PAR.S = 1, PAR.PTW = 1).
 *  - S12E1* / S12E0*: both, with L1's stage 2: output = L1 PA.
 * L1's tables are read from guest RAM by their L1 PA: our stage 2 maps RAM 1:1, so an L1 PA
 * in RAM is also where the bytes are.
 */
import type { SysInsnAccess } from '../../emulator/cpu/exits.js';
import type { GuestCpu } from '../../emulator/cpu/guest-cpu.js';
import { Access } from '../../emulator/cpu/translator.js';
import { createRegime, type TranslateOutcome } from '../../emulator/mmu/translate.js';
import { decodeStage1, decodeStage2, stage2Disabled } from '../../emulator/mmu/config.js';
import { faultStatusCode } from '../../emulator/mmu/faults.js';
import { l2El1Index, type VirtualEl2 } from './vregs.js';
import { sysregKey, SR } from '../../emulator/cpu/sysregs.js';

/** What an AT at virtual EL2 reads of the nested state: L2's EL1 registers and the virtual EL2 file (no import of nested.ts, which calls us). */
export interface AtContext {
  readonly l2El1: readonly bigint[];
  readonly vel2: Pick<VirtualEl2, 'get'>;
}

/** PAR_EL1 for an AT result (F = 0: PA[47:12], SH [8:7], ATTR [63:56]; F = 1: FST [6:1], PTW [8], S [9]). */
export function parFor(out: TranslateOutcome, useIpa: boolean): bigint {
  if (!out.ok) {
    return 1n | (BigInt(faultStatusCode(out.type, out.level)) << 1n) | (out.s1ptw ? 1n << 8n : 0n) | (out.stage === 2 ? 1n << 9n : 0n);
  }
  const a = out.attrs;
  const attr = a.type === 'device' ? ['nGnRnE', 'nGnRE', 'nGRE', 'GRE'].indexOf(a.device!) << 2 : a.name === 'Normal-NC' ? 0x44 : a.name === 'Normal-WT' ? 0xbb : 0xff;
  const sh = a.shareability === 'ISH' ? 3n : a.shareability === 'OSH' ? 2n : 0n;
  return (BigInt(useIpa ? out.ipa : out.pa) & 0xffff_ffff_f000n) | (sh << 7n) | (BigInt(attr) << 56n);
}

const reg = (n: AtContext, e: { op0: number; op1: number; crn: number; crm: number; op2: number }): bigint => n.l2El1[l2El1Index(sysregKey(e))]!;

/** The PAR_EL1 value for an AT at virtual EL2, or null when the encoding is not an AT. */
export function atFromVel2(n: AtContext, v: GuestCpu, a: SysInsnAccess): bigint | null {
  if (a.crm !== 8) return null;
  const write = (a.op2 & 1) === 1;
  const va = Number(BigInt.asIntN(64, a.value));
  if (a.op1 === 4 && a.op2 <= 1) {
    // S1E2R/W: the EL2 regime is on the CPU (with our stage 2 behind it: its IPA is L1's PA)
    return parFor(v.inspect(va, write ? Access.WRITE : Access.READ, 1), true);
  }
  const both = a.op1 === 4 && a.op2 >= 4;
  if (!(a.op1 === 0 && a.op2 <= 3) && !both) return null;
  const el: 0 | 1 = (a.op2 & 2) !== 0 ? 0 : 1;
  const hcr = n.vel2.get('HCR_EL2');
  const stage1 = decodeStage1({ sctlr: reg(n, SR.SCTLR_EL1), tcr: reg(n, SR.TCR_EL1), ttbr0: reg(n, SR.TTBR0_EL1), ttbr1: reg(n, SR.TTBR1_EL1), mair: reg(n, SR.MAIR_EL1) });
  const stage2 = (hcr & 1n) === 1n ? decodeStage2({ vtcr: n.vel2.get('VTCR_EL2'), vttbr: n.vel2.get('VTTBR_EL2'), hcr }) : stage2Disabled();
  const regime = createRegime({ stage1, stage2, mem: v.descriptorMemory() });
  const out = regime.translate(va, { kind: write ? 'write' : 'read', el }, both ? undefined : { stage1Only: true });
  return parFor(out, !both);
}
