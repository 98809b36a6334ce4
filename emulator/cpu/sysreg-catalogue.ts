/**
 * The system-register catalogue: the one place that says what an AArch64
 * system register (or system instruction: TLBI, DC, IC, AT) is. Per encoding
 * (Arm ARM DDI0487 C5 "The A64 System Instruction Class": op0 op1 CRn CRm op2):
 * its name, who may access it at which EL, where its value lives, its reset
 * value, and flags from which every other list is derived (the EL1 context the
 * world switch moves, the registers that shape translation, the registers the
 * debugger shows).
 *
 * Three parties fill it, as KVM's sys_reg_desc and QEMU's cpregs combine
 * static facts, device state and hypervisor policy:
 *  - the architectural rows (emulator/cpu/sysreg-rows.ts) are created with it;
 *  - devices register their own rows with an accessor (the GIC CPU interface in
 *    emulator/devices/icc.ts, the generic timer; a PMU the same way);
 *  - the EL2 model attaches its trap conditions and handlers to each entry's
 *    `el2` slot (hyp/sysreg-table.ts). The machine never looks inside it.
 *
 * The vCPU's system-instruction hook does one Map lookup here and hands the
 * entry on; nothing downstream looks the encoding up again.
 */

import type { SysregEncoding } from '../unicorn/uc.js';
import type { TlbiOperation } from '../mmu/tlbi-op.js';
export type { SysregEncoding };

/** Pack an encoding into one integer key: op0:op1:crn:crm:op2 (2+3+4+4+3 bits), as KVM's sys_reg() macro. */
export function sysregKey(e: SysregEncoding): number {
  return (e.op0 << 14) | (e.op1 << 11) | (e.crn << 7) | (e.crm << 3) | e.op2;
}

/** Where a register's value lives (and so who answers an access that does not trap). */
export type Storage =
  /** EL1 context: on the CPU while the guest runs, moved by the world switch (seed 004's deferred registers) */
  | 'el1'
  /** EL0 context, switched too (TPIDR_EL0, TPIDRRO_EL0) */
  | 'el0'
  /** a device model answers (generic timer, GIC CPU interface): registered with an accessor */
  | 'device'
  /** answered from the EL2 model's sanitised feature set (hyp/idregs.ts) */
  | 'id'
  /** lives only in the EL2 model's vCPU structure (PMU, RAS records, LOR, ...) */
  | 'emulated'
  /** the EL2 model's own registers (HCR_EL2, VTTBR_EL2, ...): UNDEFINED below EL2 */
  | 'el2'
  /** debug registers, kept by the CPU */
  | 'debug'
  /** floating-point control/status (part of the FP/SIMD context) */
  | 'fp'
  /** PSTATE fields accessed as registers (NZCV, DAIF, SPSel, CurrentEL, PAN, UAO, DIT, SSBS) */
  | 'pstate'
  /** operations: TLBI, DC, IC, AT, RNDR (no stored state) */
  | 'none';

/**
 * Functional groups, named as the Arm ARM names the sets its trap controls
 * cover (HCR_EL2 "ID group 3", "the VM registers", MDCR_EL2 "debug
 * registers"...). The EL2 model maps a group to its trap bit.
 */
export type Group =
  | 'VM' // the virtual-memory control registers (HCR_EL2.TVM/TRVM)
  | 'ID0' // MIDR/MPIDR (read VPIDR_EL2/VMPIDR_EL2 at EL1), DCZID_EL0
  | 'ID1'
  | 'ID2'
  | 'ID3'
  | 'ACTLR'
  | 'SW' // DC by set/way
  | 'POC' // DC by VA to the PoC / PoP
  | 'POU' // IC and DC to the PoU
  | 'TLB'
  | 'ZVA'
  | 'IMPDEF' // op0=3 CRn=11/15 (no rows: recognised by encoding)
  | 'LOR'
  | 'RAS'
  | 'PAUTH'
  | 'AT'
  | 'DEBUG'
  | 'DCC' // the Debug Communications Channel: no debugger attached, RAZ/WI
  | 'OSLOCK'
  | 'DEBUGROM'
  | 'PMU'
  | 'TIMER'
  | 'GIC'
  | 'CTX' // plain EL1/EL0 context
  | 'FP'
  | 'PSTATE'
  | 'RNDR'
  | 'EL2';

/**
 * Which EL1 control lets EL0 use the register. 'none': UNDEFINED at EL0.
 * 'always': no EL1 control. UCT/DZE/UCI: SCTLR_EL1 bits (D19.2 "SCTLR_EL1").
 * CNTKCTL/PMUSERENR: controlled by those EL1 registers. TDCC: the DCC registers, accessible at
 * EL0 unless MDSCR_EL1.TDCC traps them to EL1 (EC 0x18).
 */
export type El0Access = 'none' | 'always' | 'UCT' | 'DZE' | 'UCI' | 'CNTKCTL' | 'PMUSERENR' | 'TDCC';

/** Flags from which the derived lists come. */
export const SR_FLAG = {
  /** A new value invalidates translations the CPU cached (SCTLR/TCR/TTBRx): its TLB must be flushed. */
  TRANSLATION: 1,
  /** Read by the MMU model's stage-1 decoder (the TRANSLATION set plus MAIR). */
  MMU_INPUT: 2,
  /** Part of the EL1 context the world switch saves and restores (hyp/context.ts). */
  EL1_CONTEXT: 4,
  /** Shown to the debugger (emulator/debug/aarch64-registers.ts). */
  DEBUGGER: 8,
} as const;

/** A catalogue row as defined: static facts only. */
export interface SysregDef extends SysregEncoding {
  readonly name: string;
  /** sysregKey() of the encoding */
  readonly key: number;
  /** 'op' for TLBI/DC/IC/AT and other SYS operations */
  readonly kind: 'reg' | 'op';
  readonly storage: Storage;
  readonly group: Group;
  readonly access: 'rw' | 'ro' | 'wo';
  /** EL0 access rule; EL1 may access every row whose minEl is <= 1. */
  readonly el0: El0Access;
  /** Lowest EL at which the encoding is defined (2: EL2 registers, 3: EL3): below it, UNDEFINED. */
  readonly minEl: number;
  /** Reset value; null = architecturally UNKNOWN (or computed: ID registers) */
  readonly reset: bigint | null;
  /** SR_FLAG bits */
  readonly flags: number;
  /**
   * 'native': the CPU core runs it correctly when no trap applies.
   * 'emulate': hypemu must handle it even with no trap bit set (the core lacks
   * it, or running it natively would bypass a model: the TLB model, AT, RNDR).
   */
  readonly cpu: 'native' | 'emulate';
  /** For a TLBI row: the typed operation it performs. */
  readonly tlbi?: TlbiOperation;
  readonly note?: string;
}

/** A device's accessor for the rows it registered: reads return the value, writes have effect. */
export interface SysregDevice {
  read(entry: SysregEntry): bigint;
  write(entry: SysregEntry, value: bigint): void;
}

/** A live catalogue entry: the definition plus what devices and the EL2 model attached. */
export interface SysregEntry extends SysregDef {
  /** The device that answers it (null: the CPU or the EL2 model). */
  device: SysregDevice | null;
  /** Whatever the EL2 model attached (trap conditions, handler); opaque to the machine. */
  el2: unknown;
}

/** Optional fields of a row definition. */
export interface SysregSpec {
  storage: Storage;
  group: Group;
  access?: 'rw' | 'ro' | 'wo';
  el0?: El0Access;
  minEl?: number;
  reset?: bigint | null;
  flags?: number;
  cpu?: 'native' | 'emulate';
  tlbi?: TlbiOperation;
  note?: string;
}

/** Build one frozen row definition. */
export function defineSysreg(kind: 'reg' | 'op', name: string, op0: number, op1: number, crn: number, crm: number, op2: number, s: SysregSpec): SysregDef {
  return Object.freeze({
    name,
    op0,
    op1,
    crn,
    crm,
    op2,
    key: sysregKey({ op0, op1, crn, crm, op2 }),
    kind,
    storage: s.storage,
    group: s.group,
    access: s.access ?? (kind === 'op' ? 'wo' : 'rw'),
    el0: s.el0 ?? 'none',
    minEl: s.minEl ?? encodingMinEl({ op0, op1 }),
    reset: s.reset === undefined ? null : s.reset,
    flags: s.flags ?? 0,
    cpu: s.cpu ?? 'native',
    ...(s.tlbi ? { tlbi: s.tlbi } : {}),
    ...(s.note ? { note: s.note } : {}),
  });
}

/**
 * The lowest EL at which an encoding can be defined, from its op1 (Arm ARM C5.1.2
 * "op0 == 0b11, moves to and from non-debug System registers...": op1 4 and 5
 * are EL2 registers and the EL12/EL02 aliases, op1 6 EL3; the same split holds
 * for the op0 = 1 instructions, TLBI ALLE2/ALLE3 and AT S1E2R/S1E3R).
 */
export function encodingMinEl(e: { op0: number; op1: number }): number {
  if (e.op0 === 0 || e.op0 === 2) return 1;
  if (e.op1 === 4 || e.op1 === 5) return 2;
  if (e.op1 === 6) return 3;
  return 1;
}

/** The assembler's generic name of an encoding: S<op0>_<op1>_C<n>_C<m>_<op2>. */
export function genericName(e: SysregEncoding): string {
  return `S${e.op0}_${e.op1}_C${e.crn}_C${e.crm}_${e.op2}`;
}

/** "Op0(3) Op1(0) CRn(10) CRm(2) Op2(0)", as KVM prints a register. */
export function formatEncoding(e: SysregEncoding): string {
  return `Op0(${e.op0}) Op1(${e.op1}) CRn(${e.crn}) CRm(${e.crm}) Op2(${e.op2})`;
}

/**
 * An encoding with no row, formatted ready to paste into the rows table (as
 * KVM's print_sys_reg_msg does for sys_regs.c):
 *   reg('S3_0_C10_C2_7', 3, 0, 10, 2, 7, { storage: 'emulated', group: 'CTX' }), // MRS at EL1, Op0(3) ...
 * op0 = 1 encodings are SYS operations and come out as op(...).
 */
export function formatUnknown(e: SysregEncoding, how?: { read: boolean; el: number }): string {
  const kind = e.op0 === 1 ? 'op' : 'reg';
  const group = e.op0 === 3 && (e.crn === 11 || e.crn === 15) ? 'IMPDEF' : 'CTX';
  const storage = kind === 'op' ? 'none' : 'emulated';
  const what = how ? `${how.read ? (e.op0 === 1 ? 'SYSL' : 'MRS') : e.op0 === 1 ? 'SYS' : 'MSR'} at EL${how.el}, ` : '';
  return (
    `${kind}('${genericName(e)}', ${e.op0}, ${e.op1}, ${e.crn}, ${e.crm}, ${e.op2}, ` +
    `{ storage: '${storage}', group: '${group}' }), // ${what}${formatEncoding(e)}`
  );
}

/**
 * One machine's catalogue. The architectural rows are shared frozen
 * definitions; each machine gets its own entries, so that devices and the EL2
 * model can attach to them.
 */
export class SysregCatalogue {
  private readonly byKey = new Map<number, SysregEntry>();
  private readonly byNameMap = new Map<string, SysregEntry>();
  /** Entries in registration order (the order derived lists keep). */
  private readonly list: SysregEntry[] = [];
  private readonly listeners: Array<(e: SysregEntry) => void> = [];
  /** Bumped by every register(): what the system-instruction filter caches is stale then. */
  generation = 0;

  constructor(defs: readonly SysregDef[] = []) {
    this.register(defs);
  }

  /**
   * Add rows (a device passes its accessor). A row whose encoding is already
   * known replaces it only with `replace` (a PMU model taking over the
   * architectural PMU rows); otherwise a clash is a programming error.
   */
  register(defs: readonly SysregDef[], device: SysregDevice | null = null, opts: { replace?: boolean } = {}): void {
    this.generation++;
    for (const d of defs) {
      const old = this.byKey.get(d.key);
      if (old && !opts.replace) throw new Error(`sysreg catalogue: ${d.name} and ${old.name} share ${formatEncoding(d)}`);
      const sameName = this.byNameMap.get(d.name);
      if (sameName && sameName !== old) throw new Error(`sysreg catalogue: duplicate name ${d.name}`);
      const entry: SysregEntry = { ...d, device, el2: old?.el2 ?? null };
      if (old) {
        this.list[this.list.indexOf(old)] = entry;
        this.byNameMap.delete(old.name);
      } else {
        this.list.push(entry);
      }
      this.byKey.set(d.key, entry);
      this.byNameMap.set(d.name, entry);
      for (const l of this.listeners) l(entry);
    }
  }

  /** Called for every entry now and for every one registered later (the EL2 model attaches this way). */
  forEachEntry(fn: (e: SysregEntry) => void): void {
    this.listeners.push(fn);
    for (const e of this.list) fn(e);
  }

  /** Entry for a packed key. O(1), no allocation: the hot path's one lookup. */
  get(key: number): SysregEntry | undefined {
    return this.byKey.get(key);
  }

  find(e: SysregEncoding): SysregEntry | undefined {
    return this.byKey.get(sysregKey(e));
  }

  byName(name: string): SysregEntry | undefined {
    return this.byNameMap.get(name);
  }

  /** Every entry, in registration order. */
  entries(): readonly SysregEntry[] {
    return this.list;
  }

  /** Entries carrying a flag (SR_FLAG), in registration order. */
  withFlag(flag: number): SysregEntry[] {
    return this.list.filter((e) => (e.flags & flag) !== 0);
  }
}
