/**
 * The guest context a world switch moves between the CPU and the vCPU
 * structure in (host) memory, and the accessors that hide where a register
 * currently lives (seed 004: "deferred" EL1 system registers under VHE).
 *
 * Two parts, as KVM's switch code splits them:
 *  - the *run* context, moved on every full exit in both modes: X0-X30, PC,
 *    PSTATE, SP_EL0, SP_EL1, ELR_EL1, SPSR_EL1, V0-V31, FPCR, FPSR;
 *  - the *EL1 system-register* context (SCTLR, TTBRx, TCR, MAIR, VBAR, ...,
 *    timer control): in nVHE mode saved and restored on every full exit; in
 *    VHE mode left loaded on the CPU across exits and moved only at
 *    vcpu_put/vcpu_load.
 */
import type { CpuReg, GuestCpu, RegisterBatch } from '../emulator/cpu/guest-cpu.js';
import { SR } from '../emulator/cpu/sysregs.js';
import { SR_FLAG, type SysregEntry, type SysregEncoding } from '../emulator/cpu/sysreg-catalogue.js';

export type HypMode = 'vhe' | 'nvhe';

const RUN_CONTEXT: readonly CpuReg[] = [
  ...Array.from({ length: 31 }, (_, i) => ({ x: i })),
  { core: 'pc' },
  { core: 'pstate' },
  { core: 'sp_el0' },
  { core: 'sp_el1' },
  { sysreg: SR.ELR_EL1 },
  { sysreg: SR.SPSR_EL1 },
  ...Array.from({ length: 32 }, (_, i) => ({ v: i })),
  { core: 'fpcr' },
  { core: 'fpsr' },
  // In SP_EL1-banked mode the live SP is not in SP_EL1: the wrapper's PSTATE
  // view does not bank (DESIGN.md), so the run context saves SP explicitly.
  { core: 'sp' },
];
const IDX_PC = 31;
const IDX_PSTATE = 32;
const IDX_SP_EL0 = 33;
const IDX_SP_EL1 = 34;
const IDX_Q0 = 37;

/**
 * The vCPU structure's copy of the guest context. Holding the state in native
 * batch buffers means one FFI call moves the whole of each part.
 */
export class GuestContext {
  private readonly run: RegisterBatch;
  private readonly el1: RegisterBatch;
  /** Same layout as el1: what is live on the CPU at restore time. */
  private readonly el1Live: RegisterBatch;
  private readonly el1Index = new Map<string, number>();
  /** The EL1 context: the catalogue's rows flagged EL1_CONTEXT (KVM's __sysreg_save_el1_state and user state). */
  private readonly el1Regs: readonly SysregEntry[];
  /** Are the EL1 system registers live on the CPU (true) or in this structure (false)? */
  sysregsOnCpu = true;
  /** Is the run context (GPRs, PC, ...) live on the CPU? False between save and restore. */
  runOnCpu = true;
  /** Counters of what moved, for tests and statistics. */
  readonly moved = { runSaves: 0, runRestores: 0, sysregSaves: 0, sysregRestores: 0 };

  constructor(
    private readonly vcpu: GuestCpu,
    readonly mode: HypMode,
  ) {
    this.run = vcpu.createBatch(RUN_CONTEXT);
    this.vregs = vcpu.createBatch(Array.from({ length: 32 }, (_, i) => ({ v: i })));
    this.el1Regs = vcpu.sysregs.withFlag(SR_FLAG.EL1_CONTEXT);
    this.el1 = vcpu.createBatch(this.el1Regs.map((e) => ({ sysreg: e })));
    this.el1Live = vcpu.createBatch(this.el1Regs.map((e) => ({ sysreg: e })));
    this.el1Regs.forEach((e, i) => this.el1Index.set(e.name, i));
  }

  /** Names of the EL1 context registers, in order. */
  el1Names(): string[] {
    return this.el1Regs.map((e) => e.name);
  }

  // ---------------------------------------------------------------- moving

  saveRun(): void {
    this.run.read();
    this.runOnCpu = false;
    this.moved.runSaves++;
  }

  restoreRun(): void {
    this.run.write();
    this.runOnCpu = true;
    this.moved.runRestores++;
  }

  /** vcpu_put in VHE, every exit in nVHE: EL1 system registers to memory. */
  saveSysregs(): void {
    if (!this.sysregsOnCpu) return;
    this.el1.read();
    this.sysregsOnCpu = false;
    this.moved.sysregSaves++;
  }

  /** vcpu_load in VHE, every entry in nVHE. */
  restoreSysregs(): void {
    if (this.sysregsOnCpu) return;
    // Make the CPU equal the saved context. Writing a register with its own
    // value is not free in QEMU (an SCTLR/TCR/TTBR write flushes its TLB), so
    // read what is live in one call and write back only what differs: a
    // register the host clobbered meanwhile is still put right.
    this.el1Live.read();
    for (let i = 0; i < this.el1Regs.length; i++) {
      if (this.el1Live.get(i) !== this.el1.get(i)) this.vcpu.setSysreg(this.el1Regs[i]!, this.el1.get(i));
    }
    this.sysregsOnCpu = true;
    this.moved.sysregRestores++;
    // The host changed a register that shapes translations while it was in
    // memory: what Unicorn cached is stale.
    if (this.translationDirty) this.vcpu.flushTlb();
    this.translationDirty = false;
  }

  /** Set when a write through the accessors changes a TRANSLATION-flagged register while it is in memory. */
  private translationDirty = false;

  // ------------------------------------------------------------- accessors

  /** Xn of the guest (31 reads as zero: XZR), wherever it lives now. */
  x(n: number): bigint {
    if (n === 31) return 0n;
    return this.runOnCpu ? this.vcpu.x(n) : this.run.get(n);
  }

  setX(n: number, v: bigint): void {
    if (n === 31) return;
    if (this.runOnCpu) this.vcpu.setX(n, v);
    else this.run.set(n, v);
  }

  get pc(): number {
    return this.runOnCpu ? this.vcpu.pc : Number(BigInt.asIntN(64, this.run.get(IDX_PC)));
  }

  set pc(v: number) {
    if (this.runOnCpu) this.vcpu.pc = v;
    else this.run.set(IDX_PC, BigInt.asUintN(64, BigInt(v)));
  }

  get pstate(): number {
    return this.runOnCpu ? this.vcpu.pstate : Number(this.run.get(IDX_PSTATE) & 0xffff_ffffn);
  }

  /** KVM's kvm_incr_pc: the trapped instruction is done. */
  skipInstruction(): void {
    this.pc = this.pc + 4;
  }

  /**
   * Read an EL1 context system register: from the CPU while it is loaded
   * there, from the vCPU structure otherwise (seed 004's vcpu_read_sys_reg).
   */
  readSysreg(name: string, enc: SysregEncoding): bigint {
    const i = this.el1Index.get(name);
    if (i === undefined || this.sysregsOnCpu) return this.vcpu.sysreg(enc);
    return this.el1.get(i);
  }

  writeSysreg(name: string, enc: SysregEncoding, v: bigint): void {
    const i = this.el1Index.get(name);
    if (i === undefined || this.sysregsOnCpu) {
      this.vcpu.setSysreg(enc, v);
      return;
    }
    if ((this.el1Regs[i]!.flags & SR_FLAG.TRANSLATION) !== 0 && this.el1.get(i) !== BigInt.asUintN(64, v)) this.translationDirty = true;
    this.el1.set(i, v);
  }

  /** Is this register one the world switch moves (vs. emulated-only state)? */
  isContextRegister(name: string): boolean {
    return this.el1Index.has(name);
  }

  /** Vn as 16 little-endian bytes (a copy), wherever it lives now (MMIO emulation of SIMD&FP loads and stores). */
  vreg(n: number): Uint8Array {
    if (!this.runOnCpu) return this.run.bytesOf(IDX_Q0 + n).slice();
    this.vregs.read();
    return this.vregs.bytesOf(n).slice();
  }

  setVreg(n: number, bytes: Uint8Array): void {
    if (!this.runOnCpu) {
      this.run.bytesOf(IDX_Q0 + n).set(bytes.subarray(0, 16));
      return;
    }
    this.vregs.read();
    this.vregs.bytesOf(n).set(bytes.subarray(0, 16));
    this.vregs.write();
  }

  /** V0-V31 on the CPU, for vreg/setVreg while the run context is live there. */
  private readonly vregs: RegisterBatch;

  /** Vn as 16 bytes from the saved context (valid between saveRun and restoreRun). */
  savedVreg(n: number): Uint8Array {
    return this.run.bytesOf(IDX_Q0 + n).slice();
  }
  savedSp(): { el0: bigint; el1: bigint } {
    return { el0: this.run.get(IDX_SP_EL0), el1: this.run.get(IDX_SP_EL1) };
  }
}
