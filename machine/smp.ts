/**
 * `--smp N` (N > 1): the VM's vCPUs as one machine. Each vCPU is its own CPU core (Unicorn
 * instance) over the same guest RAM with its own EL2 model instance (hyp/hypervisor.ts: EL2
 * registers with its VMPIDR_EL2, context, statistics; the stage 2 shared), its own timer, PMU and
 * GIC redistributor (emulator/platform/virt.ts). This module joins them: the PSCI power model
 * (hyp/psci-power.ts) with the actions it asks for (start a vCPU at an entry point, stop one,
 * suspend one), and the deterministic scheduler (emulator/cpu/smp-scheduler.ts) that runs them.
 *
 * As KVM (arch/arm64/kvm/psci.c) does, vCPU 0 starts at the image's entry and the others are off
 * until CPU_ON; a target of CPU_ON is ON as soon as the call returns (KVM never reports
 * ON_PENDING), and starts at the entry point in EL1h with DAIF masked, the MMU and caches off
 * (SCTLR_EL1 at its reset value) and X0 = the context id (DEN0022 5.1.4, 6.4 "CPU_ON").
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import { SmpScheduler, type CpuRunResult, type SchedCpu, type SchedResult } from '../emulator/cpu/smp-scheduler.js';
import { SR } from '../emulator/cpu/sysregs.js';
import { inSpinLoop } from '../emulator/cpu/spin-loop.js';
import { Access } from '../emulator/cpu/translator.js';
import { Reg } from '../emulator/unicorn/uc.js';
import { vaFromBigint } from '../emulator/types.js';
import type { HaltReason } from '../emulator/cpu/exits.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import { PsciPower, mpidrAffinity, psciSmpCall, type PowerAction } from '../hyp/psci-power.js';
import { SnapshotFormatError, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../emulator/snapshot/state.js';

/** PSTATE at CPU_ON: EL1h, D, A, I, F masked (DEN0022 6.4.3 "CPU_ON": as after a cold reset). */
const PSTATE_EL1H_MASKED = 0x3c5;
/** MPIDR_EL1 bit 31 is RES1; U (bit 30) = 0: part of a multiprocessor system (Arm ARM D19.2 "MPIDR_EL1"). */
const MPIDR_RES1 = 0x8000_0000n;
/** VMPIDR_EL2 (Arm ARM D19.2): S3_4_C0_C0_5. */
const VMPIDR_EL2 = { op0: 3, op1: 4, crn: 0, crm: 0, op2: 5 } as const;

export class SmpVm implements Snapshottable {
  readonly power: PsciPower;
  readonly sched: SmpScheduler;
  private readonly vcpus: Vcpu[];
  /** Told which vCPU is about to run (the console attributes UART output to it). */
  onRun: ((i: number) => void) | null = null;
  /** SCTLR_EL1 as each core came out of reset (what CPU_ON restores: MMU and caches off). */
  private readonly resetSctlr: bigint[];
  /** The vCPU inside runFor (-1 between quanta): the sender of an SGI, LPI or CPU_ON. */
  private running = -1;

  constructor(board: VirtMachine, hyps: readonly Hypervisor[]) {
    this.vcpus = board.vcpus;
    this.power = new PsciPower(this.vcpus.length);
    this.resetSctlr = this.vcpus.map((v) => v.sysreg(SR.SCTLR_EL1));
    this.vcpus.forEach((v, i) => {
      const hyp = hyps[i]!;
      // Each vCPU's identity (KVM's reset_mpidr): VMPIDR_EL2, which MPIDR_EL1 reads return at EL1.
      const mpidr = MPIDR_RES1 | mpidrAffinity(i);
      hyp.mpidr = mpidrAffinity(i);
      hyp.el2.set('VMPIDR_EL2', mpidr);
      hyp.sysregs.features = hyp.sysregs.features.withOverrides({ MPIDR_EL1: mpidr });
      // EL1 reads of MPIDR_EL1 run natively (no trap, as on hardware): the core's VMPIDR_EL2 answers them.
      v.setSysreg(VMPIDR_EL2, mpidr);
      hyp.psciSmp = (args) => {
        const o = psciSmpCall(this.power, i, args);
        if (o === null) return null;
        this.act(o.action);
        return BigInt.asUintN(64, BigInt(o.ret));
      };
      v.smpYield = true;
    });
    this.sched = new SmpScheduler(this.vcpus.map((v, i) => this.schedCpu(v, i)));
    // Wake-ups (smp-scheduler.ts): an interrupt a vCPU's instruction makes pending for another
    // vCPU (an SGI, an ITS INT's LPI, an SPI routed there) hands that vCPU the turn; it gives
    // the turn back at its next EOI.
    const gic = board.gic;
    const lineChanged = gic.onChange;
    gic.onChange = () => {
      lineChanged?.();
      this.linesChanged();
    };
    gic.onEoi = (pe: number) => {
      if (pe !== this.running || this.sched.handedTo !== pe) return;
      this.sched.handedTo = -1;
      this.vcpus[pe]!.endQuantum();
    };
  }

  /** After a GIC line change: every other powered vCPU whose IRQ line rose is handed the turn by the running one. */
  private linesChanged(): void {
    const from = this.running;
    const lines = this.sched.lines;
    for (let j = 0; j < this.vcpus.length; j++) {
      // The cached line (recomputed by the GIC just now); no timer update here, it would recurse.
      const up = this.vcpus[j]!.irqSource?.irqPending() === true;
      const rose = up && !lines[j];
      lines[j] = up;
      if (rose && from >= 0 && j !== from && this.power.state(j) !== 'off') this.handOver(from, j);
    }
  }

  /** vCPU `from` woke vCPU `to`: its quantum ends at this instruction, so `to` runs next in the round. */
  private handOver(from: number, to: number): void {
    this.sched.wokeBy(from, to);
    this.vcpus[from]!.endQuantum();
  }

  /**
   * Machine snapshots (machine/snapshot.ts, component `smp`): the PSCI power states and the
   * scheduler's position. Everything else here is wiring made from the configuration (each
   * vCPU's VMPIDR_EL2 is in its EL2 model's registers, its CPU core's in the vCPU's).
   */
  snapshot(ctx: SnapshotContext): StateValue {
    return { power: this.power.snapshot(ctx), sched: this.sched.snapshot(ctx) };
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    const s = state as Record<string, StateValue> | null;
    if (s === null || typeof s !== 'object' || s['power'] === undefined || s['sched'] === undefined) throw new SnapshotFormatError('smp: no power states or scheduler');
    this.power.restore(s['power'], ctx);
    this.sched.restore(s['sched'], ctx);
  }

  /** Retired instructions of all vCPUs. */
  get instructions(): number {
    return this.sched.instructions;
  }

  /** The machine's virtual time: the latest clock of a powered vCPU (smp-scheduler.ts). */
  get virtualTimeNs(): number {
    return this.sched.nowNs;
  }

  /** Run up to `budget` instructions over all vCPUs. */
  run(budget: number): SchedResult {
    return this.sched.run(budget);
  }

  /** The halt a vCPU reported (the lowest-numbered one that halted). */
  halt(): HaltReason | null {
    for (const v of this.vcpus) if (v.halted !== null) return v.halted;
    return null;
  }

  private act(a: PowerAction): void {
    switch (a.kind) {
      case 'start': {
        this.reset(this.vcpus[a.cpu]!, a.entry, a.context, this.resetSctlr[a.cpu]!);
        this.power.started(a.cpu);
        this.sched.wake(a.cpu);
        if (this.running >= 0 && this.running !== a.cpu) this.handOver(this.running, a.cpu);
        return;
      }
      case 'stop':
        this.vcpus[a.cpu]!.endQuantum();
        return;
      case 'suspend':
        // Standby (KVM's treatment of every power state): a WFI that returns SUCCESS on wake-up.
        this.vcpus[a.cpu]!.waitForInterrupt();
        return;
      case 'none':
        return;
    }
  }

  /** CPU_ON's boot state (DEN0022 6.4.3): entry point, X0 = context id, other GPRs 0, EL1h masked, MMU off. */
  private reset(v: Vcpu, entry: bigint, context: bigint, sctlr: bigint): void {
    // PSTATE first, then a CP_REG write, which rebuilds QEMU's cached flags (DESIGN.md).
    v.uc.regWrite(Reg.PSTATE, PSTATE_EL1H_MASKED);
    v.setSysreg(SR.SCTLR_EL1, sctlr);
    for (let n = 0; n < 31; n++) v.setX(n, 0n);
    v.setX(0, context);
    v.pc = vaFromBigint(entry);
    v.flushTlb();
  }

  private schedCpu(v: Vcpu, i: number): SchedCpu {
    const power = this.power;
    return {
      get powered() {
        return power.state(i) !== 'off';
      },
      get instructions() {
        return v.instructions;
      },
      get timeNs() {
        return v.virtualTimeNs;
      },
      runFor: (n: number): CpuRunResult => {
        this.onRun?.(i);
        const before = v.instructions;
        if (this.sched.handedTo !== i) this.sched.handedTo = -1;
        this.running = i;
        const halted = v.runFor(n);
        this.running = -1;
        if (halted !== null) return 'halt';
        if (power.state(i) === 'off') return 'off';
        if (v.idleWaiting) return 'idle';
        if (v.yielded) return 'yield';
        return v.instructions - before < n ? 'paused' : 'ran';
      },
      catchUp: (ns: number) => v.clock.wait(ns - v.virtualTimeNs),
      interruptPending: () => {
        v.timerSource?.update();
        return v.irqSource?.irqPending() ?? false;
      },
      nextDeadlineNs: () => {
        v.timerSource?.update();
        const dl = v.timerSource?.nextDeadline() ?? null;
        return dl === null ? null : v.clock.ticksToNs(dl);
      },
      get events() {
        return v.eventSeq;
      },
      // The code at PC as this vCPU would fetch it, walked without the TLB model (no statistics
      // move), once per 1 KiB page (the loop is at most 16 instructions: one or two pages).
      inSpinLoop: () => {
        let page = -1;
        let base = -1;
        return inSpinLoop(v.pc, (va) => {
          const p = va - (va % 0x400);
          if (p !== page) {
            const t = v.translator.probe(p, Access.FETCH, v.el);
            page = p;
            base = t.ok && v.ram.contains(t.pa, 0x400) ? t.pa : -1;
          }
          return base < 0 ? null : v.ram.read32(base + (va - p));
        });
      },
    };
  }
}
