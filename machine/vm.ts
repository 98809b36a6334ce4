/**
 * The VM a Machine runs (machine.ts): the virt board with its vCPUs, one EL2 model per vCPU
 * (KVM's kvm_vcpu) sharing the first one's stage 2 (struct kvm), and with --smp the PSCI power
 * model and scheduler over them (smp.ts); and one run-loop step over it.
 */
import { VirtMachine } from '../emulator/platform/virt.js';
import { VIRT } from '../emulator/platform/memmap.js';
import { HostMemoryError } from '../emulator/unicorn/uc.js';
import { Hypervisor } from '../hyp/hypervisor.js';
import { sizeText, type ResolvedConfig } from './config.js';
import { ConfigError } from './errors.js';
import type { RunEnd } from './exit-status.js';
import { SmpVm } from './smp.js';
import type { IdleClock } from './idle-wait.js';

export interface Vm {
  readonly board: VirtMachine;
  /** Every vCPU's EL2 model, by vCPU index. */
  readonly hyps: Hypervisor[];
  /** --smp > 1: the PSCI power model and the scheduler over the vCPUs. */
  readonly smp: SmpVm | null;
}

/** Build the board and attach an EL2 model to each vCPU. `uartOut` takes each transmitted byte. */
export function assembleVm(config: ResolvedConfig, uartOut: (byte: number) => void): Vm {
  let board: VirtMachine;
  try {
    board = new VirtMachine({ ramSize: config.ram.size, uartOut, gic: config.gic, seed: config.seed, cpus: config.smp });
  } catch (e) {
    if (e instanceof HostMemoryError) throw new ConfigError(`--mem ${sizeText(config.ram.size)}: ${e.message}`);
    throw e;
  }
  // One EL2 model per vCPU (KVM's kvm_vcpu), the first one's stage 2 shared by all (struct kvm).
  const first = new Hypervisor(config.hyp);
  const hyps = [first];
  for (let i = 1; i < config.smp; i++) hyps.push(new Hypervisor(config.hyp, { stage2: first.stage2 }));
  board.vcpus.forEach((v, i) => {
    const hyp = hyps[i]!;
    hyp.attach(v, { ram: config.ram, passthrough: VIRT.PASSTHROUGH, console: i === 0 ? board.uartWindow : null });
    // MDCR_EL2.HPMN = PMCR_EL0.N: all event counters belong to the guest, as KVM sets it
    // (kvm_arm_setup_mdcr_el2 keeps the host's HPMN), or --pmu-counters; TPM/TPMCR clear.
    const pmuN = board.cpus[i]!.pmu.n;
    // --trap-debug: MDCR_EL2.TDE (bit 8), the guest's debug exceptions to EL2 (Arm ARM D2.3).
    const tde = config.hyp.trapDebug ? 1n << 8n : 0n;
    hyp.el2.set('MDCR_EL2', (hyp.el2.get('MDCR_EL2') & ~0x1fn) | BigInt(Math.min(config.hyp.pmuCounters ?? pmuN, pmuN)) | tde);
    // A WFI with no interrupt pending and no timer armed returns from runFor (vcpu.idleWaiting):
    // only console input can wake the guest, and the run loop waits for it without spinning.
    v.returnWhenIdle = true;
  });
  board.virtualOffset = (i) => hyps[i]!.el2.get('CNTVOFF_EL2');
  board.debugControl = (i) => hyps[i]!.el2.get('MDCR_EL2');
  return { board, hyps, smp: config.smp > 1 ? new SmpVm(board, hyps) : null };
}

/** Run up to `budget` instructions: one vCPU directly, several through the SMP scheduler. */
export function stepVm(vm: Vm, budget: number): { halt: RunEnd | null; idle: boolean } {
  const smp = vm.smp;
  if (smp === null) {
    const vcpu = vm.board.vcpu;
    return { halt: vcpu.runFor(budget), idle: vcpu.idleWaiting };
  }
  const r = smp.run(budget);
  // Every vCPU off (PSCI CPU_OFF on the last one on): nothing can run again.
  if (r === 'off') return { halt: { kind: 'system-off' }, idle: false };
  return { halt: r === 'halt' ? smp.halt() : null, idle: r === 'idle' };
}

/** The side of a paced idle wait (machine/idle-wait.ts): one vCPU, or the SMP scheduler over several. */
export function idleClock(vm: Vm): IdleClock {
  const smp = vm.smp;
  if (smp !== null) {
    const sched = smp.sched;
    return { nowNs: sched.nowNs, idleDeadlineNs: sched.idleDeadlineNs, endIdleWait: (ns) => sched.endIdleWait(ns) };
  }
  const v = vm.board.vcpu;
  return { nowNs: v.virtualTimeNs, idleDeadlineNs: v.idleDeadlineNs, endIdleWait: (ns) => v.endIdleWait(ns) };
}
