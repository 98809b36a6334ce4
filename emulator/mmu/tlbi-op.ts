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
