/**
 * System-register traps: which guest accesses leave the guest (routing by
 * HCR_EL2 bits over the descriptor table), the EL2 fast path for the trivial
 * ones, the host-side handlers, and the policies of seeds 000 (MAIR mangling)
 * and 002 (HCR_EL2.DC while the MMU is off). An encoding the table does not
 * know traps, warns once and is RAZ/WI (seed 004).
 */
import type { SysInsnAccess, SysregExit, ExitAction } from '../emulator/cpu/exits.js';
import { RESUME } from '../emulator/cpu/exits.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import { sysregKey, SR } from '../emulator/cpu/sysregs.js';
import type { GuestContext } from './context.js';
import type { Hypervisor } from './hypervisor.js';
import { HCR } from './hcr.js';
import { logger } from './log.js';

export type SysregRoute = 'native' | 'trap' | 'handled';

/** The VM register group (HCR_EL2.TVM/TRVM, Arm ARM D19.2.48; seed 000's fast-path set). */
const VM_GROUP = new Map<number, string>(
  (
    [
      ['SCTLR_EL1', SR.SCTLR_EL1],
      ['TTBR0_EL1', SR.TTBR0_EL1],
      ['TTBR1_EL1', SR.TTBR1_EL1],
      ['TCR_EL1', SR.TCR_EL1],
      ['ESR_EL1', SR.ESR_EL1],
      ['FAR_EL1', SR.FAR_EL1],
      ['AFSR0_EL1', SR.AFSR0_EL1],
      ['AFSR1_EL1', SR.AFSR1_EL1],
      ['MAIR_EL1', SR.MAIR_EL1],
      ['AMAIR_EL1', SR.AMAIR_EL1],
      ['CONTEXTIDR_EL1', SR.CONTEXTIDR_EL1],
    ] as const
  ).map(([n, e]) => [sysregKey(e), n]),
);
const KEY_MAIR = sysregKey(SR.MAIR_EL1);
const KEY_SCTLR = sysregKey(SR.SCTLR_EL1);
/**
 * Writes after which translations handed to Unicorn may be stale: its TLB is
 * not tagged with ASIDs or attributes, so a new SCTLR/TCR/TTBR value means a
 * flush. MAIR, ESR, FAR, AFSRx, AMAIR and CONTEXTIDR change no permission or
 * output address (the MMU model re-reads MAIR for attributes), so they do not.
 */
const FLUSHES_TLB = new Set([KEY_SCTLR, sysregKey(SR.TCR_EL1), sysregKey(SR.TTBR0_EL1), sysregKey(SR.TTBR1_EL1)]);

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

export class SysregPolicy {
  /** The MAIR_EL1 value the guest wrote, while the CPU holds the mangled one (seed 000). */
  private mairShadow: bigint | null = null;
  private readonly warned = new Set<number>();

  constructor(private readonly hyp: Hypervisor) {}

  private vmName(access: { op0: number; op1: number; crn: number; crm: number; op2: number }): string | undefined {
    return VM_GROUP.get(sysregKey(access));
  }

  route(_vcpu: Vcpu, access: SysInsnAccess): SysregRoute {
    if (access.el !== 1) return 'native';
    const name = this.vmName(access);
    if (name !== undefined) {
      const el2 = this.hyp.el2;
      return el2.hcrBit(access.read ? HCR.TRVM : HCR.TVM) ? 'trap' : 'native';
    }
    return 'native';
  }

  /** EL2 fast path: trivial VM-register accesses, done on the live CPU without a world switch. */
  fastPath(vcpu: Vcpu, exit: SysregExit): boolean {
    const name = this.vmName(exit);
    if (name === undefined) return false;
    // Turning the MMU on under the default-cacheable policy changes HCR_EL2: the host does that.
    if (!exit.read && sysregKey(exit) === KEY_SCTLR && this.hyp.config.defaultCacheable && (exit.value & 1n) === 1n) return false;
    const c = this.hyp.stats.sysreg(name);
    c.fastPath++;
    this.access(exit, name, {
      read: (e) => vcpu.sysreg(e),
      write: (e, v) => vcpu.setSysreg(e, v),
      setX: (n, v) => vcpu.setX(n, v),
    });
    vcpu.pc = exit.pc + 4;
    if (!exit.read && FLUSHES_TLB.has(sysregKey(exit))) vcpu.flushTlb();
    return true;
  }

  /** Host-side handling after a world switch: the guest's registers are in `ctx`. */
  hostHandle(vcpu: Vcpu, exit: SysregExit, ctx: GuestContext): ExitAction {
    const name = this.vmName(exit);
    if (name !== undefined) {
      this.hyp.stats.sysreg(name).worldSwitch++;
      this.access(exit, name, {
        read: (e) => ctx.readSysreg(name, e),
        write: (e, v) => ctx.writeSysreg(name, e, v),
        setX: (n, v) => ctx.setX(n, v),
      });
      if (!exit.read && sysregKey(exit) === KEY_SCTLR) this.onSctlrWrite(exit.value);
      if (!exit.read && FLUSHES_TLB.has(sysregKey(exit))) vcpu.flushTlb();
      ctx.skipInstruction();
      return RESUME;
    }
    this.unknown(exit, ctx);
    ctx.skipInstruction();
    return RESUME;
  }

  /** The architectural effect of a trapped VM-register access, with seed 000's MAIR policy. */
  private access(
    exit: SysregExit,
    name: string,
    regs: { read(e: SysregExit): bigint; write(e: SysregExit, v: bigint): void; setX(n: number, v: bigint): void },
  ): void {
    const c = this.hyp.stats.sysreg(name);
    const mair = sysregKey(exit) === KEY_MAIR && this.hyp.config.mairMangle;
    if (exit.read) {
      c.reads++;
      regs.setX(exit.rt, mair && this.mairShadow !== null ? this.mairShadow : regs.read(exit));
    } else {
      c.writes++;
      if (mair) {
        this.mairShadow = exit.value;
        regs.write(exit, mangleMair(exit.value));
      } else {
        regs.write(exit, exit.value);
      }
    }
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

  /** Seed 004: an encoding the model does not know warns once and is RAZ/WI; the guest keeps running. */
  private unknown(exit: SysregExit, ctx: GuestContext): void {
    const key = sysregKey(exit);
    const label = `S${exit.op0}_${exit.op1}_C${exit.crn}_C${exit.crm}_${exit.op2}`;
    const s = this.hyp.stats;
    s.unknownSysregs[label] = (s.unknownSysregs[label] ?? 0) + 1;
    if (!this.warned.has(key)) {
      this.warned.add(key);
      logger.warn(
        { op0: exit.op0, op1: exit.op1, crn: exit.crn, crm: exit.crm, op2: exit.op2, pc: '0x' + exit.pc.toString(16), read: exit.read },
        `unknown system register ${label} ${exit.read ? 'read' : 'written'}: reads as zero, writes ignored`,
      );
    }
    if (exit.read) ctx.setX(exit.rt, 0n);
  }
}
