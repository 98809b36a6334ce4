/**
 * What the EL2 model attaches to the system-register catalogue
 * (emulator/cpu/sysreg-catalogue.ts): per row, the HCR_EL2/MDCR_EL2 bit that
 * traps a read or a write (Arm ARM DDI0487 D19.2.48 "HCR_EL2", D19.2
 * "MDCR_EL2") and whether the EL2 fast path may handle it (seed 000), as KVM's
 * sys_reg_desc and QEMU's cpregs accessfn carry them. The trap bit follows from
 * the row's group (the Arm ARM names the group a trap control covers); the few
 * registers that differ from their group say so in ROW_TRAPS.
 *
 * The attached row (SysregRow) is the catalogue entry's `el2` slot, compiled
 * into masks for the allocation-free hot path (hyp/traps.ts).
 */
import type { Group, SysregCatalogue, SysregDef, SysregEncoding, SysregEntry } from '../emulator/cpu/sysreg-catalogue.js';
import { sysregKey } from '../emulator/cpu/sysreg-catalogue.js';
import { ARCH_SYSREGS } from '../emulator/cpu/sysreg-rows.js';
import { ICC_SYSREGS } from '../emulator/devices/icc.js';
import { TIMER_SYSREGS } from '../emulator/devices/generic-timer.js';
import { HCR, type HcrBitName } from './hcr.js';

export { genericName, formatEncoding, formatUnknown } from '../emulator/cpu/sysreg-catalogue.js';
export type { Storage, Group, El0Access } from '../emulator/cpu/sysreg-catalogue.js';
export { ID_SPACE_NAMES } from '../emulator/cpu/sysreg-rows.js';

/** A trap condition: an HCR_EL2 bit that traps when set, or "!BIT" when it traps while clear (APK). */
export type TrapCond = HcrBitName | `!${HcrBitName}`;

/** MDCR_EL2 trap bits (D19.2 "MDCR_EL2, Monitor Debug Configuration Register (EL2)"). */
export const MDCR = { TPMCR: 5, TPM: 6, TDE: 8, TDA: 9, TDOSA: 10, TDRA: 11 } as const;
export type MdcrBitName = keyof typeof MDCR;

/** SCTLR_EL1 bits that enable EL0 access (D19.2 "SCTLR_EL1"): UCI 26, UCT 15, DZE 14. */
export const SCTLR_EL0_ENABLE = { UCT: 1 << 15, DZE: 1 << 14, UCI: 1 << 26 } as const;

interface TrapSpec {
  read?: TrapCond;
  write?: TrapCond;
  /** A second HCR_EL2 condition on both directions, checked after `read`/`write` (TID4 beside TID2). */
  also?: TrapCond;
  mdcr?: MdcrBitName;
  fastPath?: 'vm-write';
}

/** The trap control of each group (D19.2.48 field descriptions; MDCR_EL2 TDA/TDOSA/TDRA/TPM). */
const GROUP_TRAPS: Partial<Record<Group, TrapSpec>> = {
  VM: { read: 'TRVM', write: 'TVM', fastPath: 'vm-write' },
  ID1: { read: 'TID1' },
  // HCR_EL2.TID4 (FEAT_EVT; D19.2.48 "HCR_EL2"): traps the cache-geometry registers of ID group 2
  // (CCSIDR_EL1, CCSIDR2_EL1, CLIDR_EL1, and CSSELR_EL1 both ways) but not CTR_EL0 (ROW_TRAPS).
  ID2: { read: 'TID2', also: 'TID4' },
  ID3: { read: 'TID3' },
  ACTLR: { read: 'TACR', write: 'TACR' },
  SW: { write: 'TSW' },
  POC: { write: 'TPCP' },
  POU: { write: 'TPU' },
  TLB: { write: 'TTLB' },
  ZVA: { write: 'TDZ' },
  LOR: { read: 'TLOR', write: 'TLOR' },
  RAS: { read: 'TERR', write: 'TERR' },
  PAUTH: { read: '!APK', write: '!APK' },
  DEBUG: { mdcr: 'TDA' },
  DCC: { mdcr: 'TDA' },
  OSLOCK: { mdcr: 'TDOSA' },
  DEBUGROM: { mdcr: 'TDRA' },
  PMU: { mdcr: 'TPM' },
};

/** Registers whose trap differs from their group's. */
const ROW_TRAPS: Readonly<Record<string, TrapSpec>> = {
  // CSSELR_EL1 is in ID group 2 and writable: TID2 traps both directions.
  CSSELR_EL1: { read: 'TID2', write: 'TID2', also: 'TID4' },
  // CTR_EL0 is the one ID group 2 register that TID2 alone traps, not TID4 (D19.2.48 TID4).
  CTR_EL0: { read: 'TID2' },
  // DISR_EL1 is RAS state but not one of the error-record registers TERR traps.
  DISR_EL1: {},
};

/** A catalogue row as the EL2 model sees it: the definition plus trap conditions, compiled. */
export interface SysregRow extends SysregDef {
  /** HCR_EL2 bit trapping MRS (reads) */
  readonly trapRead: TrapCond | null;
  /** HCR_EL2 bit trapping MSR/SYS (writes and operations) */
  readonly trapWrite: TrapCond | null;
  /** Second HCR_EL2 bit trapping both directions, checked after trapRead/trapWrite (TID4) */
  readonly trapAlso: TrapCond | null;
  /** MDCR_EL2 bit trapping both directions */
  readonly mdcrTrap: MdcrBitName | null;
  /** Handled on the EL2 fast path without a world switch (seed 000). */
  readonly fastPath?: 'vm-write';
  // Compiled trap masks for the allocation-free hot path (hyp/traps.ts).
  /** 0: bit in HCR lo, 1: in hi; -1: no trap */
  readonly rdWord: number;
  readonly rdMask: number;
  /** 1 when the trap fires while the bit is clear */
  readonly rdInv: number;
  readonly wrWord: number;
  readonly wrMask: number;
  readonly wrInv: number;
  readonly alsoWord: number;
  readonly alsoMask: number;
  readonly alsoInv: number;
  /** MDCR_EL2 mask (0: none) */
  readonly mdcrMask: number;
  /** SCTLR_EL1 mask enabling EL0 (0: no SCTLR control), -1 when UNDEFINED at EL0 */
  readonly el0Ctl: number;
}

function compileCond(c: TrapCond | null): [number, number, number] {
  if (c === null) return [-1, 0, 0];
  const inv = c.startsWith('!');
  const bit = HCR[(inv ? c.slice(1) : c) as HcrBitName];
  return [bit < 32 ? 0 : 1, (1 << (bit & 31)) >>> 0, inv ? 1 : 0];
}

/** Attach the trap conditions to one definition. */
export function trapRow(d: SysregDef): SysregRow {
  const t = ROW_TRAPS[d.name] ?? GROUP_TRAPS[d.group] ?? {};
  const trapRead = d.kind === 'op' ? null : (t.read ?? null);
  const trapWrite = t.write ?? null;
  const [rdWord, rdMask, rdInv] = compileCond(trapRead);
  const [wrWord, wrMask, wrInv] = compileCond(trapWrite);
  const trapAlso = t.also ?? null;
  const [alsoWord, alsoMask, alsoInv] = compileCond(trapAlso);
  const el0 = d.el0;
  const el0Ctl = el0 === 'none' ? -1 : el0 === 'UCT' || el0 === 'DZE' || el0 === 'UCI' ? SCTLR_EL0_ENABLE[el0] : 0;
  return Object.freeze({
    ...d,
    trapRead,
    trapWrite,
    trapAlso,
    mdcrTrap: t.mdcr ?? null,
    ...(t.fastPath ? { fastPath: t.fastPath } : {}),
    rdWord,
    rdMask,
    rdInv,
    wrWord,
    wrMask,
    wrInv,
    alsoWord,
    alsoMask,
    alsoInv,
    mdcrMask: t.mdcr ? 1 << MDCR[t.mdcr] : 0,
    el0Ctl,
  });
}

/** Attach trap conditions to every entry of a machine's catalogue, now and as devices register more. */
export function attachTraps(catalogue: SysregCatalogue): void {
  catalogue.forEachEntry((e) => {
    e.el2 = STATIC_BY_KEY.get(e.key) ?? trapRow(e);
  });
}

/** The EL2 model's view of a catalogue entry (attachTraps must have run). */
export function rowOf(entry: SysregEntry): SysregRow {
  return entry.el2 as SysregRow;
}

/** The rows of the default virt board (architectural, GIC CPU interface, timer), with their traps: for tests and tooling. */
export const SYSREG_TABLE: readonly SysregRow[] = Object.freeze([...ARCH_SYSREGS, ...ICC_SYSREGS, ...TIMER_SYSREGS].map(trapRow));

const STATIC_BY_KEY = new Map<number, SysregRow>(SYSREG_TABLE.map((r) => [r.key, r]));
const STATIC_BY_NAME = new Map<string, SysregRow>(SYSREG_TABLE.map((r) => [r.name, r]));

/** Row for a packed key (sysregKey), or undefined. */
export function findSysregByKey(key: number): SysregRow | undefined {
  return STATIC_BY_KEY.get(key);
}

/** Row for an encoding, or undefined. */
export function findSysreg(e: SysregEncoding): SysregRow | undefined {
  return STATIC_BY_KEY.get(sysregKey(e));
}

/** Row by name ('MAIR_EL1', 'TLBI_VAE1IS', 'DC_ZVA', 'S3_0_C0_C3_3'), or undefined. */
export function sysregByName(name: string): SysregRow | undefined {
  return STATIC_BY_NAME.get(name);
}
