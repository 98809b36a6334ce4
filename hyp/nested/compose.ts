/**
 * Composition of two stage-2 leaves into one shadow stage-2 leaf: the guest hypervisor's
 * (L1's, IPA -> L1 PA) and ours (L1 PA = our IPA -> host PA). The MMU then walks L2's
 * stage 1 and the shadow as an ordinary two-stage regime (Arm ARM D8 "The AArch64
 * Virtual Memory System Architecture"), so what L2 gets must be no more than either
 * stage 2 allows and no weaker in memory type than either asks for.
 *
 * Permissions (Arm ARM D8.4.3 [K.a D8.4.2] stage-2 S2AP and XN[1:0] with FEAT_XNX): the
 * intersection, i.e. the more restrictive of the two for read, write, EL1 execute and
 * EL0 execute separately.
 *
 * Memory type (Arm ARM D8.6.5 "Combining stage 1 and stage 2 memory type attributes",
 * D8.6.6 FWB): the architecture defines two stages, not three, so we apply its
 * combination rule to the two stage 2s: when ours does not restrict (Normal Write-Back,
 * or FWB 0b110 / 0b111: our RAM mappings), L1's MemAttr is used unchanged, in L1's own
 * FWB mode, so L2's stage 1 combines with exactly what L1 asked for. Otherwise Device
 * beats Normal, the stricter Device type wins (nGnRnE < nGnRE < nGRE < GRE), and for
 * Normal the weaker cacheability of each of inner and outer (NC < WT < WB) wins; the
 * result is encoded in L1's FWB mode (FWB has no Write-Through: WT becomes NC, the
 * stricter choice).
 */
import { stage2Perms, PERM_R, PERM_W, PERM_X } from '../../emulator/mmu/translate.js';
import { fwbMode } from '../../emulator/mmu/attributes.js';

/** Stage-2 permissions packed as el1 | el0 << 3 (Unicorn PERM_* bits), see stage2Perms. */
export function intersectS2Perms(l1Lo: number, l1Hi: number, hostLo: number, hostHi: number, xnx: boolean): number {
  return stage2Perms(l1Lo, l1Hi, xnx) & stage2Perms(hostLo, hostHi, xnx);
}

/** S2AP[1:0] (bit 0 read, bit 1 write) and XN[1:0] (FEAT_XNX) for packed stage-2 permissions. */
export function encodeS2Perms(packed: number): { s2ap: number; xn: number } {
  const el1 = packed & 7;
  const el0 = (packed >>> 3) & 7;
  const s2ap = ((el1 & PERM_R) !== 0 ? 1 : 0) | ((el1 & PERM_W) !== 0 ? 2 : 0);
  const x1 = (el1 & PERM_X) !== 0;
  const x0 = (el0 & PERM_X) !== 0;
  // XN[1:0]: 00 both, 01 not EL1, 10 neither, 11 not EL0
  const xn = x1 && x0 ? 0 : !x1 && x0 ? 1 : !x1 && !x0 ? 2 : 3;
  return { s2ap, xn };
}

/** A stage-2 memory type in a form both encodings reduce to. */
interface S2Class {
  /** Device type 0..3 (nGnRnE..GRE), or -1 for Normal */
  dev: number;
  /** cacheability ranks, 0 NC, 1 WT, 2 WB */
  inner: number;
  outer: number;
  /** no restriction at all: Normal WB, FWB force-WB or FWB use-stage-1 */
  unrestricted: boolean;
}

function classify(memAttr: number, fwb: boolean): S2Class {
  const m = memAttr & 0xf;
  if (fwb) {
    switch (fwbMode(m)) {
      case 'device':
        return { dev: m & 3, inner: 0, outer: 0, unrestricted: false };
      case 'force-nc':
        return { dev: -1, inner: 0, outer: 0, unrestricted: false };
      case 'force-wb':
      case 'stage1':
        return { dev: -1, inner: 2, outer: 2, unrestricted: true };
      default:
        return { dev: 0, inner: 0, outer: 0, unrestricted: false }; // reserved 0b100: Device-nGnRnE, as the MMU model does
    }
  }
  const o = m >> 2;
  const i = m & 3;
  if (o === 0) return { dev: i, inner: 0, outer: 0, unrestricted: false };
  // 01 NC, 10 WT, 11 WB; inner 00 is reserved and read as NC (attributes.ts decodeS2MemAttr)
  const inner = i === 0 ? 0 : i - 1;
  const outer = o - 1;
  return { dev: -1, inner, outer, unrestricted: inner === 2 && outer === 2 };
}

/**
 * The shadow leaf's MemAttr[3:0], in L1's FWB mode (the shadow regime uses L1's HCR_EL2.FWB).
 */
export function composeS2MemAttr(l1MemAttr: number, l1Fwb: boolean, hostMemAttr: number, hostFwb: boolean): number {
  const host = classify(hostMemAttr, hostFwb);
  if (host.unrestricted) return l1MemAttr & 0xf;
  const l1 = classify(l1MemAttr, l1Fwb);
  if (l1.dev >= 0 || host.dev >= 0) {
    const dev = l1.dev < 0 ? host.dev : host.dev < 0 ? l1.dev : Math.min(l1.dev, host.dev);
    return dev; // 0b00dd without FWB; MemAttr[2] = 0, [1:0] = dd with FWB
  }
  const inner = Math.min(l1.inner, host.inner);
  const outer = Math.min(l1.outer, host.outer);
  if (l1Fwb) return inner === 2 && outer === 2 ? 0b110 : 0b101;
  return ((outer + 1) << 2) | (inner + 1);
}
