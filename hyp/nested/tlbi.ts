/**
 * The TLB maintenance instructions a guest hypervisor (L1, at virtual EL2) can execute,
 * as a table keyed by encoding: Arm ARM C5.5 "A64 System instructions for TLB
 * maintenance" (op0 = 1, CRn = 8; FEAT_XS nXS forms have CRn = 9) and the TLBI
 * instruction descriptions (C5.5.x TLBI IPAS2E1, RIPAS2E1, VMALLS12E1, ALLE1, ...).
 * Which entries each one must remove: D8.13 [K.a D8.16] "TLB maintenance".
 *
 * Seed 003's choices, followed here: every TLBI is implemented as Inner Shareable (the
 * IS and OS forms and the plain form act the same: one PE); nXS forms are implemented
 * as the XS forms ("nobody cares about them anyway").
 */

/** What a TLBI invalidates, from the point of view of shadow stage 2. */
export type TlbiScope =
  /** VMALLS12E1: stage 1 and stage 2 entries of the current VMID */
  | 'vmalls12e1'
  /** VMALLE1: stage-1 entries of the current VMID (EL1&0 regime) */
  | 'vmalle1'
  /** ALLE1: all EL1&0 entries of every VMID, both stages */
  | 'alle1'
  /** IPAS2E1 / IPAS2LE1: stage-2 entries for one IPA of the current VMID */
  | 'ipas2'
  /** RIPAS2E1 / RIPAS2LE1: stage-2 entries for an IPA range of the current VMID */
  | 'ripas2'
  /** VAE1, VALE1, VAAE1, VAALE1, ASIDE1 and their range forms: stage-1 entries by VA/ASID */
  | 'va-e1'
  /** ALLE2, VAE2, VALE2, RVAE2, RVALE2: L1's own EL2 stage-1 entries */
  | 'el2';

export interface TlbiOp {
  /** mnemonic without shareability/nXS suffix: `IPAS2E1`, `RIPAS2LE1`, `VMALLE1`, ... */
  base: string;
  /** full mnemonic as written: `IPAS2E1IS`, `VMALLS12E1OSNXS`, ... */
  name: string;
  scope: TlbiScope;
  shareability: 'NSH' | 'IS' | 'OS';
  nxs: boolean;
  /** the L forms: last level only */
  lastLevel: boolean;
  range: boolean;
}

/** [op1, CRm, op2, base mnemonic, shareability] for CRn = 8 (C5.5, the TLBI encodings). */
const ROWS: ReadonlyArray<readonly [number, number, number, string, 'NSH' | 'IS' | 'OS']> = [
  // EL1&0 stage 1 (op1 = 0)
  [0, 1, 0, 'VMALLE1', 'OS'], [0, 3, 0, 'VMALLE1', 'IS'], [0, 7, 0, 'VMALLE1', 'NSH'],
  [0, 1, 1, 'VAE1', 'OS'], [0, 3, 1, 'VAE1', 'IS'], [0, 7, 1, 'VAE1', 'NSH'],
  [0, 1, 2, 'ASIDE1', 'OS'], [0, 3, 2, 'ASIDE1', 'IS'], [0, 7, 2, 'ASIDE1', 'NSH'],
  [0, 1, 3, 'VAAE1', 'OS'], [0, 3, 3, 'VAAE1', 'IS'], [0, 7, 3, 'VAAE1', 'NSH'],
  [0, 1, 5, 'VALE1', 'OS'], [0, 3, 5, 'VALE1', 'IS'], [0, 7, 5, 'VALE1', 'NSH'],
  [0, 1, 7, 'VAALE1', 'OS'], [0, 3, 7, 'VAALE1', 'IS'], [0, 7, 7, 'VAALE1', 'NSH'],
  [0, 5, 1, 'RVAE1', 'OS'], [0, 2, 1, 'RVAE1', 'IS'], [0, 6, 1, 'RVAE1', 'NSH'],
  [0, 5, 3, 'RVAAE1', 'OS'], [0, 2, 3, 'RVAAE1', 'IS'], [0, 6, 3, 'RVAAE1', 'NSH'],
  [0, 5, 5, 'RVALE1', 'OS'], [0, 2, 5, 'RVALE1', 'IS'], [0, 6, 5, 'RVALE1', 'NSH'],
  [0, 5, 7, 'RVAALE1', 'OS'], [0, 2, 7, 'RVAALE1', 'IS'], [0, 6, 7, 'RVAALE1', 'NSH'],
  // stage 2 by IPA (op1 = 4)
  [4, 0, 1, 'IPAS2E1', 'IS'], [4, 4, 1, 'IPAS2E1', 'NSH'], [4, 4, 0, 'IPAS2E1', 'OS'],
  [4, 0, 5, 'IPAS2LE1', 'IS'], [4, 4, 5, 'IPAS2LE1', 'NSH'], [4, 4, 4, 'IPAS2LE1', 'OS'],
  [4, 0, 2, 'RIPAS2E1', 'IS'], [4, 4, 2, 'RIPAS2E1', 'NSH'], [4, 4, 3, 'RIPAS2E1', 'OS'],
  [4, 0, 6, 'RIPAS2LE1', 'IS'], [4, 4, 6, 'RIPAS2LE1', 'NSH'], [4, 4, 7, 'RIPAS2LE1', 'OS'],
  // whole-VMID / all-VMID (op1 = 4)
  [4, 1, 6, 'VMALLS12E1', 'OS'], [4, 3, 6, 'VMALLS12E1', 'IS'], [4, 7, 6, 'VMALLS12E1', 'NSH'],
  [4, 1, 4, 'ALLE1', 'OS'], [4, 3, 4, 'ALLE1', 'IS'], [4, 7, 4, 'ALLE1', 'NSH'],
  // EL2 stage 1 (op1 = 4)
  [4, 1, 0, 'ALLE2', 'OS'], [4, 3, 0, 'ALLE2', 'IS'], [4, 7, 0, 'ALLE2', 'NSH'],
  [4, 1, 1, 'VAE2', 'OS'], [4, 3, 1, 'VAE2', 'IS'], [4, 7, 1, 'VAE2', 'NSH'],
  [4, 1, 5, 'VALE2', 'OS'], [4, 3, 5, 'VALE2', 'IS'], [4, 7, 5, 'VALE2', 'NSH'],
  [4, 5, 1, 'RVAE2', 'OS'], [4, 2, 1, 'RVAE2', 'IS'], [4, 6, 1, 'RVAE2', 'NSH'],
  [4, 5, 5, 'RVALE2', 'OS'], [4, 2, 5, 'RVALE2', 'IS'], [4, 6, 5, 'RVALE2', 'NSH'],
];

function scopeOf(base: string): TlbiScope {
  switch (base) {
    case 'VMALLS12E1':
      return 'vmalls12e1';
    case 'VMALLE1':
      return 'vmalle1';
    case 'ALLE1':
      return 'alle1';
    case 'IPAS2E1':
    case 'IPAS2LE1':
      return 'ipas2';
    case 'RIPAS2E1':
    case 'RIPAS2LE1':
      return 'ripas2';
    default:
      return base.endsWith('E2') ? 'el2' : 'va-e1';
  }
}

/** Packed key of a system-instruction encoding (op0 is always 1 for TLBI). */
export function tlbiKey(op1: number, crn: number, crm: number, op2: number): number {
  return ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);
}

const TABLE = new Map<number, TlbiOp>();
for (const [op1, crm, op2, base, sh] of ROWS) {
  for (const nxs of [false, true]) {
    const name = base + (sh === 'NSH' ? '' : sh) + (nxs ? 'NXS' : '');
    const op: TlbiOp = Object.freeze({
      base,
      name,
      scope: scopeOf(base),
      shareability: sh,
      nxs,
      lastLevel: /^R?(VA|VAA|IPAS2)LE[12]$/.test(base),
      range: base.startsWith('R'),
    });
    TABLE.set(tlbiKey(op1, nxs ? 9 : 8, crm, op2), op);
  }
}

/** The TLBI for a system-instruction encoding (op0 = 1), or undefined when it is not one. */
export function decodeTlbi(op1: number, crn: number, crm: number, op2: number): TlbiOp | undefined {
  return TABLE.get(tlbiKey(op1, crn, crm, op2));
}

/** Every TLBI this table knows (tests, documentation). */
export function allTlbiOps(): Array<TlbiOp & { op1: number; crn: number; crm: number; op2: number }> {
  const out: Array<TlbiOp & { op1: number; crn: number; crm: number; op2: number }> = [];
  for (const [k, op] of TABLE) out.push({ ...op, op1: (k >> 11) & 7, crn: (k >> 7) & 15, crm: (k >> 3) & 15, op2: k & 7 });
  return out;
}
