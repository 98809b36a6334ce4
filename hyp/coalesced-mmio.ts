/**
 * Coalesced MMIO, as KVM's KVM_REGISTER_COALESCED_MMIO (virt/kvm/coalesced_mmio.c): a guest
 * write to a device register that tolerates it (the PL011's UARTDR) completes at EL2 on the
 * fast path, into a ring, without a world switch or a return to user space; the ring is
 * drained into the device model, in order, before any other exit is handled (so a status read
 * sees every earlier write), at a newline (console output stays line-prompt), when the ring is
 * full, and when the vCPU stops running. The device decides what may be deferred
 * (MmioDevice.coalescable): never a write that would move an interrupt line.
 */
import type { MmioBus, AccessSize } from '../emulator/memory/bus.js';
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import type { Stage2AbortExit } from '../emulator/cpu/exits.js';

/** KVM's ring holds a page of entries; ours flushes at this many. */
const RING = 4096;

/** The native console window (emulator/devices/pl011-window.ts) as the EL2 model drives it. */
export interface ConsoleWindow {
  readonly base: number;
  readonly size: number;
  readonly nativeWrites: number;
  readonly nativeReads: number;
  readonly slowAccesses: number;
  readonly drains: number;
  setCaching(on: boolean): void;
  drain(): void;
  setCounters(c: { writes: number; reads: number; slow: number; drains: number }): void;
}

/** The vCPU's slot for it (fill-handler.ts NativeMmioWindow). */
export interface NativeMmioSlot {
  nativeMmio: { readonly base: number; readonly size: number; readonly readOnly?: boolean; readonly exactStops?: boolean; allowed(): boolean }[];
}

export class CoalescedMmio {
  /**
   * The console page in native code (issue 10, console at >= 10 MB/s): UARTDR writes go to a
   * ring in C and UARTFR reads are answered there, with no exit at all; every other UART access
   * is performed on the device model from the window's callback (also not an exit). Used only
   * while `allowed` holds: no one observes exits (an exit listener, --trace, the debugger see
   * every UART access as an exit, as without the window) and the fast path is on.
   */
  private window: ConsoleWindow | null = null;

  attachWindow(win: ConsoleWindow, vcpu: NativeMmioSlot, allowed: () => boolean): void {
    this.window = win;
    win.setCaching(true);
    // A slow UART access may move the interrupt line: the window needs the core to stop right after it.
    vcpu.nativeMmio.push({ base: win.base, size: win.size, exactStops: true, allowed });
  }

  /** A restored machine counts on from the saved counters. */
  setWindowStats(c: { writes: number; reads: number; slow: number; drains: number }): void {
    this.window?.setCounters(c);
  }

  /** Statistics of the window (null: not in use: the native library is not built). */
  windowStats(): { writes: number; reads: number; slow: number; drains: number } | null {
    const w = this.window;
    return w === null ? null : { writes: w.nativeWrites, reads: w.nativeReads, slow: w.slowAccesses, drains: w.drains };
  }

  private readonly ipa = new Float64Array(RING);
  private readonly size = new Uint8Array(RING);
  private readonly value = new Float64Array(RING);
  private len = 0;
  /** Writes completed on the fast path, and ring drains. */
  writes = 0;
  drains = 0;

  constructor(private readonly bus: () => MmioBus | null) {}

  /** The EL2 fast path for a stage-2 data abort: true when the write went into the ring. */
  tryWrite(cpu: GuestCpu, exit: Stage2AbortExit): boolean {
    const a = exit.access;
    if (exit.reason !== 'dabt_s2' || a === null || !a.write || a.size > 4) return false;
    const bus = this.bus();
    if (bus === null || !bus.coalescable(exit.ipa, a.size as AccessSize)) return false;
    const v = a.rt === 31 ? 0 : Number(BigInt.asUintN(a.size * 8, cpu.x(a.rt)));
    const i = this.len++;
    this.ipa[i] = exit.ipa;
    this.size[i] = a.size;
    this.value[i] = v;
    this.writes++;
    cpu.skipInstruction();
    if ((v & 0xff) === 0x0a || this.len === RING) this.drain();
    return true;
  }

  /** Perform every buffered write on the device model, in order. */
  drain(): void {
    this.window?.drain();
    if (this.len === 0) return;
    const bus = this.bus();
    const n = this.len;
    this.len = 0;
    this.drains++;
    for (let i = 0; i < n; i++) bus?.write(this.ipa[i]!, this.size[i] as AccessSize, BigInt(this.value[i]!));
  }
}
