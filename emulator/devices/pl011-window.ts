/**
 * The PL011's native console window (issue 10: console output at 10 MB/s or more). The UART's
 * page is mapped in the CPU core with native read/write callbacks (emulator/unicorn/native/
 * uart-mmio.c) that complete the two accesses of a console loop without leaving C: a UARTDR
 * write goes into a ring, a UARTFR read returns a cached value. Both answers come from the
 * device model (pl011.ts stays the one owner of PL011 semantics): the ring is drained into
 * Pl011.transmitMany in order, and the window may take a DR write only while
 * Pl011.coalescable(DR) says the write cannot move the interrupt line; the FR value is the
 * model's, refreshed whenever anything it depends on may have changed.
 *
 * Every other access (and DR/FR while caching is off) reaches `slow`, which drains the ring
 * first, so the device sees every access in program order, then performs the access on the
 * model. Such an access may move the UART's interrupt line, which the vCPU must see right after
 * the instruction, as after an exit: the C callback first restarts the instruction as a block of
 * its own (QEMU's cpu_io_recompile; native/uart-mmio.c io_recompile), so the stop
 * the line change asks for falls right after it. That needs per-block counting: under Unicorn's
 * per-instruction count a stop from inside the callback (uc_emu_stop) makes Unicorn 2.1.1 run the
 * store a second time on resume (measured), so the window is not used then
 * (fill-handler.ts NativeMmioWindow.exactStops, Unicorn.exactIoStops).
 *
 * Whether the window is used at all is the EL2 model's decision (hyp/coalesced-mmio.ts): the
 * vCPU's fill hook maps the page to it only while `allowed()` says so.
 */
import type { NativeUart, Unicorn } from '../unicorn/uc.js';
import { PL011_REG, type Pl011 } from './pl011.js';
import type { AccessSize } from '../memory/bus.js';

const FLAG_TX = 1;
const FLAG_FR = 2;
const FLAG_NL = 4;

export class Pl011Window {
  /** Ring drains, and accesses performed through `slow` (both counted for the stats). */
  drains = 0;
  slowAccesses = 0;
  private caching = false;
  private lineMode = true;

  private constructor(
    private readonly uart: Pl011,
    private readonly win: NativeUart,
  ) {
    uart.onStateChange = () => this.refresh();
  }

  /** Map the window over the UART's page; null when the native library is not there (every access then exits). */
  static create(uc: Unicorn, uart: Pl011): Pl011Window | null {
    let w: Pl011Window | null = null;
    const win = uc.mapNativeUart(uart.base, uart.size, (off, size, write, value) => w!.slow(off, size, write, value), () => w!.drain());
    if (win === null) return null;
    w = new Pl011Window(uart, win);
    return w;
  }

  get base(): number {
    return this.uart.base;
  }
  get size(): number {
    return this.uart.size;
  }

  /** UARTDR writes and UARTFR reads the window completed itself. */
  get nativeWrites(): number {
    return Number(this.win.counters[0]!);
  }
  get nativeReads(): number {
    return Number(this.win.counters[1]!);
  }

  /** Set every counter (a machine restored from a snapshot counts on). */
  setCounters(c: { writes: number; reads: number; slow: number; drains: number }): void {
    this.win.counters[0] = BigInt(c.writes);
    this.win.counters[1] = BigInt(c.reads);
    this.slowAccesses = c.slow;
    this.drains = c.drains;
  }

  /** Let the window answer DR writes and FR reads (true) or send everything to `slow` (false). */
  setCaching(on: boolean): void {
    if (!on) this.drain();
    this.caching = on;
    this.refresh();
  }

  /**
   * Drain the ring at every newline (true: whoever reads the console sees each line as the guest
   * completes it) or only when full, before any other UART access and when the vCPU stops.
   */
  setLineMode(on: boolean): void {
    this.lineMode = on;
    this.refresh();
  }

  /** Re-read what the window caches from the device model. */
  refresh(): void {
    const ctl = this.win.ctl;
    if (!this.caching) {
      ctl[0] = 0;
      return;
    }
    ctl[1] = this.uart.flagsNow();
    ctl[0] = FLAG_FR | (this.uart.coalescable(PL011_REG.DR, 4) ? FLAG_TX : 0) | (this.lineMode ? FLAG_NL : 0);
  }

  /** Perform the buffered DR writes on the device, in order. */
  drain(): void {
    const ctl = this.win.ctl;
    const n = ctl[2]!;
    if (n === 0) return;
    ctl[2] = 0;
    this.drains++;
    this.uart.transmitMany(this.win.ring.subarray(0, n));
  }

  private slow(offset: number, size: number, write: boolean, value: number): number {
    this.drain();
    this.slowAccesses++;
    let r = 0;
    if (write) this.uart.write(offset, size as AccessSize, value);
    else r = this.uart.read(offset, size as AccessSize);
    this.refresh();
    return r;
  }
}
