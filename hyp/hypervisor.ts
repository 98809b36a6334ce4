/**
 * The EL2 software model: what KVM's arch/arm64/kvm is on hardware. It is the
 * El2Handler the machine calls for every system instruction and every exit.
 *
 * Two tiers, as KVM's hyp/include/hyp/switch.h has them:
 *  - the *fast path* at EL2: a handler table indexed by exception class,
 *    one per mode; a handler updates the vCPU state and resumes without
 *    saving or restoring the guest context, or returns false;
 *  - the *world switch*: the guest context is saved into the vCPU structure
 *    (GuestContext), the host-side handler runs on that copy, and the context
 *    is restored. In nVHE mode the EL1 system registers move on every switch;
 *    in VHE mode they stay loaded on the CPU until vcpu_put (seed 004).
 *
 * Size (~580 lines), why it stays whole: the Hypervisor class is the El2Handler the CPU calls
 * (routing, exits, the world switch, snapshot, the debugger view); the handlers themselves live
 * in the modules it imports (fast-path, mmio, hypercalls, sysreg-*, nested/). What remains is
 * the dispatch over one vCPU's EL2 state; debugExit (~65 lines) is the next piece that could move.
 */
import type { DebugExit, El2Handler, Exit, ExitAction, ExitReason, Stage2AbortExit, SysInsnAccess, SysregExit } from '../emulator/cpu/exits.js';
import { RESUME } from '../emulator/cpu/exits.js';
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import { EC, esrEc } from '../emulator/cpu/esr.js';
import { SR, sysregKey } from '../emulator/cpu/sysregs.js';
import { hypercall } from './hypercalls.js';
import { emulateMmio, injectExternalAbort, injectExternalInstructionAbort } from './mmio.js';
import { mapReadWindows, type ReadWindowCpu } from '../emulator/cpu/read-window.js';
import { pureReadFastPath, windowRead } from './pure-read.js';
import { CoalescedMmio, type ConsoleWindow, type NativeMmioSlot } from './coalesced-mmio.js';
import { idReadApplies, idReadFastPath } from './fast-path.js';
import { El2Regs, EL2_REG_NAMES, type El2RegName } from './el2-regs.js';
import { GuestContext, type HypMode } from './context.js';
import { DEBUG_HANDLER_CYCLES, DEFAULT_COST_MODEL, type CostModel } from './cost.js';
import { HypStats } from './stats.js';
import { SysregPolicy } from './sysreg-policy.js';
import { withPointerAuth } from './idregs.js';
import { attachTraps, MDCR } from './sysreg-table.js';
import type { SysregEntry } from '../emulator/cpu/sysreg-catalogue.js';
import { HCR, hcrOf } from './hcr.js';
import { logger } from './log.js';
import { Stage2 } from './stage2.js';
import type { ExceptionKind } from '../emulator/cpu/guest-cpu.js';
import type { SysInsnRoute, SysRoutingInputs, WfxRoute } from '../emulator/cpu/exits.js';
import { routeHvc, routeWfx, trapsSmc } from './traps.js';
import { RamDescriptorMemory } from '../emulator/mmu/memory.js';
import { NestedVirt } from './nested/nested.js';
import { formatNestedWalk } from './nested/walk.js';
import { VEL2_REG_NAMES } from './nested/vregs.js';
import { snapshotHypervisor, restoreHypervisor } from './snapshot.js';
import type { RestoreContext, SnapshotContext, StateValue } from '../emulator/snapshot/state.js';

/** The guest-physical layout the hypervisor maps at stage 2. */
export interface GuestLayout {
  ram: { base: number; size: number };
  passthrough?: { base: number; size: number };
  /** The console's native window, when the board has one (coalesced-mmio.ts). */
  console?: ConsoleWindow | null;
}

export interface HypervisorConfig {
  /** VHE (EL1 registers deferred to vcpu_put) or nVHE (moved on every exit). Default VHE, as KVM on v8.1+ hardware. */
  mode: HypMode;
  /** Seed 000: trap MAIR_EL1 and turn uncached attributes into cacheable ones in the value the MMU uses. */
  mairMangle: boolean;
  /** Seed 002: HCR_EL2.DC and TVM while the guest MMU is off, both cleared once it sets SCTLR_EL1.M. */
  defaultCacheable: boolean;
  /** Seed 001: stage-2 type of passthrough device mappings. */
  deviceS2: 'normal-nc' | 'device-ngnre';
  /** Map guest RAM at stage 2 with 2 MiB blocks where they fit, or 4 KB pages only. */
  stage2Mapping: 'block' | 'page';
  /** Handle trivial traps at EL2 without a world switch (seed 000's patch 1). Off: every exit switches worlds. */
  fastPath: boolean;
  cost: CostModel;
  /** Seed 003: the guest starts at virtual EL2h (a guest hypervisor), ID_AA64PFR0_EL1.EL2 advertised. */
  nested: boolean;
  /** FEAT_PAuth advertised to the guest (--pauth; idregs.ts withPointerAuth). */
  pauth: boolean;
  /**
   * A guest access to a system-register encoding the model does not know: 'undef' injects an
   * Undefined Instruction exception (EC 0x00), as KVM does; 'raz' reads as zero and ignores
   * writes (bring-up). Reported once on stderr and counted in stats.unknownSysregs either way.
   */
  unknownSysreg: UnknownSysregPolicy;
  /**
   * Event counters given to the guest: MDCR_EL2.HPMN (Arm ARM D13.3; the rest are reserved for
   * EL2), as KVM sets it from a VMM's KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS. null: all of them.
   */
  pmuCounters: number | null;
  /**
   * MDCR_EL2.TDE: the guest's debug exceptions (breakpoint, watchpoint, software step, BRK) come
   * to the EL2 model as 'debug' exits (Arm ARM D2.3), as KVM sets it while a VMM debugs the guest;
   * TDA/TDOSA/TDRA then apply too (its debug-register accesses trap). Default off, as KVM.
   */
  trapDebug: boolean;
}

export type UnknownSysregPolicy = 'undef' | 'raz';

export const DEFAULT_HYP_CONFIG: HypervisorConfig = {
  mode: 'vhe',
  mairMangle: false,
  defaultCacheable: false,
  deviceS2: 'device-ngnre',
  stage2Mapping: 'block',
  fastPath: true,
  cost: DEFAULT_COST_MODEL,
  nested: false,
  pauth: false,
  unknownSysreg: 'undef',
  pmuCounters: null,
  trapDebug: false,
};

/**
 * What the hypervisor runs a guest with, after KVM's HCR_GUEST_FLAGS: stage 2
 * on (VM), EL1 is AArch64 (RW), SMC trapped for PSCI (TSC), ID registers
 * answered from the sanitised feature set (TID1, TID3, and TID4 so the cache
 * geometry CLIDR_EL1 and CCSIDR_EL1 per CSSELR_EL1 are the feature set's, not
 * the CPU core's; TID4 (FEAT_EVT) rather than TID2, which also traps CTR_EL0:
 * Linux reads CTR_EL0 for every cache maintenance loop (77,621 traps in a 6.1
 * boot) and the core's CTR_EL0 is the feature set's value already, checked by
 * the cache-id guest (tests/integration/guests.test.ts); KVM 6.1 likewise sets TID2 only for mismatched
 * cache types), ACTLR and set/way
 * cache maintenance trapped (TACR, TSW), SWIO; pointer-authentication keys
 * and instructions not trapped (APK, API), since the feature set offers them;
 * WFI trapped (TWI) so a waiting vCPU exits; WFE not (KVM clears TWE for a
 * vCPU that has its physical CPU to itself, as ours does); physical
 * IRQ/FIQ/SError routed to EL2 (IMO, FMO, AMO), presented to the guest as
 * virtual interrupts. TVM/TRVM only under a policy.
 */
export const HCR_GUEST_DEFAULT = hcrOf('VM', 'SWIO', 'FMO', 'IMO', 'AMO', 'RW', 'TSC', 'TID1', 'TID3', 'TID4', 'TACR', 'TSW', 'TWI', 'APK', 'API');

type FastHandler = (hyp: Hypervisor, vcpu: GuestCpu, exit: Exit) => boolean;

/** What one VM's vCPUs share (KVM's struct kvm beside each struct kvm_vcpu): its stage 2. */
export interface VmShared {
  readonly stage2: Stage2;
}

/** PSCI calls that need the other vCPUs (SMP power management, hyp/psci-power.ts): X0, or null for the ordinary table. */
export type PsciSmpHandler = (args: readonly [bigint, bigint, bigint, bigint]) => bigint | null;

export class Hypervisor implements El2Handler {
  readonly config: HypervisorConfig;
  readonly el2 = new El2Regs();
  readonly stats = new HypStats();
  readonly sysregs: SysregPolicy;
  readonly stage2: Stage2;
  private ctx: GuestContext | null = null;
  private vcpu: GuestCpu | null = null;
  /** Seed 003: the guest hypervisor's virtual EL2 and shadow stage 2 (null unless config.nested). */
  nested: NestedVirt | null = null;
  /** Model cycles of nested reflections, ERETs and virtual-EL2 register accesses. */
  readonly nestedCost = { reflect: 0, eret: 0, vel2Sysreg: 0 };
  /** Fast-path handlers indexed by ESR_EL2.EC, one table per mode (switch.h's hyp_exit_handlers). */
  private readonly fastPath: Record<HypMode, Array<FastHandler | undefined>>;

  /** SMP: CPU_ON, CPU_OFF, AFFINITY_INFO and CPU_SUSPEND go to the VM's power model first. */
  psciSmp: PsciSmpHandler | null = null;
  /** MPIDR affinity of this vCPU (VMPIDR_EL2's affinity fields), for the one-vCPU PSCI answers. */
  mpidr = 0n;

  /** One vCPU's EL2 model; `vm` shares another's stage 2 (every vCPU of a VM walks the same tables). */
  constructor(config: Partial<HypervisorConfig> = {}, vm?: VmShared) {
    this.config = { ...DEFAULT_HYP_CONFIG, ...config };
    this.sysregs = new SysregPolicy(this);
    this.stage2 = vm?.stage2 ?? new Stage2(this.stats, { mapping: this.config.stage2Mapping });
    // ID-register reads (hyp/fast-path.ts), then seed 000's VM-register accesses.
    const sysFast: FastHandler = (hyp, vcpu, exit) =>
      idReadFastPath(hyp.sysregs.features, hyp.stats, vcpu, exit as SysregExit) || hyp.sysregs.fastPath(vcpu, exit as SysregExit);
    const common: Array<FastHandler | undefined> = [];
    common[EC.SYS64] = sysFast;
    // Coalesced MMIO: a UARTDR write completes at EL2 into a ring (hyp/coalesced-mmio.ts).
    // A read of a device whose reads are pure is answered at EL2 too (hyp/pure-read.ts).
    common[EC.DABT_LOW] = (hyp, vcpu, exit) => hyp.coalesced.tryWrite(vcpu, exit as Stage2AbortExit) || pureReadFastPath(hyp.stats, vcpu, exit as Stage2AbortExit);
    // Both modes handle trivial sysreg traps, coalesced MMIO writes and pure device reads at EL2; nothing else is trivial here.
    this.fastPath = this.config.fastPath ? { vhe: common.slice(), nvhe: common.slice() } : { vhe: [], nvhe: [] };
    let hcr = HCR_GUEST_DEFAULT;
    if (this.config.defaultCacheable) hcr |= hcrOf('DC', 'TVM');
    if (this.config.mairMangle) hcr |= hcrOf('TVM', 'TRVM');
    this.el2.hcr = hcr;
  }

  /**
   * Bind to the vCPU it runs (vcpu_load): the guest context starts loaded on
   * the CPU, and the stage-2 tables (empty: everything faults in) are installed.
   */
  attach(vcpu: GuestCpu & { el2: El2Handler | null; onExit?: unknown; exitGate?: unknown } & Partial<NativeMmioSlot>, layout: GuestLayout): void {
    this.vcpu = vcpu;
    this.layout = layout;
    if (layout.console && 'nativeMmio' in vcpu) {
      // Unobserved runs only: with an exit observer or the debugger, every UART access is an exit.
      const v = vcpu as typeof vcpu & NativeMmioSlot;
      this.coalesced.attachWindow(layout.console, v, () => this.config.fastPath && this.nested === null && v.el2 === this && v.onExit == null && v.exitGate == null);
    }
    if ('nativeMmio' in vcpu && 'uc' in vcpu) {
      // Pure device reads in the core (emulator/cpu/read-window.ts), accounted as the fast-path exits they stand for.
      const v = vcpu as typeof vcpu & ReadWindowCpu;
      mapReadWindows(v, (ipa, size, first) => windowRead(this.stats, this.config.cost, vcpu.bus, ipa, size, first), () => this.config.fastPath && this.nested === null && v.el2 === this && v.onExit == null && v.exitGate == null);
    }
    attachTraps(vcpu.sysregs);
    this.ctx = new GuestContext(vcpu, this.config.mode);
    vcpu.el2 = this;
    const s2 = this.stage2;
    vcpu.addDescriptorMemory(s2.pool);
    this.el2.set('VTCR_EL2', s2.vtcr);
    this.el2.set('VTTBR_EL2', s2.vttbr);
    // Every vCPU of the VM drops its cached translations when a live mapping changes.
    const others = s2.onInvalidateIpa;
    s2.onInvalidateIpa = (ipa, size) => {
      others?.(ipa, size);
      vcpu.flushTlb();
    };
    const install = (hcr: bigint) => {
      vcpu.setStage2({ vtcr: this.el2.get('VTCR_EL2'), vttbr: this.el2.get('VTTBR_EL2'), hcr });
    };
    this.el2.onHcrChange = install;
    install(this.el2.hcr);
    if (this.config.pauth) this.sysregs.features = withPointerAuth(this.sysregs.features);
    if (this.config.nested) this.attachNested(vcpu, layout);
  }

  /**
   * Seed 003: the guest is a hypervisor. It starts at virtual EL2h; our stage 2 stays under
   * it (VMID 1), and the shadow stage 2s for its guests are composed with it.
   */
  private attachNested(vcpu: GuestCpu, layout: GuestLayout): void {
    // ID_AA64PFR0_EL1.EL2 = 1: EL2 implemented, AArch64 only (KVM_ARM_VCPU_HAS_EL2, QEMU virtualization=on)
    this.sysregs.features = this.sysregs.features.withOverrides({ 'ID_AA64PFR0_EL1.EL2': 1 });
    const s2mem = new RamDescriptorMemory(this.stage2.pool);
    const cost = this.config.cost;
    const n = new NestedVirt(
      {
        ourStage2: () => ({ config: this.stage2.config, mem: s2mem }),
        installOwnStage2: () => this.el2.onHcrChange?.(this.el2.hcr),
        setExtraTraps: (hcr) => this.sysregs.setExtraTraps(hcr),
        handleOwn: (v, exit) => this.worldSwitch(v, exit),
        ram: layout.ram,
        chargeNested: (kind) => {
          // An exit L1 handles costs two world switches on hardware (L2 -> host -> L1, and
          // L1's ERET, which traps without FEAT_NV2, -> host -> L2); each EL2 register access
          // of L1 traps too (FEAT_NV without NV2) and is handled without a full switch.
          const c = kind === 'vel2-sysreg' ? cost.trap + cost.fastPath : cost.trap + cost.worldSwitch[this.config.mode];
          if (kind === 'reflect') this.nestedCost.reflect += c;
          else if (kind === 'eret') this.nestedCost.eret += c;
          else this.nestedCost.vel2Sysreg += c;
          this.stats.cost.modelCycles += c;
        },
      },
      vcpu,
    );
    this.nested = n;
    n.start();
  }

  // ---- seed 003 hooks (El2Handler optional members) ----
  get hooksCodeSite(): ((word: number) => boolean) | undefined {
    return this.nested !== null ? NestedVirt.hooksWord : undefined;
  }
  onCodeSite(cpu: GuestCpu, pc: number, word: number): boolean {
    return this.nested?.onCodeSite(cpu, pc, word) ?? false;
  }
  takeException(_cpu: GuestCpu, kind: ExceptionKind, esrValue: number, ret: number, far?: number): boolean {
    return this.nested?.takeException(kind, esrValue, ret, far) ?? false;
  }
  interruptMasked(cpu: GuestCpu, kind: 'irq' | 'fiq'): boolean | null {
    return this.nested?.interruptMasked(cpu, kind) ?? null;
  }
  /** The debugger's trap-break exit-to-l1 (El2DebugView). */
  watchExitsToGuestHypervisor(cb: ((e: { readonly reason: string; readonly text: string }) => void) | null): void {
    if (this.nested !== null) this.nested.onReflect = cb;
  }

  /** Where guest RAM and the passthrough device region are (what KVM learns from memslots). */
  private layout: GuestLayout | null = null;

  /** Machine snapshots: the EL2 model's state (hyp/snapshot.ts). */
  snapshot(ctx: SnapshotContext): StateValue {
    return snapshotHypervisor(this, ctx);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    restoreHypervisor(this, state, ctx);
  }

  get context(): GuestContext {
    if (!this.ctx) throw new Error('hypervisor not attached to a vCPU');
    return this.ctx;
  }

  get mode(): HypMode {
    return this.config.mode;
  }

  // ------------------------------------------------------------- routing

  routeSysInsn(vcpu: GuestCpu, access: SysInsnAccess, entry: SysregEntry | undefined): SysInsnRoute {
    if (this.nested !== null) {
      const r = this.nested.routeSysInsn(vcpu, access);
      if (r !== null) return r;
    }
    return this.sysregs.route(vcpu, access, entry);
  }

  /** Pure routing (exits.ts) except while a guest hypervisor is nested: its vEL2 accesses are handled here. */
  sysInsnRoutingInputs(out: SysRoutingInputs): boolean {
    if (this.nested !== null) return false;
    this.sysregs.routingInputs(out);
    return true;
  }

  // WFx, SMC and HVC: the rules of hyp/traps.ts, with the current EL (and SCTLR_EL1 for EL0).

  routeWfx(vcpu: GuestCpu, wfe: boolean): WfxRoute {
    // Both traps apply only to a WFx that would wait (hyp/traps.ts). The CPU core never waits on
    // WFE (QEMU runs it as YIELD); the model waits on it exactly when HCR_EL2.TWE exits to us. So
    // with TWE clear no WFE traps, not even an EL0 one under SCTLR_EL1.nTWE = 0 (QEMU agrees).
    if (wfe && !this.el2.hcrBit(HCR.TWE)) return 'native';
    const el = vcpu.el;
    const sctlr = el === 0 ? Number(vcpu.sysreg(SR.SCTLR_EL1) & 0xffff_ffffn) : undefined;
    return routeWfx(this.el2.hcrLo, wfe, el, sctlr);
  }

  trapsSmc(vcpu: GuestCpu): boolean {
    // A guest hypervisor's SMC goes to the firmware (our PSCI), or to it when it traps L2's
    // (still UNDEFINED at EL0).
    if (this.nested !== null) return vcpu.el === 1;
    return trapsSmc(this.el2.hcrLo, vcpu.el);
  }

  takesHvc(vcpu: GuestCpu): boolean {
    // A guest hypervisor's HVC at virtual EL2 is ours (its HCD is its guest's business).
    if (this.nested !== null) return vcpu.el === 1;
    return routeHvc(this.el2.hcrLo, vcpu.el) === 'el2';
  }

  // ------------------------------------------------------------ handling

  handleExit(vcpu: GuestCpu, exit: Exit): ExitAction {
    const t0 = process.hrtime.bigint();
    const s = this.stats;
    const cost = this.config.cost;
    s.exits.total++;
    s.exits.byReason[exit.reason] = (s.exits.byReason[exit.reason] ?? 0) + 1;
    if (this.nested !== null) {
      // reflected to the guest hypervisor (charged by chargeNested), or filled into a shadow
      const a = this.nested.handleExit(vcpu, exit);
      if (a !== null) {
        s.cost.hostNs += Number(process.hrtime.bigint() - t0);
        return a;
      }
    }
    let cycles = cost.trap;
    let action: ExitAction;
    this.lastExitWentToUserspace = false;
    const fast = this.fastPath[this.config.mode][esrEc(exit.esr)];
    if (fast !== undefined && fast(this, vcpu, exit)) {
      s.exits.fastPath++;
      cycles += cost.fastPath;
      action = RESUME;
    } else {
      // User space sees the device in order: buffered writes first (KVM drains the ring on exit).
      this.coalesced.drain();
      s.exits.worldSwitch++;
      cycles += cost.worldSwitch[this.config.mode] + (cost.handler[exit.reason] ?? DEBUG_HANDLER_CYCLES);
      action = this.worldSwitch(vcpu, exit);
    }
    if (this.lastExitWentToUserspace) cycles += cost.userspace;
    s.cost.modelCycles += cycles;
    s.cost.byReason[exit.reason] = (s.cost.byReason[exit.reason] ?? 0) + cycles;
    s.cost.hostNs += Number(process.hrtime.bigint() - t0);
    return action;
  }

  private lastExitWentToUserspace = false;

  /** Coalesced MMIO writes (the console's UARTDR) buffered at EL2. */
  readonly coalesced = new CoalescedMmio(() => this.vcpu?.bus ?? null);

  /** The vCPU stops running (end of runFor): buffered device writes reach the devices. */
  drain(): void {
    this.coalesced.drain();
  }

  /**
   * Save the guest context into the vCPU structure, run the host handler on
   * that copy, restore. What the handler changes in the copy is what the
   * guest sees; whatever the host did to the live CPU meanwhile is overwritten.
   */
  private worldSwitch(vcpu: GuestCpu, exit: Exit): ExitAction {
    const ctx = this.context;
    ctx.saveRun();
    if (this.config.mode === 'nvhe') ctx.saveSysregs();
    let after: (() => void) | null = null;
    let action: ExitAction;
    try {
      const r = this.hostHandler(vcpu, exit, ctx);
      action = r.action;
      after = r.after ?? null;
    } finally {
      // nVHE: every exit; VHE: only after a user-space exit put the vCPU (no-op otherwise).
      ctx.restoreSysregs();
      ctx.restoreRun();
    }
    after?.();
    return action;
  }

  /** The host side of each exit. `after` runs once the guest context is back on the CPU. */
  private hostHandler(vcpu: GuestCpu, exit: Exit, ctx: GuestContext): { action: ExitAction; after?: () => void } {
    switch (exit.reason) {
      case 'sysreg':
        return this.sysregs.hostHandle(vcpu, exit, ctx);
      case 'hvc':
      case 'smc': {
        const args = [ctx.x(0), ctx.x(1), ctx.x(2), ctx.x(3)] as const;
        const smp = this.psciSmp?.(args) ?? null;
        const r = smp !== null ? ({ kind: 'return', x0: smp } as const) : hypercall({ args, mpidr: this.mpidr });
        if (r.kind === 'halt') return { action: { kind: 'halt', halt: r.halt } };
        ctx.setX(0, r.x0);
        // A trapped SMC returns to the SMC itself (preferred return address): skip it.
        if (exit.reason === 'smc') ctx.skipInstruction();
        return { action: RESUME };
      }
      case 'dabt_s2':
      case 'iabt_s2':
        return this.stage2Abort(vcpu, exit, ctx);
      case 'wfx':
        // KVM's kvm_handle_wfx: a WFI blocks the vCPU until an interrupt is
        // pending (virtual time moves to the next timer deadline); WFE just yields.
        if (!exit.wfe) vcpu.waitForInterrupt();
        ctx.skipInstruction();
        return { action: RESUME };
      case 'irq':
        return { action: RESUME };
      case 'debug':
        return this.debugExit(vcpu, exit);
    }
  }

  /**
   * MDCR_EL2.TDE (--trap-debug) or HCR_EL2.TGE route the guest's debug exceptions here (Arm ARM
   * D2.3). Debugging the guest from EL2 is the VMM's business (KVM_EXIT_DEBUG; here the GDB stub,
   * `monitor trap-break on debug`); what is not the host's own goes back to the guest, as QEMU's
   * kvm_arm_handle_debug re-injects it: an exception the guest's own controls generate (MDSCR_EL1,
   * PSTATE.D, exit.guestTakes) is reflected to its EL1 vector with the syndrome EL1 would have
   * (EC 0x31/0x33/0x35 when taken from EL1; QEMU re-injects ESR_EL2's 0x30/0x32/0x34 as is, the
   * Arm ARM's ESR_ELx EC description has the "without a change in EL" class), FAR_EL1 for a
   * watchpoint. One the guest did not enable (only the debug target EL2 made it: KDE = 0 or
   * PSTATE.D = 1 at EL1) is the host's: counted and resumed past (Vcpu.debugException).
   */
  private debugExit(vcpu: GuestCpu, exit: DebugExit): { action: ExitAction; after?: () => void } {
    if (!exit.guestTakes) return { action: RESUME };
    // The guest's view of the syndrome (DebugExit.guestEsr): EC "without a change in EL" from EL1,
    // and for a step EL2 completed of the instruction that made the guest's step active, ISV = 0.
    const esr1 = exit.guestEsr;
    const watch = exit.esr >>> 26 === 0x34;
    return { action: RESUME, after: () => vcpu.takeException('sync', esr1, exit.pc, watch ? exit.far : undefined) };
  }

  /** MDCR_EL2.TDE or HCR_EL2.TGE: the guest's debug exceptions come here (El2Handler; D2.3). A guest hypervisor (--nested) routes its own. */
  routesDebugToEl2(_vcpu: GuestCpu): boolean {
    if (this.nested !== null) return false;
    return (this.el2.mdcrLo & (1 << MDCR.TDE)) !== 0 || this.el2.hcrBit(HCR.TGE);
  }

  /**
   * A stage-2 abort (KVM's kvm_handle_guest_abort): RAM that is not mapped
   * yet is mapped and the access retried; the passthrough region is mapped
   * with the --device-s2 type; anything else is MMIO for the device model.
   */
  private stage2Abort(vcpu: GuestCpu, exit: Stage2AbortExit, ctx: GuestContext): { action: ExitAction; after?: () => void } {
    const s = this.stats;
    s.stage2.faults++;
    const layout = this.layout!;
    const ipa = exit.ipa;
    if (ipa >= layout.ram.base && ipa < layout.ram.base + layout.ram.size) {
      const r = this.stage2.mapRam(ipa, layout.ram);
      if (!r.ok) return { action: { kind: 'halt', halt: { kind: 'fault', message: `stage-2 map of RAM at IPA 0x${ipa.toString(16)} failed: ${r.reason}` } } };
      return { action: RESUME };
    }
    const pt = layout.passthrough;
    if (pt && ipa >= pt.base && ipa < pt.base + pt.size && exit.reason === 'dabt_s2') {
      const r = this.stage2.mapDevice(pt.base, pt.base, pt.size, this.config.deviceS2 === 'normal-nc' ? 'normal-nc' : 'device');
      if (!r.ok) return { action: { kind: 'halt', halt: { kind: 'fault', message: `stage-2 map of the passthrough region failed: ${r.reason}` } } };
      return { action: RESUME };
    }
    // A fetch from, or a stage-1 table walk through, an IPA that is not RAM:
    // a synchronous external abort, as on QEMU's virt board (KVM injects an
    // abort for a walk outside the memslots, too).
    if (exit.reason === 'iabt_s2') {
      s.mmio.externalAborts++;
      return { action: RESUME, after: () => injectExternalInstructionAbort(vcpu, exit) };
    }
    if ((exit.esr >>> 7) & 1) {
      s.mmio.externalAborts++;
      return { action: RESUME, after: () => injectExternalAbort(vcpu, exit) };
    }
    // MMIO: the access goes to the user-space device model. Returning to user
    // space is vcpu_put: in VHE that is when the deferred EL1 registers move
    // to memory, before the device model runs (vcpu_load brings them back).
    this.lastExitWentToUserspace = true;
    s.exits.userspace++;
    ctx.saveSysregs();
    const outcome = emulateMmio(vcpu.bus, ctx, exit);
    if (outcome === 'emulated') s.mmio.syndrome++;
    else if (outcome === 'decoded') s.mmio.decoded++;
    else {
      // Not emulable (or no device answers): an external abort for the guest, never a stopped run.
      s.mmio.externalAborts++;
      return { action: RESUME, after: () => injectExternalAbort(vcpu, exit) };
    }
    return { action: RESUME };
  }

  /** Map guest RAM at `ipa` at stage 2, as a stage-2 fault there does (AT's stage-1 walk, hyp/at.ts); false when not RAM. */
  faultInRam(ipa: number): boolean {
    const ram = this.layout?.ram;
    if (ram === undefined || ipa < ram.base || ipa >= ram.base + ram.size) return false;
    this.stats.stage2.faults++;
    return this.stage2.mapRam(ipa, ram).ok;
  }

  // ------------------------------------------------------- debugger view

  /** `monitor walk` for a guest hypervisor: the three stages of an L2 address; null: the ordinary walk. */
  walkText(va: bigint): string | null {
    return this.nested !== null ? formatNestedWalk(this.nested.walk(Number(BigInt.asUintN(64, va)))) : null;
  }

  el2Register(name: string): bigint | undefined {
    // With a guest hypervisor, the EL2 registers the debugger shows are the ones it programs (virtual EL2).
    if (this.nested !== null && VEL2_REG_NAMES.includes(name)) return this.nested.vel2.get(name);
    return (EL2_REG_NAMES as readonly string[]).includes(name) ? this.el2.get(name as El2RegName) : undefined;
  }

  setEl2Register(name: string, value: bigint): boolean {
    if (!(EL2_REG_NAMES as readonly string[]).includes(name)) return false;
    this.el2.set(name as El2RegName, value);
    // A new stage-2 base or geometry takes effect like a new HCR_EL2: reinstall the regime.
    if (name === 'VTTBR_EL2' || name === 'VTCR_EL2') this.el2.onHcrChange?.(this.el2.hcr);
    return true;
  }

  /** Would this exit be handled on the fast path? Decided without side effects (the debugger's trap-break line). */
  exitPath(exit: Exit): 'fast path' | 'world switch' {
    if (!this.config.fastPath || exit.reason !== 'sysreg') return 'world switch';
    return this.sysregs.fastPathApplies(exit) || idReadApplies(this.sysregs.features, exit) ? 'fast path' : 'world switch';
  }

  guestView(name: string, cpuValue: bigint): bigint {
    return name === 'MAIR_EL1' ? this.sysregs.guestMair(cpuValue) : cpuValue;
  }

  /** The exits counters in the stats JSON shape. */
  get exits(): HypStats['exits'] {
    return this.stats.exits;
  }

  toJSON(): Record<string, unknown> {
    const s = this.stats;
    return {
      exits: s.exits,
      sysregTraps: s.sysregTraps,
      cost: s.cost,
      mmio: s.mmio,
      stage2: { ...s.stage2, tablePages: this.stage2.tablePages, vmid: this.stage2.vmid, mapping: this.stage2.mapping },
      ...(this.nested !== null ? { nested: { ...this.nested.toJSON(), cost: this.nestedCost } } : {}),
      unknownSysregs: s.unknownSysregs,
      // Writes completed on the EL2 fast path into the coalesced-MMIO ring (counted in exits.fastPath too).
      // `native`: the console window (UARTDR writes and UARTFR reads completed in C, other UART
      // accesses performed from its callback, ring drains): none of them is an exit.
      coalescedMmio: { writes: this.coalesced.writes, drains: this.coalesced.drains, native: this.coalesced.windowStats() },
      hyp: {
        mode: this.config.mode,
        policies: { mairMangle: this.config.mairMangle, defaultCacheable: this.config.defaultCacheable, deviceS2: this.config.deviceS2 },
        el2: this.el2.toJSON(),
        contextMoves: this.ctx?.moved ?? null,
        costModel: this.config.cost,
      },
    };
  }

  /** Key used by the per-register statistics. */
  static key(e: { op0: number; op1: number; crn: number; crm: number; op2: number }): number {
    return sysregKey(e);
  }
}

export type { ExitReason };
export { logger };
