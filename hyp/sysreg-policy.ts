/**
 * System-register traps: which guest accesses leave the guest (routing by
 * HCR_EL2/MDCR_EL2 bits over the descriptor table, hyp/traps.ts), the EL2
 * fast path for the trivial ones, the host-side handlers by register group,
 * and the policies of seeds 000 (MAIR mangling) and 002 (HCR_EL2.DC while the
 * MMU is off). An encoding the table does not know traps, is reported once and
 * is UNDEFINED for the guest, as KVM injects it (seed 004: "a *guest* access to
 * an encoding the model does not implement ... KVM injects UNDEFINED, and so do
 * we"); `unknownSysreg: 'raz'` keeps read-as-zero / writes-ignored for bring-up.
 */
import type { SysInsnAccess, SysregExit, ExitAction } from '../emulator/cpu/exits.js';
import { RESUME } from '../emulator/cpu/exits.js';
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import { sysregKey, SR } from '../emulator/cpu/sysregs.js';
import { SR_FLAG, type SysregDef, type SysregEntry } from '../emulator/cpu/sysreg-catalogue.js';
import { EC, esr, FSC, issDataAbort } from '../emulator/cpu/esr.js';
import { atOpOf, emulateAt } from './at.js';
import type { GuestContext } from './context.js';
import type { El2Regs } from './el2-regs.js';
import type { HypStats } from './stats.js';

/** What the policy needs of the hypervisor that owns it (not the whole Hypervisor: no import cycle). */
export interface SysregPolicyHost {
  readonly config: { readonly mairMangle: boolean; readonly defaultCacheable: boolean; readonly unknownSysreg?: 'undef' | 'raz' };
  readonly el2: El2Regs;
  readonly stats: HypStats;
  readonly stage2: { readonly vmid: number };
  /** Map guest RAM at `ipa` at stage 2 as its first touch would (AT's stage-1 walk, hyp/at.ts); false when not RAM. */
  faultInRam(ipa: number): boolean;
}
import { HCR } from './hcr.js';
import { formatUnknown, rowOf, type SysregRow } from './sysreg-table.js';
import { DEVICE, isPmuSelectedCounterReg, NATIVE, pmuCounterBeyondHpmn, routeAccess, routePmuEl0, TRAP_EL1, TRAP_EMULATE, UNDEF, type Route, type TrapControls } from './traps.js';
import { defaultFeatureSet, type FeatureSet } from './idregs.js';
import { logger } from './log.js';

const KEY_MAIR = sysregKey(SR.MAIR_EL1);
const KEY_SCTLR = sysregKey(SR.SCTLR_EL1);
const KEY_CSSELR = sysregKey(SR.CSSELR_EL1);
const KEY_PMUSERENR = sysregKey({ op0: 3, op1: 3, crn: 9, crm: 14, op2: 0 });
const KEY_PMSELR = sysregKey({ op0: 3, op1: 3, crn: 9, crm: 12, op2: 5 });
const KEY_MDSCR = sysregKey({ op0: 2, op1: 0, crn: 0, crm: 2, op2: 2 });
/** MDSCR_EL1.TDCC, bit 12: EL0 access to the DCC registers traps to EL1. */
const MDSCR_TDCC = 1n << 12n;
/**
 * Writes after which translations handed to Unicorn may be stale (the
 * catalogue's TRANSLATION flag): its TLB is not tagged with ASIDs or
 * attributes, so a new SCTLR/TCR/TTBR value means a flush. MAIR changes no
 * permission or output address (the MMU model re-reads it for attributes).
 */
const flushesTlb = (row: SysregDef): boolean => (row.flags & SR_FLAG.TRANSLATION) !== 0;

/**
 * Seed 000: replace every uncached MAIR attribute (Device-*, Normal
 * Non-cacheable) with Normal Write-Back (0xff), so stage 2 alone decides.
 * Arm ARM D19.2.97 MAIR_EL1: Attr<n>[7:4] = 0000 is Device; 0x44 is Normal NC.
 */
export function mangleMair(v: bigint): bigint {
  // On 32-bit halves: this runs on every trapped MAIR write (the seed's storm).
  const lo = Number(v & 0xffff_ffffn);
  const hi = Number((v >> 32n) & 0xffff_ffffn);
  return (BigInt(mangleWord(hi)) << 32n) | BigInt(mangleWord(lo));
}

function mangleWord(w: number): number {
  let out = 0;
  for (let i = 0; i < 32; i += 8) {
    let a = (w >>> i) & 0xff;
    if ((a & 0xf0) === 0 || (a & 0xf0) === 0x40 || (a & 0x0f) === 0x04) a = 0xff;
    out |= a << i;
  }
  return out >>> 0;
}

interface RegAccess {
  read(e: SysregExit): bigint;
  write(e: SysregExit, v: bigint): void;
  setX(n: number, v: bigint): void;
}

export class SysregPolicy {
  /** The MAIR_EL1 value the guest wrote, while the CPU holds the mangled one (seed 000). */
  private mairShadow: bigint | null = null;
  private readonly warned = new Set<number>();
  /** Registers that live only in the vCPU structure (storage 'emulated', or RAZ/WI groups). */
  private readonly emulated = new Map<number, bigint>();
  private readonly ctl: TrapControls = { lo: 0, hi: 0 };
  features: FeatureSet = defaultFeatureSet();
  /** Seed 003: a guest hypervisor's HCR_EL2 while its guest runs: its trap bits route too. */
  private extraLo = 0;
  private extraHi = 0;

  constructor(private readonly hyp: SysregPolicyHost) {}

  setExtraTraps(hcr: bigint | null): void {
    const v = hcr ?? 0n;
    this.extraLo = Number(v & 0xffff_ffffn) >>> 0;
    this.extraHi = Number(v >> 32n) >>> 0;
  }

  /** The trap controls route() reads (exits.ts SysRoutingInputs): the filter caches per value. */
  routingInputs(out: { lo: number; hi: number; mdcr: number }): void {
    const el2 = this.hyp.el2;
    out.lo = (el2.hcrLo | this.extraLo) >>> 0;
    out.hi = (el2.hcrHi | this.extraHi) >>> 0;
    out.mdcr = el2.mdcrLo;
  }

  /** Where a guest system instruction goes: the trap rules over the entry's attached row, then its device. */
  route(_vcpu: GuestCpu, access: SysInsnAccess, entry: SysregEntry | undefined): Route {
    // An encoding nobody knows at EL0 is UNDEFINED, to EL1, before any trap to EL2 could see it
    // (Arm ARM D1 "Synchronous exception prioritization"), as on hardware under KVM. With
    // unknownSysreg 'raz' the CPU core decides, as before (it may implement the encoding).
    if (entry === undefined && access.el === 0) return this.hyp.config.unknownSysreg === 'raz' ? NATIVE : UNDEF;
    const el2 = this.hyp.el2;
    this.ctl.lo = (el2.hcrLo | this.extraLo) >>> 0;
    this.ctl.hi = (el2.hcrHi | this.extraHi) >>> 0;
    const row = entry === undefined ? undefined : rowOf(entry);
    // EL0 PMU access: PMUSERENR_EL0 decides first (an EL1 control, before MDCR_EL2.TPM).
    if (access.el === 0 && row !== undefined && (row.el0 === 'PMUSERENR' || row.key === KEY_PMUSERENR)) {
      const r = routePmuEl0(row.key, access.read, this.pmuserenr(_vcpu));
      if (r === 'el1') return TRAP_EL1;
      if (r === 'undefined') return UNDEF;
    }
    // EL0 DCC access (MDCCSR_EL0, DBGDTR*_EL0): MDSCR_EL1.TDCC (bit 12) traps it to EL1 with EC
    // 0x18, before MDCR_EL2.TDA (the registers' access pseudocode, Arm ARM D19; QEMU 8's
    // access_tdcc, QEMU 7.2 has no TDCC). The CPU core does not implement TDCC: the model raises it.
    if (access.el === 0 && row !== undefined && row.el0 === 'TDCC' && (this.mdscr(_vcpu) & MDSCR_TDCC) !== 0n) return TRAP_EL1;
    // MDCR_EL2 (TPM, TPMCR, TDA, TDOSA, TDRA) only matters to the debug and PMU rows: read it for
    // those alone, so the hot path (every other register) does no BigInt work.
    this.ctl.mdcr = row !== undefined && row.mdcrMask !== 0 ? el2.mdcrLo : undefined;
    // PMXEVCNTR_EL0/PMXEVTYPER_EL0 name the counter PMSELR_EL0.SEL selects (MDCR_EL2.HPMN rule).
    this.ctl.pmsel = row !== undefined && isPmuSelectedCounterReg(row.key) ? this.pmuReg(_vcpu, KEY_PMSELR) & 0x1f : undefined;
    const r = routeAccess(this.ctl, row, access);
    // No trap bit applies: a device's row is answered by the device, except an EL1 register at
    // EL0 (no EL0 access rule: UNDEFINED, to EL1), which the core would refuse for its own rows
    // but never sees for a device's (EL0 wrote MDSCR_EL1, OSLAR_EL1, DBGBVR0_EL1: guest debug-fuzz).
    if (entry?.device && (r === NATIVE || r === TRAP_EMULATE)) return access.el === 0 && row !== undefined && row.el0Ctl < 0 ? UNDEF : DEVICE;
    return r;
  }

  /** MDSCR_EL1 as the guest set it (the debug registers' device, or the CPU's). */
  private mdscr(vcpu: GuestCpu): bigint {
    const e = vcpu.sysregs.get(KEY_MDSCR);
    if (e === undefined) return 0n;
    return e.device !== null ? e.device.read(e) : vcpu.sysreg(e);
  }

  /** PMUSERENR_EL0 as the guest set it: the PMU model's, or the emulated register's. */
  private pmuserenr(vcpu: GuestCpu): number {
    return this.pmuReg(vcpu, KEY_PMUSERENR);
  }

  /** A PMU register's low byte as the guest set it (PMUSERENR_EL0, PMSELR_EL0): the PMU model's, or the emulated register's. */
  private pmuReg(vcpu: GuestCpu, key: number): number {
    const e = vcpu.sysregs.get(key);
    if (e === undefined) return 0;
    const v = e.device !== null ? e.device.read(e) : (this.emulated.get(key) ?? e.reset ?? 0n);
    return Number(v & 0xffn);
  }

  /** Is this trap one the EL2 fast path handles (no side effects)? */
  fastPathApplies(exit: SysregExit): boolean {
    if (exit.row === null || rowOf(exit.row).fastPath !== 'vm-write') return false;
    // Turning the MMU on under the default-cacheable policy changes HCR_EL2: the host does that.
    return !(!exit.read && exit.row.key === KEY_SCTLR && this.hyp.config.defaultCacheable && (exit.value & 1n) === 1n);
  }

  /** EL2 fast path: trivial VM-register accesses, done on the live CPU without a world switch. */
  fastPath(vcpu: GuestCpu, exit: SysregExit): boolean {
    if (!this.fastPathApplies(exit)) return false;
    const row = rowOf(exit.row!);
    this.hyp.stats.sysreg(row.name).fastPath++;
    this.vmAccess(exit, row, {
      read: (e) => vcpu.sysreg(e),
      write: (e, v) => vcpu.setSysreg(e, v),
      setX: (n, v) => vcpu.setX(n, v),
    });
    vcpu.pc = exit.pc + 4;
    if (!exit.read && flushesTlb(row)) vcpu.flushTlb();
    return true;
  }

  /**
   * Host-side handling after a world switch: the guest's registers are in
   * `ctx`. `after` runs once they are back on the CPU (exception injection).
   */
  hostHandle(vcpu: GuestCpu, exit: SysregExit, ctx: GuestContext): { action: ExitAction; after?: () => void } {
    if (exit.row === null) {
      if (this.unknown(exit, ctx)) {
        ctx.skipInstruction();
        return { action: RESUME };
      }
      // KVM's emulate_sys_reg() for an access with no descriptor: kvm_inject_undefined(),
      // ELR = the instruction (Arm ARM D1 exception entry, EC 0x00 "Unknown reason").
      return { action: RESUME, after: () => vcpu.takeException('sync', esr(EC.UNKNOWN, 0), exit.pc) };
    }
    const row = rowOf(exit.row);
    const key = row.key;
    const c = this.hyp.stats.sysreg(row.name);
    c.worldSwitch++;
    const regs: RegAccess = {
      read: (e) => ctx.readSysreg(row.name, e),
      write: (e, v) => ctx.writeSysreg(row.name, e, v),
      setX: (n, v) => ctx.setX(n, v),
    };
    let undef = false;
    switch (row.group) {
      case 'VM':
        this.vmAccess(exit, row, regs);
        if (!exit.read && key === KEY_SCTLR) this.onSctlrWrite(exit.value);
        if (!exit.read && flushesTlb(row)) vcpu.flushTlb();
        break;
      case 'ID0':
      case 'ID1':
      case 'ID2':
      case 'ID3':
        undef = this.idAccess(exit, row, regs, ctx);
        break;
      case 'TLB':
        this.count(row, exit);
        this.tlbi(vcpu, row, exit.value);
        break;
      case 'AT': {
        this.count(row, exit);
        const r = this.at(vcpu, row, exit, regs);
        if (r === 'undefined') undef = true;
        else if (r === 'external-abort') {
          // The walk left guest memory: KVM injects a synchronous external abort (hyp/at.ts).
          ctx.skipInstruction();
          const iss = issDataAbort({ fsc: FSC.external(), wnr: false });
          return { action: RESUME, after: () => vcpu.takeException('sync', esr(EC.DABT_CUR, iss), exit.pc, Number(BigInt.asIntN(64, exit.value))) };
        }
        break;
      }
      default:
        undef = this.otherAccess(vcpu, exit, row, regs);
    }
    ctx.skipInstruction();
    if (undef) {
      // The register does not exist on the CPU this VM sees: UNDEFINED at EL1.
      return { action: RESUME, after: () => vcpu.takeException('sync', esr(EC.UNKNOWN, 0), exit.pc) };
    }
    return { action: RESUME };
  }

  /** ID groups 0-3 (HCR_EL2.TID0-3) at the host: the VM's feature view. True: UNDEFINED. */
  private idAccess(exit: SysregExit, row: SysregRow, regs: RegAccess, ctx: GuestContext): boolean {
    const key = row.key;
    this.count(row, exit);
    if (!exit.read) {
      // CSSELR_EL1 is in group 2 and writable: it selects which CCSIDR reads back. Level [3:1]
      // and InD [0] are its only fields here (TnD [4] needs FEAT_MTE2; the rest is RES0:
      // the CSSELR_EL1 register description), as KVM keeps only Level and InD.
      if (row.access !== 'ro') regs.write(exit, key === KEY_CSSELR ? exit.value & 0xfn : exit.value);
      return false;
    }
    const csselr = Number(ctx.readSysreg('CSSELR_EL1', SR.CSSELR_EL1) & 0xffn);
    const v = row.access === 'rw' ? regs.read(exit) : this.features.readByKey(key, csselr);
    if (v === null) return true;
    regs.setX(exit.rt, v);
    return false;
  }

  /**
   * Cache maintenance (no caches are modelled), ACTLR, and the registers that live only in
   * the vCPU structure (GIC, PMU, RAS, LOR, debug, ...). True: UNDEFINED.
   */
  private otherAccess(vcpu: GuestCpu, exit: SysregExit, row: SysregRow, regs: RegAccess): boolean {
    const key = row.key;
    this.count(row, exit);
    if (row.kind === 'op') return false;
    // A device's register trapped by a control bit (MDCR_EL2.TPM for the PMU): the host
    // emulates the access with the device model, as KVM's PMU emulation does.
    if (exit.row!.device !== null) {
      // A counter MDCR_EL2.HPMN reserves for EL2: UNDEFINED, as the untrapped access would be
      // (hyp/traps.ts pmuCounterBeyondHpmn; KVM's pmu_counter_idx_valid injects it too).
      if (row.mdcrTrap === 'TPM' && pmuCounterBeyondHpmn(key, this.hyp.el2.mdcrLo, isPmuSelectedCounterReg(key) ? this.pmuReg(vcpu, KEY_PMSELR) & 0x1f : undefined)) {
        return true;
      }
      if (exit.read) regs.setX(exit.rt, exit.row!.device.read(exit.row!));
      else if (row.access !== 'ro') exit.row!.device.write(exit.row!, exit.value);
      return false;
    }
    // The DCC registers read as zero and ignore writes: no external debugger is attached (sysreg-rows.ts).
    if (exit.read) regs.setX(exit.rt, row.group === 'DCC' ? 0n : (this.emulated.get(key) ?? row.reset ?? 0n));
    else if (row.access !== 'ro' && row.group !== 'DCC') this.emulated.set(key, exit.value);
    return false;
  }

  private count(row: SysregRow, exit: SysregExit): void {
    const c = this.hyp.stats.sysreg(row.name);
    if (exit.read) c.reads++;
    else c.writes++;
  }

  /** The architectural effect of a trapped VM-register access, with seed 000's MAIR policy. */
  private vmAccess(exit: SysregExit, row: SysregRow, regs: RegAccess): void {
    this.count(row, exit);
    const mair = row.key === KEY_MAIR && this.hyp.config.mairMangle;
    if (exit.read) {
      regs.setX(exit.rt, mair && this.mairShadow !== null ? this.mairShadow : regs.read(exit));
    } else if (mair) {
      this.mairShadow = exit.value;
      regs.write(exit, mangleMair(exit.value));
    } else {
      regs.write(exit, exit.value);
    }
  }

  /** What the guest reads from MAIR_EL1 (its own value under mangling), for the debugger. */
  guestMair(cpuValue: bigint): bigint {
    return this.hyp.config.mairMangle && this.mairShadow !== null ? this.mairShadow : cpuValue;
  }

  /** TLBI performed on the guest's behalf, by the row's typed operation. */
  private tlbi(vcpu: GuestCpu, row: SysregRow, xt: bigint): void {
    if (row.tlbi) vcpu.tlbi(row.tlbi, xt, this.hyp.stage2.vmid);
  }

  /** AT S1E1R/W, S1E0R/W, S1E1RP/WP (hyp/at.ts): PAR_EL1 written, or what the instruction raises instead. */
  private at(vcpu: GuestCpu, row: SysregRow, exit: SysregExit, regs: RegAccess): 'undefined' | 'external-abort' | null {
    const op = atOpOf(row.name);
    if (op === null) return 'undefined';
    const pan2 = this.features.field('ID_AA64MMFR1_EL1.PAN') >= 2;
    const r = emulateAt(vcpu, { faultInRam: (ipa) => this.hyp.faultInRam(ipa), pan2 }, op, Number(BigInt.asIntN(64, exit.value)));
    if (r.kind !== 'par') return r.kind;
    regs.write({ ...exit, ...SR.PAR_EL1 }, r.par);
    return null;
  }

  /**
   * Seed 002: once the guest turns its MMU on, stop forcing cacheability and
   * stop trapping the VM registers, so no cost remains after boot (unless
   * another policy still needs TVM).
   */
  private onSctlrWrite(value: bigint): void {
    const cfg = this.hyp.config;
    if (!cfg.defaultCacheable || (value & 1n) === 0n) return;
    const el2 = this.hyp.el2;
    let hcr = el2.hcr & ~(1n << BigInt(HCR.DC));
    if (!cfg.mairMangle) hcr &= ~(1n << BigInt(HCR.TVM));
    el2.hcr = hcr;
  }

  /**
   * Seed 004: an encoding the model does not know is reported once (a pino warning with the row
   * to paste into the table, as KVM prints the encoding) and counted. Returns true when it was
   * completed as RAZ/WI (unknownSysreg 'raz'), false when it is UNDEFINED for the guest.
   */
  private unknown(exit: SysregExit, ctx: GuestContext): boolean {
    const key = sysregKey(exit);
    const label = `S${exit.op0}_${exit.op1}_C${exit.crn}_C${exit.crm}_${exit.op2}`;
    const s = this.hyp.stats;
    s.unknownSysregs[label] = (s.unknownSysregs[label] ?? 0) + 1;
    const raz = this.hyp.config.unknownSysreg === 'raz';
    if (!this.warned.has(key)) {
      this.warned.add(key);
      logger.warn(
        { pc: '0x' + exit.pc.toString(16), read: exit.read, row: formatUnknown(exit, { read: exit.read, el: 1 }) },
        `unknown system register ${label} ${exit.read ? 'read' : 'written'}: ` +
          (raz ? 'reads as zero, writes ignored (--unknown-sysreg raz)' : 'UNDEFINED for the guest, as KVM injects it (--unknown-sysreg raz: read as zero)'),
      );
    }
    if (!raz) return false;
    if (exit.read) ctx.setX(exit.rt, 0n);
    return true;
  }
}
