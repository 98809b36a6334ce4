/**
 * Arm PrimeCell UART (PL011), as the register model Linux's drivers/tty/serial/amba-pl011.c
 * and earlycon drive. Reference: "PrimeCell UART (PL011) Technical Reference Manual",
 * Arm DDI0183 (r1p5), chapter 3 "Programmers Model" (register map, Table 3-1; reset values)
 * and section 2.8 "Interrupts".
 *
 * Modelling choices (each keeps the guest-visible contract and determinism):
 * - Transmission is instantaneous: a byte written to DR goes to the output sink at once, so
 *   the TX FIFO is always empty: FR.TXFE = 1, FR.TXFF = 0, FR.BUSY = 0.
 * - Input is a host-side queue (the "wire") feeding a RX FIFO of 16 entries (1 with
 *   LCR_H.FEN = 0). Bytes wait on the wire while the FIFO is full, so none are ever lost
 *   and there are no overrun errors. FIFO depth is 16 because PeriphID2 says revision 1
 *   (0x14, as QEMU), and Linux sizes the FIFO from that: fifosize = rev < 3 ? 16 : 32.
 * - The receive timeout (RTINTR: "FIFO not empty and no more data for 32 bit periods") is
 *   taken as expired as soon as data arrives; virtual time has no bit periods, and a guest
 *   must see input below the RX trigger level.
 * - Like QEMU, data is transmitted and received whatever CR.UARTEN/TXE/RXE say: early
 *   console code writes DR without enabling the UART.
 * - The far end of the wire is a terminal with hardware flow control: it sends only while the
 *   UART asserts RTS (UARTCR.RTS, DDI0183 3.3.8; or always with RTSEN, whose automatic RTS
 *   only deasserts when the FIFO is full, which never loses a byte here). A driver raises RTS
 *   when its tty is opened (Linux: uart_port_dtr_rts after pl011_startup, which first drains
 *   and discards whatever the FIFO held), so input piped in before the guest's shell exists
 *   waits on the wire instead of being thrown away (QEMU loses it). A guest that never writes
 *   UARTCR (firmware-style code, kvm-unit-tests) uses the UART as reset left it and is sent
 *   input at once, as if flow control were off.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';
import { VIRT } from '../platform/memmap.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

/** Register offsets, DDI0183 Table 3-1. */
export const PL011_REG = {
  DR: 0x000,
  RSR_ECR: 0x004,
  FR: 0x018,
  ILPR: 0x020,
  IBRD: 0x024,
  FBRD: 0x028,
  LCR_H: 0x02c,
  CR: 0x030,
  IFLS: 0x034,
  IMSC: 0x038,
  RIS: 0x03c,
  MIS: 0x040,
  ICR: 0x044,
  DMACR: 0x048,
  PERIPH_ID0: 0xfe0,
  PCELL_ID0: 0xff0,
} as const;

/** UARTFR bits, DDI0183 3.3.3. */
export const FR = {
  CTS: 1 << 0,
  DSR: 1 << 1,
  DCD: 1 << 2,
  BUSY: 1 << 3,
  RXFE: 1 << 4,
  TXFF: 1 << 5,
  RXFF: 1 << 6,
  TXFE: 1 << 7,
  RI: 1 << 8,
} as const;

/** Interrupt bits shared by IMSC/RIS/MIS/ICR, DDI0183 3.3.12-3.3.15. */
export const INT = {
  RIM: 1 << 0,
  CTSM: 1 << 1,
  DCDM: 1 << 2,
  DSRM: 1 << 3,
  RX: 1 << 4,
  TX: 1 << 5,
  RT: 1 << 6,
  FE: 1 << 7,
  PE: 1 << 8,
  BE: 1 << 9,
  OE: 1 << 10,
} as const;
const INT_ALL = 0x7ff;

/** UARTCR bits, DDI0183 3.3.8. */
export const CR = {
  UARTEN: 1 << 0,
  SIREN: 1 << 1,
  SIRLP: 1 << 2,
  LBE: 1 << 7,
  TXE: 1 << 8,
  RXE: 1 << 9,
  DTR: 1 << 10,
  RTS: 1 << 11,
  OUT1: 1 << 12,
  OUT2: 1 << 13,
  RTSEN: 1 << 14,
  CTSEN: 1 << 15,
} as const;

/** UARTLCR_H.FEN (FIFO enable), DDI0183 3.3.7. */
export const LCR_H_FEN = 1 << 4;

/** PeriphID0-3 then PCellID0-3 (DDI0183 3.3.17-3.3.24): part 0x011, designer 0x41 (Arm), revision 1. */
export const PL011_ID_BYTES = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1] as const;

export const PL011_FIFO_DEPTH = 16;

/** Reset values, DDI0183 Table 3-1. */
const RESET = { CR: 0x0300, IFLS: 0x12 } as const;

/** IFLS RXIFLSEL/TXIFLSEL encodings 0..4 = 1/8, 1/4, 1/2, 3/4, 7/8 full (DDI0183 3.3.9). */
const TRIGGER_EIGHTHS = [1, 2, 4, 6, 7] as const;

export interface Pl011Options {
  base?: number;
  name?: string;
  onIrqChange?: (level: boolean) => void;
  /** Called for accesses the TRM calls undefined (reserved offsets, odd lanes); default: ignore. */
  onGuestError?: (message: string) => void;
}

export class Pl011 implements Snapshottable, MmioDevice {
  /** Machine snapshots (emulator/snapshot/state.ts): every data field except name, base, size (wiring, host resources). */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['name', 'base', 'size', 'onStateChange']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
    this.onStateChange?.();
  }

  readonly name: string;
  readonly base: number;
  readonly size = 0x1000;
  /** Interrupt line change (the GIC wires this to SPI 1); called only on transitions. */
  onIrqChange: ((level: boolean) => void) | undefined;
  /**
   * Called when state a cached answer depends on may have changed outside a register access
   * (input arrived, reset, restore): the native console window (pl011-window.ts) refreshes.
   */
  onStateChange: (() => void) | undefined;
  private readonly onGuestError: ((message: string) => void) | undefined;

  private rxQueue: number[] = [];
  private rxHead = 0;
  private ilpr = 0;
  private ibrd = 0;
  private fbrd = 0;
  private lcrH = 0;
  private cr: number = RESET.CR;
  private ifls: number = RESET.IFLS;
  private imsc = 0;
  private ris = 0;
  private dmacr = 0;
  private lastLevel = false;
  /** The guest has written UARTCR since reset: from then on the wire honours its RTS. */
  private crWritten = false;

  constructor(
    private readonly output: (byte: number) => void,
    opts: Pl011Options = {},
  ) {
    this.base = opts.base ?? VIRT.UART0.base;
    this.name = opts.name ?? 'pl011';
    this.onIrqChange = opts.onIrqChange;
    this.onGuestError = opts.onGuestError;
  }

  /** Back to the TRM reset state. Queued input stays on the wire. */
  reset(): void {
    this.ilpr = this.ibrd = this.fbrd = this.lcrH = this.imsc = this.ris = this.dmacr = 0;
    this.cr = RESET.CR;
    this.crWritten = false;
    this.ifls = RESET.IFLS;
    this.rxArrival();
    this.updateIrq();
    this.onStateChange?.();
  }

  /** Bytes arriving on the receive line (e.g. the CLI's stdin). */
  pushInput(bytes: Uint8Array | readonly number[] | string): void {
    const before = this.rxLevel();
    const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
    for (const b of data) this.rxQueue.push(b & 0xff);
    if (this.rxLevel() !== before) this.rxArrival();
    this.updateIrq();
    this.onStateChange?.();
  }

  /**
   * UARTDR writes performed in order, as `write(DR)` per byte would (the coalesced ring's
   * drain). Only while coalescable(DR) holds, which the ring's owner checks before buffering:
   * then each byte just leaves on the wire and TXRIS stays set.
   */
  transmitMany(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.transmit(bytes[i]!);
    this.updateIrq();
  }

  /** UARTFR as a read would return it now (reading it has no side effect). */
  flagsNow(): number {
    return this.flags();
  }

  /** Bytes waiting on the wire or in the FIFO, not yet read by the guest. */
  pendingInput(): number {
    return this.rxQueue.length - this.rxHead;
  }

  /** The guest listens for input: a receive interrupt (RXIM or RTIM) is unmasked (DDI0183 3.3.12). */
  listening(): boolean {
    return (this.imsc & (INT.RX | INT.RT)) !== 0;
  }

  /** The far end may send: RTS asserted (or automatic with RTSEN), or UARTCR never written (see the header). */
  private rtsAsserted(): boolean {
    return !this.crWritten || (this.cr & (CR.RTS | CR.RTSEN)) !== 0;
  }

  /** The UARTINTR line: the OR of the masked interrupts (UARTMIS != 0). */
  irqLevel(): boolean {
    return (this.ris & this.imsc) !== 0;
  }

  read(offset: number, size: AccessSize): number {
    const reg = offset & ~3;
    const shift = (offset & 3) * 8;
    if (shift + size * 8 > 32) {
      this.guestError(`read of ${size} bytes at +0x${offset.toString(16)} crosses a register`);
      return 0;
    }
    const v = this.readReg(reg, shift === 0);
    const mask = size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
    return ((v >>> shift) & mask) >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if ((offset & 3) !== 0 || size > 4) {
      this.guestError(`write of ${size} bytes at +0x${offset.toString(16)} is not a register access`);
      return;
    }
    this.writeReg(offset, value >>> 0);
  }

  // --- registers -----------------------------------------------------------------------

  private readReg(reg: number, lowLane: boolean): number {
    switch (reg) {
      case PL011_REG.DR:
        // Only an access that includes bits 7:0 pops the FIFO (a byte read of the error
        // flags in bits 11:8 should not consume a character).
        return lowLane ? this.popRx() : 0;
      case PL011_REG.RSR_ECR:
        return 0; // no framing/parity/break/overrun errors on a virtual wire
      case PL011_REG.FR:
        return this.flags();
      case PL011_REG.ILPR:
        return this.ilpr;
      case PL011_REG.IBRD:
        return this.ibrd;
      case PL011_REG.FBRD:
        return this.fbrd;
      case PL011_REG.LCR_H:
        return this.lcrH;
      case PL011_REG.CR:
        return this.cr;
      case PL011_REG.IFLS:
        return this.ifls;
      case PL011_REG.IMSC:
        return this.imsc;
      case PL011_REG.RIS:
        return this.ris;
      case PL011_REG.MIS:
        return this.ris & this.imsc;
      case PL011_REG.ICR:
        return 0; // write-only
      case PL011_REG.DMACR:
        return this.dmacr;
      default:
        if (reg >= PL011_REG.PERIPH_ID0 && reg <= 0xffc) return PL011_ID_BYTES[(reg - PL011_REG.PERIPH_ID0) >> 2] ?? 0;
        this.guestError(`read of reserved offset +0x${reg.toString(16)}`);
        return 0;
    }
  }

  /**
   * A UARTDR write may be coalesced (buffered at EL2 and performed at the next
   * exit) when it cannot move the interrupt line: not in loopback (the byte
   * would arrive as input), and TXRIS already set or TXIM clear (transmit sets
   * TXRIS). Everything else a DR write does is the console output itself.
   */
  coalescable(offset: number, size: AccessSize): boolean {
    if (offset !== PL011_REG.DR || size > 4) return false;
    return (this.cr & CR.LBE) === 0 && ((this.ris & INT.TX) !== 0 || (this.imsc & INT.TX) === 0);
  }

  private writeReg(reg: number, v: number): void {
    switch (reg) {
      case PL011_REG.DR:
        this.transmit(v & 0xff);
        break;
      case PL011_REG.RSR_ECR:
        break; // ECR: any write clears the (always clear) error flags
      case PL011_REG.FR:
        break; // read-only
      case PL011_REG.ILPR:
        this.ilpr = v & 0xff;
        break;
      case PL011_REG.IBRD:
        this.ibrd = v & 0xffff;
        break;
      case PL011_REG.FBRD:
        this.fbrd = v & 0x3f;
        break;
      case PL011_REG.LCR_H: {
        const oldFen = this.lcrH & LCR_H_FEN;
        this.lcrH = v & 0xff;
        // The FIFO depth changed: re-evaluate the receive trigger against the new depth.
        if ((this.lcrH & LCR_H_FEN) !== oldFen) this.rxArrival();
        break;
      }
      case PL011_REG.CR: {
        const wasOpen = this.rtsAsserted();
        this.cr = v & 0xff87; // bits 6:3 are reserved
        this.crWritten = true;
        if (this.rtsAsserted() !== wasOpen) {
          // RTS raised: what waited on the wire enters the FIFO; lowered: the FIFO keeps it.
          this.rxArrival();
          this.onStateChange?.();
        }
        break;
      }
      case PL011_REG.IFLS:
        this.ifls = v & 0x3f;
        break;
      case PL011_REG.IMSC:
        this.imsc = v & INT_ALL;
        break;
      case PL011_REG.ICR:
        this.ris &= ~(v & INT_ALL);
        break;
      case PL011_REG.DMACR:
        this.dmacr = v & 0x7; // stored; there is no DMA controller, Linux only uses it with "dmas"
        break;
      case PL011_REG.RIS:
      case PL011_REG.MIS:
        break; // read-only
      default:
        this.guestError(`write 0x${v.toString(16)} to ${reg >= PL011_REG.PERIPH_ID0 ? 'ID register' : 'reserved offset'} +0x${reg.toString(16)}`);
        return;
    }
    this.updateIrq();
  }

  // --- FIFO and interrupt logic (DDI0183 2.8 "Interrupts") -------------------------------

  private depth(): number {
    return this.lcrH & LCR_H_FEN ? PL011_FIFO_DEPTH : 1;
  }

  /**
   * Characters in the RX FIFO: the first `depth` bytes of the wire while RTS lets them come.
   * (Simplification: lowering RTS again also holds back unread bytes; a driver lowers it only
   * when its tty closes, and they are there when it reopens.)
   */
  private rxLevel(): number {
    return this.rtsAsserted() ? Math.min(this.rxQueue.length - this.rxHead, this.depth()) : 0;
  }

  /** RX interrupt threshold in characters: the IFLS level with FIFOs on, one character off. */
  private rxTrigger(): number {
    if (!(this.lcrH & LCR_H_FEN)) return 1;
    const sel = (this.ifls >> 3) & 7;
    // Reserved encodings (5-7) behave as the reset value 1/2 here.
    const eighths = TRIGGER_EIGHTHS[sel] ?? 4;
    return (PL011_FIFO_DEPTH * eighths) / 8;
  }

  /**
   * Data entered the RX FIFO. RXRIS is set when the level reaches the trigger (FIFO mode)
   * or the holding register fills (character mode); RTRIS is set because the FIFO is not
   * empty and, in virtual time, the timeout has run out.
   */
  private rxArrival(): void {
    const level = this.rxLevel();
    if (level === 0) return;
    this.ris |= INT.RT;
    if (level >= this.rxTrigger()) this.ris |= INT.RX;
  }

  private popRx(): number {
    if (this.rxLevel() === 0) return 0; // RXFE: the TRM leaves the value undefined
    const hadMoreOnWire = this.rxQueue.length - this.rxHead > this.depth();
    const b = this.rxQueue[this.rxHead++] as number;
    if (this.rxHead > 4096 && this.rxHead * 2 > this.rxQueue.length) {
      this.rxQueue = this.rxQueue.slice(this.rxHead);
      this.rxHead = 0;
    }
    const level = this.rxLevel();
    // "The receive interrupt is cleared by reading data from the receive FIFO until it
    // becomes less than the trigger level"; "the receive timeout interrupt is cleared ...
    // when the FIFO becomes empty through reading all the data".
    if (level < this.rxTrigger()) this.ris &= ~INT.RX;
    if (level === 0) this.ris &= ~INT.RT;
    if (hadMoreOnWire) this.rxArrival(); // the next byte on the wire moves into the FIFO
    this.updateIrq();
    return b;
  }

  private transmit(byte: number): void {
    if (this.cr & CR.LBE) {
      // Loopback (CR.LBE, DDI0183 3.3.8): UARTTXD is fed to UARTRXD; nothing leaves the chip.
      this.pushInput([byte]);
    } else {
      this.output(byte);
    }
    // The byte left the TX FIFO at once, so the FIFO level went through the TX trigger
    // level and TXRIS is set (DDI0183 2.8.3: based on the transition, not on the level;
    // cleared by ICR or by writing data above the trigger, which never lasts here).
    this.ris |= INT.TX;
  }

  private flags(): number {
    let f = FR.TXFE;
    const level = this.rxLevel();
    if (level === 0) f |= FR.RXFE;
    if (level >= this.depth()) f |= FR.RXFF;
    if (this.cr & CR.LBE) {
      // In loopback the modem outputs drive the modem inputs (DDI0183 3.3.8, LBE).
      if (this.cr & CR.RTS) f |= FR.CTS;
      if (this.cr & CR.DTR) f |= FR.DSR;
      if (this.cr & CR.OUT1) f |= FR.DCD;
      if (this.cr & CR.OUT2) f |= FR.RI;
    } else {
      // A terminal is always attached and ready: CTS, DSR, DCD asserted, no ring. With CTS
      // low, a tty with CRTSCTS would stop transmitting for good.
      f |= FR.CTS | FR.DSR | FR.DCD;
    }
    return f;
  }

  private updateIrq(): void {
    const level = this.irqLevel();
    if (level !== this.lastLevel) {
      this.lastLevel = level;
      this.onIrqChange?.(level);
    }
  }

  private guestError(msg: string): void {
    this.onGuestError?.(`${this.name}: ${msg}`);
  }
}
