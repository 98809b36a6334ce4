/**
 * PL011 UART register model: PrimeCell UART (PL011) TRM, Arm DDI0183, chapter 3 (register
 * map and reset values, Table 3-1) and section 2.8 (interrupts), checked against what
 * Linux's drivers/tty/serial/amba-pl011.c and the amba bus rely on.
 */
import { describe, expect, it } from 'vitest';
import { CR, FR, INT, LCR_H_FEN, PL011_REG as R, Pl011 } from '../../emulator/devices/pl011.js';
import { MmioBus } from '../../emulator/memory/bus.js';
import { VIRT } from '../../emulator/platform/memmap.js';

function uart() {
  const out: number[] = [];
  const irqs: boolean[] = [];
  const errors: string[] = [];
  const u = new Pl011((b) => out.push(b), { onIrqChange: (l) => irqs.push(l), onGuestError: (m) => errors.push(m) });
  const rd = (off: number): number => u.read(off, 4);
  const wr = (off: number, v: number): void => u.write(off, 4, v);
  return { u, out, irqs, errors, rd, wr };
}

const MODEM = FR.CTS | FR.DSR | FR.DCD;

describe('reset values (DDI0183 Table 3-1)', () => {
  it('CR = 0x300 (TXE, RXE), IFLS = 0x12 (1/2, 1/2), the rest 0', () => {
    const { rd, u } = uart();
    expect(rd(R.CR)).toBe(0x300);
    expect(rd(R.IFLS)).toBe(0x12);
    for (const r of [R.RSR_ECR, R.ILPR, R.IBRD, R.FBRD, R.LCR_H, R.IMSC, R.RIS, R.MIS, R.DMACR]) expect(rd(r)).toBe(0);
    expect(u.irqLevel()).toBe(false);
  });
  it('FR = TXFE | RXFE (0b-10010-XXX), modem inputs asserted, never BUSY or TXFF', () => {
    const { rd } = uart();
    expect(rd(R.FR)).toBe(FR.TXFE | FR.RXFE | MODEM);
  });
  it('PrimeCell identification: PeriphID 0x11 0x10 0x14 0x00, PCellID 0x0d 0xf0 0x05 0xb1 (3.3.17-3.3.24)', () => {
    const { rd } = uart();
    const ids = Array.from({ length: 8 }, (_, i) => rd(0xfe0 + i * 4));
    expect(ids).toEqual([0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    // The amba bus assembles them as Linux does (drivers/amba/bus.c): periphid 0x00141011, cid 0xb105f00d.
    const word = (base: number): number => [0, 1, 2, 3].reduce((v, i) => v | (rd(base + i * 4) << (i * 8)), 0) >>> 0;
    expect(word(0xfe0)).toBe(0x0014_1011);
    expect(word(0xff0)).toBe(0xb105_f00d);
  });
});

describe('data register and flags', () => {
  it('DR write sends the low byte to the sink, also for byte stores', () => {
    const { u, out, wr } = uart();
    wr(R.DR, 0x141);
    u.write(R.DR, 1, 0x42);
    expect(out).toEqual([0x41, 0x42]);
  });
  it('FR stays TXFE and not TXFF/BUSY however much is written (console polls both)', () => {
    const { rd, wr } = uart();
    for (let i = 0; i < 100; i++) wr(R.DR, 0x20);
    expect(rd(R.FR) & (FR.TXFF | FR.BUSY)).toBe(0);
    expect(rd(R.FR) & FR.TXFE).toBe(FR.TXFE);
  });
  it('DR read returns input bytes in order, RXFE tracks emptiness, empty reads return 0', () => {
    const { u, rd } = uart();
    u.pushInput('ab');
    expect(rd(R.FR) & FR.RXFE).toBe(0);
    expect(rd(R.DR)).toBe(0x61);
    expect(rd(R.DR)).toBe(0x62);
    expect(rd(R.FR) & FR.RXFE).toBe(FR.RXFE);
    expect(rd(R.DR)).toBe(0);
  });
  it('character mode is a 1-deep holding register, FIFO mode 16 deep (PeriphID rev 1): RXFF', () => {
    const { u, rd, wr } = uart();
    u.pushInput(new Uint8Array(20).fill(1));
    expect(rd(R.FR) & FR.RXFF).toBe(FR.RXFF); // FEN = 0 at reset
    wr(R.LCR_H, LCR_H_FEN | 0x60);
    expect(rd(R.FR) & FR.RXFF).toBe(FR.RXFF);
    for (let i = 0; i < 4; i++) rd(R.DR);
    expect(rd(R.FR) & FR.RXFF).toBe(FR.RXFF); // 16 left
    rd(R.DR);
    expect(rd(R.FR) & (FR.RXFF | FR.RXFE)).toBe(0); // 15 left
  });
  it('input beyond the FIFO waits on the wire: nothing is lost, no overrun', () => {
    const { u, rd, wr } = uart();
    wr(R.LCR_H, LCR_H_FEN);
    const msg = Array.from({ length: 100 }, (_, i) => i);
    u.pushInput(msg);
    const got: number[] = [];
    while (!(rd(R.FR) & FR.RXFE)) got.push(rd(R.DR));
    expect(got).toEqual(msg);
    expect(rd(R.RIS) & INT.OE).toBe(0);
    expect(rd(R.RSR_ECR)).toBe(0);
  });
  it('a byte read of the DR error flags (bits 11:8) does not consume a character', () => {
    const { u } = uart();
    u.pushInput('x');
    expect(u.read(R.DR + 1, 1)).toBe(0);
    expect(u.read(R.DR, 1)).toBe(0x78);
  });
});

describe('configuration registers keep their defined widths', () => {
  it('IBRD 16 bits, FBRD 6 bits, LCR_H 8, IFLS 6, CR without reserved bits 6:3, DMACR 3, ILPR 8', () => {
    const { rd, wr } = uart();
    const cases: [number, number][] = [[R.IBRD, 0xffff], [R.FBRD, 0x3f], [R.LCR_H, 0xff], [R.IFLS, 0x3f], [R.CR, 0xff87], [R.DMACR, 0x7], [R.ILPR, 0xff], [R.IMSC, 0x7ff]];
    for (const [r, mask] of cases) {
      wr(r, 0xffff_ffff);
      expect(rd(r), `offset 0x${r.toString(16)}`).toBe(mask);
    }
  });
  it('Linux set_termios values read back (115200 at 24 MHz: IBRD 13, FBRD 1; 8N1 + FIFO)', () => {
    const { rd, wr } = uart();
    wr(R.IBRD, 13);
    wr(R.FBRD, 1);
    wr(R.LCR_H, 0x70);
    expect([rd(R.IBRD), rd(R.FBRD), rd(R.LCR_H)]).toEqual([13, 1, 0x70]);
  });
  it('RIS, MIS, FR and the ID registers are read-only; ICR reads 0', () => {
    const { u, rd, wr, errors } = uart();
    u.pushInput('a');
    const ris = rd(R.RIS);
    wr(R.RIS, 0);
    wr(R.MIS, 0);
    wr(R.FR, 0);
    wr(0xfe0, 0x99);
    expect(rd(R.RIS)).toBe(ris);
    expect(rd(0xfe0)).toBe(0x11);
    expect(rd(R.ICR)).toBe(0);
    expect(errors.some((e) => e.includes('ID register'))).toBe(true);
  });
  it('reserved offsets read 0 and are reported, not thrown', () => {
    const { rd, wr, errors } = uart();
    expect(rd(0x08)).toBe(0);
    wr(0x100, 1);
    expect(errors).toHaveLength(2);
  });
});

describe('interrupts (DDI0183 2.8)', () => {
  it('character mode: one received byte raises RXRIS and RTRIS; one read clears them', () => {
    const { u, rd } = uart();
    u.pushInput('k');
    expect(rd(R.RIS) & (INT.RX | INT.RT)).toBe(INT.RX | INT.RT);
    rd(R.DR);
    expect(rd(R.RIS) & (INT.RX | INT.RT)).toBe(0);
  });
  it('FIFO mode: RX at the IFLS trigger (1/2 of 16 = 8), cleared below it; RT until empty', () => {
    const { u, rd, wr } = uart();
    wr(R.LCR_H, LCR_H_FEN);
    u.pushInput(new Uint8Array(7));
    expect(rd(R.RIS) & (INT.RX | INT.RT)).toBe(INT.RT); // below trigger: only the timeout
    u.pushInput([1]);
    expect(rd(R.RIS) & INT.RX).toBe(INT.RX);
    rd(R.DR);
    expect(rd(R.RIS) & INT.RX).toBe(0); // 7 < 8
    for (let i = 0; i < 6; i++) rd(R.DR);
    expect(rd(R.RIS) & INT.RT).toBe(INT.RT);
    rd(R.DR);
    expect(rd(R.RIS) & INT.RT).toBe(0);
  });
  it('IFLS RXIFLSEL 1/8 triggers at 2 characters', () => {
    const { u, rd, wr } = uart();
    wr(R.LCR_H, LCR_H_FEN);
    wr(R.IFLS, 0);
    u.pushInput([1]);
    expect(rd(R.RIS) & INT.RX).toBe(0);
    u.pushInput([2]);
    expect(rd(R.RIS) & INT.RX).toBe(INT.RX);
  });
  it('each DR write sets TXRIS (the byte leaves at once), ICR clears it', () => {
    const { rd, wr } = uart();
    expect(rd(R.RIS) & INT.TX).toBe(0); // not set at reset: it is transition based
    wr(R.DR, 0x41);
    expect(rd(R.RIS) & INT.TX).toBe(INT.TX);
    wr(R.ICR, INT.TX);
    expect(rd(R.RIS) & INT.TX).toBe(0);
  });
  it('MIS = RIS & IMSC drives the line; onIrqChange fires on transitions only', () => {
    const { u, rd, wr, irqs } = uart();
    u.pushInput('a');
    expect(u.irqLevel()).toBe(false);
    expect(irqs).toEqual([]);
    wr(R.IMSC, INT.RX);
    expect(rd(R.MIS)).toBe(INT.RX);
    expect(u.irqLevel()).toBe(true);
    u.pushInput('b');
    wr(R.IMSC, INT.RX | INT.TX);
    expect(irqs).toEqual([true]);
    rd(R.DR); // 'b' moves into the 1-deep holding register: still pending
    expect(u.irqLevel()).toBe(true);
    rd(R.DR);
    expect(u.irqLevel()).toBe(false);
    expect(irqs).toEqual([true, false]);
  });
  it('ICR clears only the bits written', () => {
    const { u, rd, wr } = uart();
    u.pushInput('a');
    wr(R.DR, 0x41);
    wr(R.ICR, INT.RT);
    expect(rd(R.RIS) & (INT.RX | INT.RT | INT.TX)).toBe(INT.RX | INT.TX);
  });
});

describe('Linux amba-pl011 sequences', () => {
  /** pl011_hwinit + pl011_startup + pl011_enable_interrupts, as in Linux 6.x. */
  function linuxStartup(ctx: ReturnType<typeof uart>): void {
    const { rd, wr } = ctx;
    wr(R.ICR, INT.OE | INT.BE | INT.PE | INT.FE | INT.RT | INT.RX);
    const im = rd(R.IMSC);
    wr(R.IMSC, INT.RT | INT.RX);
    wr(R.IFLS, 0x12);
    wr(R.CR, CR.UARTEN | CR.TXE | CR.RXE | CR.DTR | CR.RTS);
    wr(R.LCR_H, 0x70); // 8 bits, FIFO enabled
    wr(R.ICR, INT.RT | INT.RX);
    for (let i = 0; i < 32; i++) {
      if (rd(R.FR) & FR.RXFE) break;
      rd(R.DR);
    }
    wr(R.IMSC, INT.RT | INT.RX);
    expect(im).toBe(0);
  }

  /** pl011_int: read MIS, ack all but TX/RT/RX, drain RX, send from IRQ, loop while MIS. */
  function linuxIsr(ctx: ReturnType<typeof uart>, got: number[]): number {
    const { rd, wr } = ctx;
    let passes = 0;
    let status = rd(R.MIS);
    while (status !== 0 && passes++ < 256) {
      wr(R.ICR, status & ~(INT.TX | INT.RT | INT.RX));
      if (status & (INT.RT | INT.RX)) {
        for (let n = 0; n < 256 && !(rd(R.FR) & FR.RXFE); n++) got.push(rd(R.DR) & 0xff);
      }
      status = rd(R.MIS);
    }
    return passes;
  }

  it('a single keystroke below the RX trigger still interrupts (RT) and the ISR leaves MIS clear', () => {
    const ctx = uart();
    linuxStartup(ctx);
    ctx.u.pushInput('x');
    expect(ctx.u.irqLevel()).toBe(true);
    const got: number[] = [];
    expect(linuxIsr(ctx, got)).toBe(1);
    expect(got).toEqual([0x78]);
    expect(ctx.u.irqLevel()).toBe(false);
  });
  it('a pasted line longer than the FIFO arrives whole through the ISR', () => {
    const ctx = uart();
    linuxStartup(ctx);
    const line = 'echo hello from a long pasted command line\n';
    ctx.u.pushInput(line);
    const got: number[] = [];
    linuxIsr(ctx, got);
    expect(new TextDecoder().decode(new Uint8Array(got))).toBe(line);
    expect(ctx.u.irqLevel()).toBe(false);
  });
  it('TX from IRQ (pl011_tx_chars(from_irq)): with TXIM the line stays up until TXIM is masked', () => {
    const ctx = uart();
    linuxStartup(ctx);
    ctx.wr(R.DR, 0x41);
    ctx.wr(R.IMSC, INT.RT | INT.RX | INT.TX); // pl011_start_tx_pio when chars remain
    expect(ctx.u.irqLevel()).toBe(true);
    for (let i = 0; i < 8; i++) ctx.wr(R.DR, 0x42); // fifosize / 2 per interrupt
    expect(ctx.rd(R.MIS) & INT.TX).toBe(INT.TX);
    ctx.wr(R.IMSC, INT.RT | INT.RX); // pl011_stop_tx
    expect(ctx.u.irqLevel()).toBe(false);
    expect(ctx.out).toHaveLength(9);
  });
  it('console putchar: poll FR.TXFF, write DR, wait for !BUSY terminates at once', () => {
    const ctx = uart();
    for (const ch of 'ok\n') {
      while (ctx.rd(R.FR) & FR.TXFF);
      ctx.wr(R.DR, ch.charCodeAt(0));
      while (ctx.rd(R.FR) & FR.BUSY);
    }
    expect(String.fromCharCode(...ctx.out)).toBe('ok\n');
  });
});

describe('loopback (CR.LBE, DDI0183 3.3.8)', () => {
  it('transmitted bytes come back as input instead of leaving, modem outputs drive inputs', () => {
    const { rd, wr, out } = uart();
    wr(R.CR, CR.UARTEN | CR.TXE | CR.RXE | CR.LBE | CR.RTS);
    wr(R.DR, 0x55);
    expect(out).toEqual([]);
    expect(rd(R.DR)).toBe(0x55);
    expect(rd(R.FR) & (MODEM | FR.RI)).toBe(FR.CTS);
  });
});

describe('on the MMIO bus', () => {
  it('sits at VIRT.UART0 and serves 32-bit and split 64-bit reads', () => {
    const bus = new MmioBus();
    const out: number[] = [];
    const u = new Pl011((b) => out.push(b));
    bus.add(u);
    expect(u.base).toBe(VIRT.UART0.base);
    expect(bus.read(VIRT.UART0.base + R.CR, 4)).toBe(0x300n);
    expect(bus.read(VIRT.UART0.base + 0xfe0, 8)).toBe(0x10_0000_0011n);
    bus.write(VIRT.UART0.base + R.DR, 1, 0x21n);
    expect(out).toEqual([0x21]);
  });
  it('reset() restores register reset values and keeps pending input', () => {
    const { u, rd, wr } = uart();
    wr(R.CR, 0x301);
    wr(R.IMSC, 0x7ff);
    u.pushInput('z');
    u.reset();
    expect(rd(R.CR)).toBe(0x300);
    expect(rd(R.IMSC)).toBe(0);
    expect(rd(R.DR)).toBe(0x7a);
  });
});

describe('the terminal on the wire honours RTS (UARTCR.RTS, DDI0183 3.3.8)', () => {
  it('before any UARTCR write, input is sent at once (firmware-style guests, kvm-unit-tests)', () => {
    const { u, rd } = uart();
    u.pushInput('a');
    expect(rd(R.FR) & FR.RXFE).toBe(0);
    expect(rd(R.DR)).toBe(0x61);
  });
  it('after a UARTCR write with RTS low, input waits on the wire (a drain reads nothing) until RTS rises', () => {
    const { u, rd, wr, irqs } = uart();
    wr(R.CR, CR.UARTEN | CR.TXE | CR.RXE); // Linux's console write: RTS stays low
    wr(R.IMSC, INT.RX | INT.RT);
    u.pushInput('echo hi\n');
    expect(rd(R.FR) & FR.RXFE).toBe(FR.RXFE);
    expect(rd(R.DR)).toBe(0); // pl011_enable_interrupts' drain: nothing to throw away
    expect(rd(R.RIS) & (INT.RX | INT.RT)).toBe(0);
    expect(u.pendingInput()).toBe(8);
    wr(R.CR, CR.UARTEN | CR.TXE | CR.RXE | CR.DTR | CR.RTS); // the tty is opened: uart_port_dtr_rts
    expect(rd(R.RIS) & INT.RT).toBe(INT.RT);
    expect(irqs.at(-1)).toBe(true);
    const got: number[] = [];
    while ((rd(R.FR) & FR.RXFE) === 0) got.push(rd(R.DR));
    expect(String.fromCharCode(...got)).toBe('echo hi\n');
  });
  it('RTSEN (automatic RTS) lets input come; reset forgets the UARTCR write', () => {
    const { u, rd, wr } = uart();
    wr(R.CR, CR.UARTEN | CR.RXE | CR.RTSEN);
    u.pushInput('x');
    expect(rd(R.DR)).toBe(0x78);
    wr(R.CR, CR.UARTEN | CR.RXE);
    u.reset();
    u.pushInput('y');
    expect(rd(R.DR)).toBe(0x79);
  });
  it('listening() is a receive interrupt unmasked (RXIM or RTIM)', () => {
    const { u, wr } = uart();
    expect(u.listening()).toBe(false);
    wr(R.IMSC, INT.TX);
    expect(u.listening()).toBe(false);
    wr(R.IMSC, INT.RT);
    expect(u.listening()).toBe(true);
    wr(R.IMSC, INT.RX);
    expect(u.listening()).toBe(true);
  });
});
