/**
 * AT S1E1R/W, S1E0R/W, S1E1RP/WP executed by the guest at EL1 (Arm ARM C5.5 "A64 System
 * instructions for address translation", and the PAR_EL1 register description, D19.2).
 *
 * These are stage-1 operations: PAR_EL1.PA is the output of stage 1, the IPA, whatever stage 2
 * maps there (or does not map yet: this hypervisor maps RAM at its first touch), and ATTR/SH are
 * the stage-1 attributes. Stage 2 still takes part in the stage-1 table walk (S1PTW): on
 * hardware, a stage-2 fault on the walk is not reported in PAR_EL1 but taken to EL2 as a data
 * abort (S1PTW = 1), which KVM resolves (maps the table's page) before the AT executes again, or,
 * for a walk outside guest memory, answers with an external abort injected into the guest
 * (kvm_handle_guest_abort -> kvm_inject_dabt). Both are done here the same way.
 *
 * AT S12E1* / S12E0* (both stages) exist only at EL2: from EL1 they are UNDEFINED (the catalogue
 * has no EL1 row for them); at a guest hypervisor's virtual EL2 hyp/nested/at.ts answers them.
 */
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import { Access } from '../emulator/cpu/translator.js';
import { PSTATE } from '../emulator/cpu/pstate.js';
import type { TranslateOutcome } from '../emulator/mmu/translate.js';
import type { CacheAttr, MemoryAttributes } from '../emulator/mmu/attributes.js';
import { faultStatusCode } from '../emulator/mmu/faults.js';

export type AtOp = 'S1E1R' | 'S1E1W' | 'S1E0R' | 'S1E0W' | 'S1E1RP' | 'S1E1WP';

export interface AtHost {
  /** Map guest RAM at `ipa` at stage 2, as a stage-2 fault there would; false when `ipa` is not RAM. */
  faultInRam(ipa: number): boolean;
  /** FEAT_PAN2 shown to the guest (ID_AA64MMFR1_EL1.PAN >= 2): AT S1E1RP/WP exist. */
  readonly pan2: boolean;
}

export type AtResult =
  | { readonly kind: 'par'; readonly par: bigint }
  /** The encoding does not exist on the CPU the guest sees. */
  | { readonly kind: 'undefined' }
  /** A stage-1 walk through an IPA that is not guest memory: synchronous external abort (FAR = the VA). */
  | { readonly kind: 'external-abort' };

/** The AT operation of a catalogue row name (`AT_S1E1R`...), or null. */
export function atOpOf(rowName: string): AtOp | null {
  const op = rowName.startsWith('AT_') ? rowName.slice(3) : rowName;
  return op === 'S1E1R' || op === 'S1E1W' || op === 'S1E0R' || op === 'S1E0W' || op === 'S1E1RP' || op === 'S1E1WP' ? op : null;
}

/** Walks of one AT: each retry follows one more stage-2 mapping (at most one per stage-1 level). */
const MAX_WALKS = 6;

export function emulateAt(vcpu: GuestCpu, host: AtHost, op: AtOp, va: number): AtResult {
  const pan = op === 'S1E1RP' || op === 'S1E1WP';
  if (pan && !host.pan2) return { kind: 'undefined' };
  const write = op.endsWith('W') || op.endsWith('WP');
  const el = op.startsWith('S1E0') ? 0 : 1;
  let out: TranslateOutcome = vcpu.inspect(va, write ? Access.WRITE : Access.READ, el, { stage1Only: true });
  for (let i = 0; i < MAX_WALKS && !out.ok && out.stage === 2; i++) {
    // A stage-2 fault on the stage-1 walk (the only stage-2 fault a stage-1-only walk can meet).
    if (!host.faultInRam(out.ipa)) return { kind: 'external-abort' };
    out = vcpu.inspect(va, write ? Access.WRITE : Access.READ, el, { stage1Only: true });
  }
  if (!out.ok && out.stage === 2) return { kind: 'external-abort' };
  // S1E1RP/WP: PSTATE.PAN applies, as to an EL1 load or store (D8.4.x "Privileged access never").
  if (out.ok && pan && (vcpu.pstate & PSTATE.PAN) !== 0 && (out.permsEl0 & 3) !== 0) {
    return { kind: 'par', par: PAR_RES1 | 1n | (BigInt(faultStatusCode('permission', out.s1Level)) << 1n) };
  }
  return { kind: 'par', par: parOf(out) };
}

/** PAR_EL1 bit 11 is RES1 in both formats. */
const PAR_RES1 = 1n << 11n;

/**
 * PAR_EL1 for a stage-1 result. F = 0: PA[47:12] = the IPA, NS [9] = 1 (a Non-secure regime, as
 * QEMU reports it), SH [8:7], ATTR [63:56] in MAIR encoding. F = 1: FST [6:1], PTW [8], S [9].
 */
export function parOf(out: TranslateOutcome): bigint {
  if (!out.ok) {
    return PAR_RES1 | 1n | (BigInt(faultStatusCode(out.type, out.level)) << 1n) | (out.s1ptw ? 1n << 8n : 0n) | (out.stage === 2 ? 1n << 9n : 0n);
  }
  const a = out.attrs.s1;
  // SH: Device and Normal Non-cacheable memory report Outer Shareable (0b10), PAR_EL1.SH.
  const nc = a.type === 'device' || (a.inner?.cache === 'NC' && a.outer?.cache === 'NC');
  const sh = nc ? 2n : a.shareability === 'ISH' ? 3n : a.shareability === 'OSH' ? 2n : 0n;
  return (BigInt(out.ipa) & 0xffff_ffff_f000n) | PAR_RES1 | (1n << 9n) | (sh << 7n) | (BigInt(mairByte(a)) << 56n);
}

/** The MAIR_EL1 attribute byte of stage-1 attributes (D19.2 MAIR_EL1 Attr<n>). */
export function mairByte(a: MemoryAttributes): number {
  if (a.type === 'device') return ['nGnRnE', 'nGnRE', 'nGRE', 'GRE'].indexOf(a.device ?? 'nGnRnE') << 2;
  if (a.tagged) return 0xf0;
  return (nibble(a.outer!) << 4) | nibble(a.inner!);
}

function nibble(c: CacheAttr): number {
  if (c.cache === 'NC') return 0b0100;
  const hints = (c.readAllocate ? 2 : 0) | (c.writeAllocate ? 1 : 0);
  if (c.transient) return (c.cache === 'WT' ? 0b0000 : 0b0100) | hints;
  return (c.cache === 'WT' ? 0b1000 : 0b1100) | hints;
}
