// The native interrupt window (emulator/unicorn/native/irq-window.c, Unicorn.interruptWindow):
// while raised, Unicorn stops right after the instruction that clears PSTATE.I (Arm ARM D1.3.6:
// MSR DAIFClr, MSR DAIF, an exception return restoring SPSR; the interrupt is taken at the next
// instruction), having retired exactly the instructions before that point; it does not stop
// while PSTATE.I stays set, nor when it is lowered. The run loop's use of it is checked end to
// end by the irq-unmask guest (tests/integration/reliability.test.ts), with and without it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Prot, Reg, Unicorn } from '../../emulator/unicorn/uc.js';
import { packageRoot } from '../../emulator/package-root.js';

const RAM = 0x4000_0000;
const NOP = 0xd503201f;
const DAIFCLR_I = 0xd50342ff; // msr daifclr, #2
const DAIFSET_I = 0xd50342df; // msr daifset, #2
const MSR_DAIF_X0 = 0xd51b4220; // msr daif, x0
const ERET = 0xd69f03e0;
const WFI = 0xd503207f;
const PSTATE_I = 0x80;
const EL1H_MASKED = 0x3c5; // EL1h, DAIF all set (the reset state)
const SPSR_EL1 = { op0: 3, op1: 0, crn: 4, crm: 0, op2: 0 };
const ELR_EL1 = { op0: 3, op1: 0, crn: 4, crm: 0, op2: 1 };

const built = existsSync(join(packageRoot(), 'vendor/native/libhypemu-irq-window.so')) && process.env.HYPEMU_IRQ_WINDOW !== 'off';

function machine(words: number[]): Unicorn {
  const uc = new Unicorn();
  const ram = Unicorn.allocShared(0x1000);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, 0x1000);
  for (let i = 0; i < 0x1000 / 4; i++) dv.setUint32(i * 4, NOP, true);
  words.forEach((w, i) => dv.setUint32(i * 4, w, true));
  uc.mapShared(RAM, ram);
  uc.onTlbFill((va) => (va >= RAM && va < RAM + 0x1000 ? { pa: va, perms: Prot.ALL } : null));
  uc.regWrite(Reg.PSTATE, EL1H_MASKED);
  return uc;
}

/** Run up to `count` instructions from RAM with the window raised or not: where it stopped, how many started, whether the window fired. */
function run(uc: Unicorn, raised: boolean, count: number): { pc: number; started: number; fired: number; i: boolean } {
  const w = uc.interruptWindow()!;
  expect(w).not.toBeNull();
  w.raise(raised);
  w.fired[0] = 0;
  expect(uc.emuStart(RAM, count)).toBe(0);
  const pstate = Number(uc.regRead(Reg.PSTATE));
  return { pc: Number(uc.regRead(Reg.PC)) - RAM, started: uc.sliceCounter(), fired: w.fired[0]!, i: (pstate & PSTATE_I) !== 0 };
}

describe('Unicorn.interruptWindow (native, irq-window.c)', () => {
  it.skipIf(!built)('stops right after MSR DAIFClr clears PSTATE.I: three instructions retired, PC at the fourth', () => {
    const uc = machine([NOP, NOP, DAIFCLR_I, NOP, NOP]);
    try {
      expect(run(uc, true, 100)).toEqual({ pc: 12, started: 3, fired: 1, i: false });
    } finally {
      uc.close();
    }
  });

  it.skipIf(!built)('stops right after MSR DAIF, Xt and after an ERET whose SPSR has I clear', () => {
    const a = machine([NOP, MSR_DAIF_X0, NOP]);
    const b = machine([NOP, ERET]);
    try {
      a.regWrite(Reg.X0, 0);
      expect(run(a, true, 100)).toEqual({ pc: 8, started: 2, fired: 1, i: false });
      expect(b.sysregWrite(SPSR_EL1, 0x345n)).toBe(true); // EL1h, D A F set, I clear
      expect(b.sysregWrite(ELR_EL1, BigInt(RAM + 0x100))).toBe(true);
      expect(run(b, true, 100)).toEqual({ pc: 0x100, started: 2, fired: 1, i: false });
    } finally {
      a.close();
      b.close();
    }
  });

  it.skipIf(!built)('does nothing while PSTATE.I stays set (MSR DAIFSet, MSR DAIF with I) or when it is lowered', () => {
    const a = machine([NOP, DAIFSET_I, MSR_DAIF_X0, NOP, NOP, NOP]);
    const b = machine([NOP, DAIFCLR_I, NOP, NOP]);
    try {
      a.regWrite(Reg.X0, PSTATE_I);
      expect(run(a, true, 5)).toEqual({ pc: 20, started: 6, fired: 0, i: true });
      expect(run(b, false, 3)).toEqual({ pc: 12, started: 4, fired: 0, i: false });
    } finally {
      a.close();
      b.close();
    }
  });

  it.skipIf(!built)('a WFI with the window raised completes at once (an interrupt is pending, Arm ARM C6.2 WFI); lowered, QEMU halts on it', () => {
    const a = machine([NOP, WFI, NOP, NOP]);
    const b = machine([NOP, WFI, NOP, NOP]);
    try {
      expect(run(a, true, 3)).toEqual({ pc: 12, started: 4, fired: 0, i: true });
      expect(run(b, false, 3)).toEqual({ pc: 8, started: 2, fired: 0, i: true });
    } finally {
      a.close();
      b.close();
    }
  });
});
