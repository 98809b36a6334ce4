/**
 * A TLB maintenance instruction as a typed operation (Arm ARM C5.5 "A64 System
 * instructions for TLB maintenance"; what each must remove: D8.13 "TLB
 * maintenance"), so the TLB model dispatches on a field, never on a mnemonic.
 * The catalogue's TLBI rows carry one each (emulator/cpu/sysreg-rows.ts).
 */
export type TlbiScope =
  /** ALLE1: every EL1&0 entry of every VMID */
  | 'all'
  /** VMALLE1 / VMALLS12E1: every entry of the current VMID */
  | 'vmid'
  /** ASIDE1: the current VMID's entries for one ASID (Xt[63:48]) */
  | 'asid'
  /** VAE1, VALE1, VAAE1, VAALE1: one VA (Xt[43:0] = VA[55:12]) */
  | 'va'
  /** RVAE1, RVALE1, RVAAE1, RVAALE1: a VA range (FEAT_TLBIRANGE Xt format) */
  | 'va-range'
  /** IPAS2E1, IPAS2LE1: stage-2 entries for one IPA */
  | 'ipa'
  /** RIPAS2E1, RIPAS2LE1: stage-2 entries for an IPA range */
  | 'ipa-range';

export interface TlbiOperation {
  readonly scope: TlbiScope;
  /** The VAA forms: every ASID (global and non-global entries alike). */
  readonly allAsids: boolean;
  /** The L forms: only last-level (leaf) entries need to go. */
  readonly lastLevel: boolean;
  /** Broadcast to the Inner or Outer Shareable domain (one PE here: same effect). */
  readonly shareability: 'NSH' | 'IS' | 'OS';
  /** FEAT_XS nXS form (acts as the XS form). */
  readonly nxs: boolean;
}

/** The operation of a TLBI base mnemonic (no shareability or nXS suffix). */
export function tlbiOperation(base: string, shareability: 'NSH' | 'IS' | 'OS' = 'NSH', nxs = false): TlbiOperation {
  const op = BASE[base];
  if (op === undefined) throw new RangeError(`TLBI ${base}: not an EL1&0 / stage-2 TLB maintenance operation this model knows`);
  return Object.freeze({ ...op, shareability, nxs });
}

const BASE: Readonly<Record<string, Pick<TlbiOperation, 'scope' | 'allAsids' | 'lastLevel'>>> = {
  ALLE1: { scope: 'all', allAsids: true, lastLevel: false },
  VMALLE1: { scope: 'vmid', allAsids: true, lastLevel: false },
  VMALLS12E1: { scope: 'vmid', allAsids: true, lastLevel: false },
  ASIDE1: { scope: 'asid', allAsids: false, lastLevel: false },
  VAE1: { scope: 'va', allAsids: false, lastLevel: false },
  VALE1: { scope: 'va', allAsids: false, lastLevel: true },
  VAAE1: { scope: 'va', allAsids: true, lastLevel: false },
  VAALE1: { scope: 'va', allAsids: true, lastLevel: true },
  RVAE1: { scope: 'va-range', allAsids: false, lastLevel: false },
  RVALE1: { scope: 'va-range', allAsids: false, lastLevel: true },
  RVAAE1: { scope: 'va-range', allAsids: true, lastLevel: false },
  RVAALE1: { scope: 'va-range', allAsids: true, lastLevel: true },
  IPAS2E1: { scope: 'ipa', allAsids: true, lastLevel: false },
  IPAS2LE1: { scope: 'ipa', allAsids: true, lastLevel: true },
  RIPAS2E1: { scope: 'ipa-range', allAsids: true, lastLevel: false },
  RIPAS2LE1: { scope: 'ipa-range', allAsids: true, lastLevel: true },
};

/** Split a full mnemonic ('VAE1IS', 'VMALLE1OSNXS') into its operation: for tests and tools, not the hot path. */
export function parseTlbi(mnemonic: string): TlbiOperation {
  let m = mnemonic.toUpperCase();
  const nxs = m.endsWith('NXS');
  if (nxs) m = m.slice(0, -3);
  let sh: 'NSH' | 'IS' | 'OS' = 'NSH';
  if (m.endsWith('IS')) sh = 'IS';
  else if (m.endsWith('OS')) sh = 'OS';
  // VMALLS12E1 ends in neither; 'IS'/'OS' suffixes never end a base mnemonic.
  if (sh !== 'NSH') m = m.slice(0, -2);
  return tlbiOperation(m, sh, nxs);
}

// ---- Xt decoding (the operand of a TLBI) --------------------------------------------------

export interface TtlHint {
  /** granule in bits (12/14/16), from TTL[3:2] */
  granuleBits: number;
  /** level hint from TTL[1:0] (0 means "no information" for 4K... see Arm ARM) */
  level: number;
}

/**
 * TLBI by VA Xt (Arm ARM TLBI VAE1 "Register format"): ASID [63:48], TTL [47:44]
 * (FEAT_TTL: TTL[3:2] granule 01 4K / 10 16K / 11 64K, 00 = no information; TTL[1:0] level),
 * VA[55:12] in [43:0]. The VA is returned sign-extended from VA[55].
 */
export function decodeTlbiVa(xt: bigint): { asid: number; va: bigint; ttl: TtlHint | null } {
  const x = BigInt.asUintN(64, xt);
  const asid = Number(x >> 48n);
  const ttl = Number((x >> 44n) & 0xfn);
  const va55_12 = x & ((1n << 44n) - 1n);
  const va = BigInt.asUintN(64, BigInt.asIntN(56, va55_12 << 12n));
  return { asid, va, ttl: decodeTtl(ttl) };
}

function decodeTtl(ttl: number): TtlHint | null {
  const g = ttl >> 2;
  if (g === 0) return null;
  return { granuleBits: g === 1 ? 12 : g === 2 ? 14 : 16, level: ttl & 3 };
}

/**
 * Range TLBI Xt (Arm ARM TLBI RVAE1 "Register format"): ASID [63:48], TG [47:46]
 * (01 4K, 10 16K, 11 64K, 00 reserved), SCALE [45:44], NUM [43:39], TTL [38:37]
 * (00 any level, else the level), BaseADDR [36:0] = VA[48:12] / VA[50:14] / VA[52:16]
 * by granule. Range = (NUM + 1) * 2^(5*SCALE + 1) translation granules. The base is
 * returned sign-extended from its top bit (so TTBR1 ranges come back as 0xffff...).
 */
export function decodeTlbiRange(xt: bigint): {
  asid: number;
  tgBits: number;
  scale: number;
  num: number;
  ttlLevel: number | null;
  base: bigint;
  /** bytes; 0 when TG is reserved */
  length: number;
} {
  const x = BigInt.asUintN(64, xt);
  const asid = Number(x >> 48n);
  const tg = Number((x >> 46n) & 3n);
  const scale = Number((x >> 44n) & 3n);
  const num = Number((x >> 39n) & 0x1fn);
  const ttl = Number((x >> 37n) & 3n);
  const baseField = x & ((1n << 37n) - 1n);
  const tgBits = tg === 1 ? 12 : tg === 2 ? 14 : tg === 3 ? 16 : 0;
  if (tgBits === 0) return { asid, tgBits: 0, scale, num, ttlLevel: null, base: 0n, length: 0 };
  const topBit = 37 + tgBits; // BaseADDR covers VA[36 + tgBits : tgBits]
  const base = BigInt.asUintN(64, BigInt.asIntN(topBit, baseField << BigInt(tgBits)));
  const length = (num + 1) * 2 ** (5 * scale + 1) * 2 ** tgBits;
  return { asid, tgBits, scale, num, ttlLevel: ttl === 0 ? null : ttl, base, length };
}

/** TLBI IPAS2E1 Xt: NS [63], TTL [47:44], IPA[51:12] in [39:0] (IPA[51:48] only with FEAT_LPA). */
export function decodeTlbiIpa(xt: bigint): { ipa: number; ttl: TtlHint | null; ns: boolean } {
  const x = BigInt.asUintN(64, xt);
  return {
    ipa: Number(x & ((1n << 40n) - 1n)) * 4096,
    ttl: decodeTtl(Number((x >> 44n) & 0xfn)),
    ns: (x >> 63n) === 1n,
  };
}
