/**
 * What a vCPU (vcpu.ts) is built from and connected to: its options, the interrupt controller's
 * IRQ line and the timers that bound its slices (the board wires both), and the exception
 * counters it keeps for the statistics.
 */
import type { GuestRam } from '../memory/ram.js';

export interface VcpuOptions {
  ramBase: number;
  ramSize: number;
  /** Another vCPU's guest RAM to map (SMP: every vCPU's core maps the same host memory). */
  ram?: GuestRam;
  /** This vCPU's number (MPIDR Aff0 on the virt board). */
  index?: number;
  /** Instructions per uc_emu_start slice. */
  sliceInsns?: number;
}

/** The interrupt controller's IRQ output to this CPU. */
export interface IrqSource {
  irqPending(): boolean;
}

/** Timers: re-evaluated at slice boundaries; their next deadline (counter ticks) bounds the slice. */
export interface TimerSource {
  update(): void;
  nextDeadline(): bigint | null;
}

export interface ExceptionCounters {
  total: number;
  /** By target EL then exception-class name: { EL1: { svc64: 2 }, EL2: { hvc64: 1 } }. */
  byTarget: Record<string, Record<string, number>>;
}
