/**
 * The Machine's library events (machine.ts): `exit` (every EL2 exit a vCPU's model handled),
 * `interrupt` (every IRQ/FIQ/SError a vCPU takes) and `console`. The observers that produce them
 * stand between the vCPUs and their models only while someone listens, so a run without
 * listeners pays nothing.
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import { SR } from '../emulator/cpu/sysregs.js';
import { ExitObserver, type ExitEvent, type InterruptEvent, type MachineEventMap, type MachineEventName } from './events.js';

export class MachineEvents {
  private readonly listeners: { [K in MachineEventName]: Array<MachineEventMap[K]> } = { exit: [], console: [], interrupt: [] };
  private interruptObserver = false;
  private exitObserving = false;

  constructor(
    private readonly board: VirtMachine,
    private readonly hyps: readonly Hypervisor[],
  ) {}

  on<K extends MachineEventName>(event: K, listener: MachineEventMap[K]): void {
    (this.listeners[event] as Array<MachineEventMap[K]>).push(listener);
    if (event === 'exit') this.updateExitObserver();
    if (event === 'interrupt') this.observeInterrupts();
  }

  off<K extends MachineEventName>(event: K, listener: MachineEventMap[K]): void {
    const list = this.listeners[event] as Array<MachineEventMap[K]>;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (event === 'exit') this.updateExitObserver();
  }

  get hasConsoleListeners(): boolean {
    return this.listeners.console.length > 0;
  }

  /** Console text written by vCPU `vcpu`, to the `console` listeners. */
  console(text: string, vcpu = 0): void {
    if (this.listeners.console.length === 0) return;
    const e = { type: 'console' as const, vcpu, text };
    for (const l of this.listeners.console) l(text, e);
  }

  /** The exit observers stand between the vCPUs and their models only while someone listens. */
  private updateExitObserver(): void {
    const vcpus = this.board.vcpus;
    if (this.listeners.exit.length > 0 && !this.exitObserving) {
      this.exitObserving = true;
      vcpus.forEach((v, i) => (v.el2 = new ExitObserver(this.hyps[i]!, (e) => this.emitExit(e), i)));
    } else if (this.listeners.exit.length === 0 && this.exitObserving) {
      this.exitObserving = false;
      vcpus.forEach((v, i) => (v.el2 = this.hyps[i]!));
    }
  }

  /** Chained onto each vCPU's exception observer once (the debugger chains onto it too); idle without listeners. */
  private observeInterrupts(): void {
    if (this.interruptObserver) return;
    this.interruptObserver = true;
    this.board.vcpus.forEach((v, index) => {
      const previous = v.onException;
      v.onException = (kind, esr, targetEl) => {
        previous?.(kind, esr, targetEl);
        if (kind === 'sync' || this.listeners.interrupt.length === 0) return;
        const e: InterruptEvent = {
          type: 'interrupt', vcpu: index, kind, instructions: v.currentInstructions, virtualTimeNs: v.virtualTimeNs, pc: v.sysreg(SR.ELR_EL1),
        };
        for (const l of this.listeners.interrupt) l(e);
      };
    });
  }

  private emitExit(e: ExitEvent): void {
    for (const l of this.listeners.exit) l(e);
  }
}
