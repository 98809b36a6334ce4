// The PL011's native console window (emulator/devices/pl011-window.ts over
// emulator/unicorn/native/uart-mmio.c): UARTDR writes and UARTFR reads complete in C with no
// exit; the bytes reach the device model in program order (drained before any other UART
// access, at a newline in line mode, when the vCPU stops); every other register is performed
// on the model (DDI0183 3.3 register semantics unchanged); an access that moves the UART's
// interrupt line ends the slice after it, so the instruction count stays exact.
// With an exit observer the window is not used: every UART access is an exit, as before.
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor } from '../../hyp/hypervisor.js';
import type { Exit } from '../../emulator/cpu/exits.js';

const B = 0x4008_0000;
// x1 = UART base; for each of 'h', 'i', '\n': poll FR (ldr w2, [x1, #0x18]), write DR; then
// read CR (a slow register), write IMSC = TXIM (0x20: TXRIS is set, the line rises), read MIS.
const PROGRAM = [
  0xd2a12001, // movz x1, #0x900, lsl #16
  0x52800d00, // mov w0, #'h'
  0xb9401822, // ldr w2, [x1, #0x18]
  0xb9000020, // str w0, [x1]
  0x52800d20, // mov w0, #'i'
  0xb9401822, // ldr w2, [x1, #0x18]
  0xb9000020, // str w0, [x1]
  0x52800140, // mov w0, #'\n'
  0xb9401822, // ldr w2, [x1, #0x18]
  0xb9000020, // str w0, [x1]
  0xb9403023, // ldr w3, [x1, #0x30]   (CR)
  0x52800404, // mov w4, #0x20
  0xb9003824, // str w4, [x1, #0x38]   (IMSC = TXIM)
  0xb9404025, // ldr w5, [x1, #0x40]   (MIS)
  0xd503201f, // nop
];

let machines: VirtMachine[] = [];
afterEach(() => {
  for (const m of machines) m.close();
  machines = [];
});

function run(observe: boolean) {
  const out: number[] = [];
  const m = new VirtMachine({ uartOut: (b) => out.push(b) });
  machines.push(m);
  const hyp = new Hypervisor();
  hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize }, console: m.uartWindow });
  PROGRAM.forEach((w, i) => m.vcpu.ram.write32(B + 4 * i, w));
  m.vcpu.pc = B;
  const exits: Exit[] = [];
  if (observe) m.vcpu.onExit = (e) => exits.push(e);
  // The guest leaves IRQs masked (DAIF set at reset): the line rises, nothing is taken.
  expect(m.vcpu.runFor(PROGRAM.length)).toBeNull();
  return { m, hyp, out, exits, v: m.vcpu };
}

/** The window exists when setup built vendor/native/libhypemu-uart-mmio.so (and HYPEMU_NATIVE_UART is not off). */
function windowBuilt(): boolean {
  const m = new VirtMachine({ uartOut: () => {} });
  const built = m.uartWindow !== null;
  m.close();
  return built;
}

describe.skipIf(!windowBuilt())('PL011 native console window', () => {
  it('FR polls and DR writes complete natively, in order; other registers are the model\'s; exact instruction count', () => {
    const { hyp, out, v, m } = run(false);
    expect(String.fromCharCode(...out)).toBe('hi\n');
    expect(v.pc).toBe(B + 4 * PROGRAM.length);
    expect(v.instructions).toBe(PROGRAM.length);
    expect(v.x(2)).toBe(0x90n + 0x07n); // FR: TXFE | RXFE, CTS | DSR | DCD (DDI0183 3.3.3)
    expect(v.x(3)).toBe(0x300n); // CR reset value: TXE | RXE
    expect(v.x(5)).toBe(0x20n); // MIS = TXMIS: the DR writes set TXRIS
    expect(m.uart.irqLevel()).toBe(true);
    const s = hyp.toJSON() as { coalescedMmio: { native: { writes: number; reads: number; slow: number } }; exits: { byReason: Record<string, number> } };
    expect(s.coalescedMmio.native).toMatchObject({ writes: 3, reads: 3, slow: 3 });
    expect(s.exits.byReason.dabt_s2).toBe(0);
  });

  it('with an exit observer every UART access is a stage-2 data abort exit, with the same result', () => {
    const { hyp, out, v, exits } = run(true);
    expect(String.fromCharCode(...out)).toBe('hi\n');
    expect(v.instructions).toBe(PROGRAM.length);
    expect([v.x(2), v.x(3), v.x(5)]).toEqual([0x97n, 0x300n, 0x20n]);
    expect(exits.filter((e) => e.reason === 'dabt_s2')).toHaveLength(9);
    const s = hyp.toJSON() as { coalescedMmio: { native: { writes: number } } };
    expect(s.coalescedMmio.native.writes).toBe(0);
  });
});
