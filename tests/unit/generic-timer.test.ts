/**
 * EL1 generic timers: Arm ARM (DDI 0487) chapter D11 "The Generic Timer in AArch64 state",
 * section "Timers" ("Operation of the CompareValue views of the timers", "Operation of the
 * TimerValue views of the timers") and the CNTV_* / CNTP_* / CNTKCTL_EL1 register descriptions.
 */
import { describe, expect, it } from 'vitest';
import { GenericTimer, TIMER_CTL, timerRegByEncoding, type TimerRegName } from '../../emulator/devices/generic-timer.js';

const ENABLE = TIMER_CTL.ENABLE;
const IMASK = TIMER_CTL.IMASK;
const ISTATUS = TIMER_CTL.ISTATUS;
const M64 = (1n << 64n) - 1n;

function setup(start = 1000n, offset = 0n) {
  const clock = { now: start, off: offset };
  const lines: Array<[number, boolean]> = [];
  const t = new GenericTimer({
    physicalCount: () => clock.now,
    virtualOffset: () => clock.off,
    setLine: (ppi, level) => lines.push([ppi, level]),
  });
  const advance = (ticks: bigint): void => {
    clock.now += ticks;
    t.update();
  };
  return { t, clock, lines, advance };
}

const TIMERS = [
  { name: 'virtual', ctl: 'CNTV_CTL_EL0', cval: 'CNTV_CVAL_EL0', tval: 'CNTV_TVAL_EL0', ppi: 27 },
  { name: 'physical', ctl: 'CNTP_CTL_EL0', cval: 'CNTP_CVAL_EL0', tval: 'CNTP_TVAL_EL0', ppi: 30 },
] as const satisfies ReadonlyArray<{ name: string; ctl: TimerRegName; cval: TimerRegName; tval: TimerRegName; ppi: number }>;

describe('timerRegByEncoding (D11 register descriptions, MRS/MSR encodings)', () => {
  it('maps the seven encodings and rejects neighbours', () => {
    const enc = (op0: number, op1: number, crn: number, crm: number, op2: number) => timerRegByEncoding({ op0, op1, crn, crm, op2 });
    expect(enc(3, 3, 14, 3, 1)).toBe('CNTV_CTL_EL0');
    expect(enc(3, 3, 14, 3, 2)).toBe('CNTV_CVAL_EL0');
    expect(enc(3, 3, 14, 3, 0)).toBe('CNTV_TVAL_EL0');
    expect(enc(3, 3, 14, 2, 1)).toBe('CNTP_CTL_EL0');
    expect(enc(3, 3, 14, 2, 2)).toBe('CNTP_CVAL_EL0');
    expect(enc(3, 3, 14, 2, 0)).toBe('CNTP_TVAL_EL0');
    expect(enc(3, 0, 14, 1, 0)).toBe('CNTKCTL_EL1');
    expect(enc(3, 3, 14, 0, 0)).toBeNull(); // CNTFRQ_EL0
    expect(enc(3, 3, 14, 0, 1)).toBeNull(); // CNTPCT_EL0
    expect(enc(3, 3, 14, 0, 2)).toBeNull(); // CNTVCT_EL0
    expect(enc(3, 3, 14, 3, 3)).toBeNull();
    expect(enc(3, 4, 14, 2, 1)).toBeNull(); // CNTHP_CTL_EL2
    expect(enc(3, 0, 14, 1, 1)).toBeNull();
    expect(enc(2, 3, 14, 3, 1)).toBeNull();
  });
});

describe('reset state', () => {
  it('everything reads 0 (TVAL = CVAL - count), no line asserted, no deadline', () => {
    const { t, lines } = setup(0n);
    for (const n of ['CNTV_CTL_EL0', 'CNTV_CVAL_EL0', 'CNTP_CTL_EL0', 'CNTP_CVAL_EL0', 'CNTKCTL_EL1', 'CNTV_TVAL_EL0', 'CNTP_TVAL_EL0'] as const) {
      expect(t.read(n)).toBe(0n);
    }
    t.update();
    expect(lines).toEqual([]);
    expect(t.nextDeadline()).toBeNull();
    expect(GenericTimer.VIRTUAL_PPI).toBe(27);
    expect(GenericTimer.PHYSICAL_PPI).toBe(30);
  });
});

for (const T of TIMERS) {
  describe(`${T.name} timer (D11 "Timers")`, () => {
    it('CTL: ENABLE and IMASK are read/write, ISTATUS is read-only, other bits RES0', () => {
      const { t } = setup(1000n);
      t.write(T.cval, 5000n);
      t.write(T.ctl, M64); // every bit set: only ENABLE | IMASK stick, ISTATUS not writable
      expect(t.read(T.ctl)).toBe(ENABLE | IMASK);
      t.write(T.ctl, ISTATUS);
      expect(t.read(T.ctl)).toBe(0n);
    });

    it('CVAL is a full 64-bit register (CompareValue view)', () => {
      const { t } = setup();
      t.write(T.cval, 0xfedc_ba98_7654_3210n);
      expect(t.read(T.cval)).toBe(0xfedc_ba98_7654_3210n);
      t.write(T.cval, -1n); // an X register's bit pattern, whichever way the caller holds it
      expect(t.read(T.cval)).toBe(M64);
    });

    it('ISTATUS: condition met iff CVAL <= count (unsigned 64-bit), evaluated at the read', () => {
      const { t, clock } = setup(1000n);
      t.write(T.ctl, ENABLE | IMASK);
      t.write(T.cval, 1001n);
      expect(t.read(T.ctl) & ISTATUS).toBe(0n);
      clock.now = 1001n; // no update(): a read sees the current count
      expect(t.read(T.ctl) & ISTATUS).toBe(ISTATUS);
      clock.now = 5000n;
      expect(t.read(T.ctl) & ISTATUS).toBe(ISTATUS);
      t.write(T.cval, 1n << 63n); // unsigned compare: a CVAL with bit 63 set is far in the future
      expect(t.read(T.ctl) & ISTATUS).toBe(0n);
    });

    it('ISTATUS reads 0 while ENABLE = 0 ("the timer condition is not met")', () => {
      const { t } = setup(1000n);
      t.write(T.cval, 10n);
      expect(t.read(T.ctl)).toBe(0n);
      t.write(T.ctl, ENABLE);
      expect(t.read(T.ctl)).toBe(ENABLE | ISTATUS);
    });

    it('TVAL read = (CVAL - count)[31:0] sign-extended, counting down as time passes (TimerValue view)', () => {
      const { t, clock } = setup(1000n);
      t.write(T.cval, 1100n);
      expect(t.read(T.tval)).toBe(100n);
      clock.now = 1100n;
      expect(t.read(T.tval)).toBe(0n);
      clock.now = 1101n; // past the compare value: negative, sign-extended to 64 bits
      expect(t.read(T.tval)).toBe(M64);
      expect(BigInt.asIntN(64, t.read(T.tval))).toBe(-1n);
      clock.now = 1100n + 0x8000_0000n; // only the low 32 bits of the difference count
      expect(BigInt.asIntN(64, t.read(T.tval))).toBe(-0x8000_0000n);
      clock.now = 1100n - 0x1_0000_0005n;
      expect(t.read(T.tval)).toBe(5n);
    });

    it('TVAL write: CVAL = count + SignExtend(TVAL[31:0])', () => {
      const { t } = setup(0x1_0000_0000n);
      t.write(T.tval, 500n);
      expect(t.read(T.cval)).toBe(0x1_0000_0000n + 500n);
      expect(t.read(T.tval)).toBe(500n);
      t.write(T.tval, 0xffff_ffffn); // -1 as a 32-bit value
      expect(t.read(T.cval)).toBe(0xffff_ffffn);
      t.write(T.tval, 0xdead_beef_0000_0010n); // upper 32 bits ignored
      expect(t.read(T.cval)).toBe(0x1_0000_0010n);
      t.write(T.tval, 0x8000_0000n); // most negative 32-bit value
      expect(t.read(T.cval)).toBe(0x8000_0000n);
      expect(BigInt.asIntN(64, t.read(T.tval))).toBe(-0x8000_0000n);
    });

    it('TVAL write wraps CVAL modulo 2^64', () => {
      const { t } = setup(5n);
      t.write(T.tval, -10n);
      expect(t.read(T.cval)).toBe(M64 - 4n);
    });

    it(`line (PPI ${T.ppi}) is level-sensitive: asserts on update() once the count reaches CVAL, deasserts when CVAL moves on`, () => {
      const { t, lines, advance } = setup(1000n);
      t.write(T.tval, 100n);
      t.write(T.ctl, ENABLE);
      expect(lines).toEqual([]);
      advance(99n);
      expect(lines).toEqual([]);
      expect(t.read(T.ctl)).toBe(ENABLE);
      advance(1n);
      expect(lines).toEqual([[T.ppi, true]]);
      expect(t.read(T.ctl)).toBe(ENABLE | ISTATUS);
      advance(1000n); // stays asserted, no duplicate edges
      expect(lines).toEqual([[T.ppi, true]]);
      t.write(T.tval, 50n); // the guest reprograms the timer: the condition is no longer met
      expect(lines).toEqual([[T.ppi, true], [T.ppi, false]]);
      advance(50n);
      expect(lines).toEqual([[T.ppi, true], [T.ppi, false], [T.ppi, true]]);
    });

    it('IMASK masks the output but not ISTATUS', () => {
      const { t, lines, advance } = setup(1000n);
      t.write(T.cval, 1010n);
      t.write(T.ctl, ENABLE | IMASK);
      advance(20n);
      expect(t.read(T.ctl)).toBe(ENABLE | IMASK | ISTATUS);
      expect(lines).toEqual([]);
      t.write(T.ctl, ENABLE); // unmask: the pending condition asserts at once
      expect(lines).toEqual([[T.ppi, true]]);
      t.write(T.ctl, ENABLE | IMASK);
      expect(lines).toEqual([[T.ppi, true], [T.ppi, false]]);
    });

    it('disabling drops the line; re-enabling with the condition met raises it again', () => {
      const { t, lines } = setup(1000n);
      t.write(T.cval, 900n);
      t.write(T.ctl, ENABLE);
      expect(lines).toEqual([[T.ppi, true]]);
      t.write(T.ctl, 0n);
      expect(lines).toEqual([[T.ppi, true], [T.ppi, false]]);
      expect(t.read(T.ctl)).toBe(0n);
      t.update();
      expect(lines.length).toBe(2);
      t.write(T.ctl, ENABLE);
      expect(lines).toEqual([[T.ppi, true], [T.ppi, false], [T.ppi, true]]);
    });

    it('a CVAL write can assert and deassert the line without update()', () => {
      const { t, lines } = setup(1000n);
      t.write(T.cval, 2000n);
      t.write(T.ctl, ENABLE);
      expect(lines).toEqual([]);
      t.write(T.cval, 1000n);
      expect(lines).toEqual([[T.ppi, true]]);
      t.write(T.cval, 1001n);
      expect(lines).toEqual([[T.ppi, true], [T.ppi, false]]);
    });

    it('enabling with the reset CVAL (0) fires at once: the condition 0 <= count is met', () => {
      const { t, lines } = setup(1000n);
      t.write(T.ctl, ENABLE);
      expect(lines).toEqual([[T.ppi, true]]);
    });
  });
}

describe('timers are independent', () => {
  it('each drives only its own PPI', () => {
    const { t, lines, advance } = setup(0n);
    t.write('CNTV_CVAL_EL0', 10n);
    t.write('CNTV_CTL_EL0', ENABLE);
    t.write('CNTP_CVAL_EL0', 20n);
    t.write('CNTP_CTL_EL0', ENABLE);
    advance(10n);
    expect(lines).toEqual([[27, true]]);
    advance(10n);
    expect(lines).toEqual([[27, true], [30, true]]);
    t.write('CNTV_CTL_EL0', 0n);
    expect(lines).toEqual([[27, true], [30, true], [27, false]]);
    expect(t.read('CNTP_CTL_EL0')).toBe(ENABLE | ISTATUS);
  });
});

describe('virtual timer counts CNTVCT = CNTPCT - CNTVOFF_EL2 (D11 "Virtual counter")', () => {
  it('CVAL compares against the virtual count; TVAL reads and writes relative to it', () => {
    const { t, clock, lines, advance } = setup(10_000n, 4_000n); // CNTVCT = 6000
    t.write('CNTV_CVAL_EL0', 6_100n);
    t.write('CNTV_CTL_EL0', ENABLE);
    expect(t.read('CNTV_TVAL_EL0')).toBe(100n);
    expect(t.nextDeadline()).toBe(10_100n); // CVAL + CNTVOFF, a physical count
    advance(99n);
    expect(lines).toEqual([]);
    advance(1n);
    expect(lines).toEqual([[27, true]]);
    t.write('CNTV_TVAL_EL0', 200n); // CVAL = CNTVCT (6100) + 200
    expect(t.read('CNTV_CVAL_EL0')).toBe(6_300n);
    expect(lines).toEqual([[27, true], [27, false]]);
    // the physical timer is untouched by CNTVOFF
    t.write('CNTP_TVAL_EL0', 200n);
    expect(t.read('CNTP_CVAL_EL0')).toBe(clock.now + 200n);
  });

  it('a change of CNTVOFF takes effect at the next update()', () => {
    const { t, clock, lines } = setup(10_000n, 0n);
    t.write('CNTV_CVAL_EL0', 9_000n);
    t.write('CNTV_CTL_EL0', ENABLE);
    expect(lines).toEqual([[27, true]]);
    clock.off = 2_000n; // CNTVCT = 8000 < CVAL
    t.update();
    expect(lines).toEqual([[27, true], [27, false]]);
    expect(t.read('CNTV_CTL_EL0')).toBe(ENABLE);
    expect(t.nextDeadline()).toBe(11_000n);
  });

  it('CNTVOFF larger than CNTPCT wraps the virtual count modulo 2^64', () => {
    const { t } = setup(100n, 200n); // CNTVCT = 2^64 - 100
    t.write('CNTV_CTL_EL0', ENABLE);
    t.write('CNTV_CVAL_EL0', M64 - 99n);
    expect(t.read('CNTV_CTL_EL0')).toBe(ENABLE | ISTATUS);
    t.write('CNTV_TVAL_EL0', 150n); // CVAL = (2^64 - 100 + 150) mod 2^64 = 50
    expect(t.read('CNTV_CVAL_EL0')).toBe(50n);
    // unsigned compare: CNTVCT (2^64 - 100) >= 50, so the condition is met already
    expect(t.read('CNTV_CTL_EL0')).toBe(ENABLE | ISTATUS);
  });
});

describe('nextDeadline', () => {
  it('earliest enabled, unmasked timer whose condition is not yet met; null otherwise', () => {
    const { t, advance } = setup(1000n);
    expect(t.nextDeadline()).toBeNull();
    t.write('CNTP_CVAL_EL0', 3000n);
    expect(t.nextDeadline()).toBeNull(); // not enabled
    t.write('CNTP_CTL_EL0', ENABLE | IMASK);
    expect(t.nextDeadline()).toBeNull(); // masked
    t.write('CNTP_CTL_EL0', ENABLE);
    expect(t.nextDeadline()).toBe(3000n);
    t.write('CNTV_CVAL_EL0', 2000n);
    t.write('CNTV_CTL_EL0', ENABLE);
    expect(t.nextDeadline()).toBe(2000n);
    advance(1000n); // virtual fires: its condition is met, so the physical one is next
    expect(t.nextDeadline()).toBe(3000n);
    advance(1000n);
    expect(t.nextDeadline()).toBeNull();
  });
});

describe('CNTKCTL_EL1', () => {
  it('holds bits [9:0], the rest RES0, and does not touch the timer outputs', () => {
    const { t, lines } = setup();
    t.write('CNTKCTL_EL1', M64);
    expect(t.read('CNTKCTL_EL1')).toBe(0x3ffn);
    t.write('CNTKCTL_EL1', 0x3n); // EL0PCTEN | EL0VCTEN, as Linux sets it
    expect(t.read('CNTKCTL_EL1')).toBe(0x3n);
    expect(lines).toEqual([]);
  });
});

describe('polling ISTATUS is polling time (the counter-polling warp, emulator/cpu/virtual-time.ts)', () => {
  it('a guest spinning on CNTV_CTL_EL0 until ISTATUS waits 10 ms of virtual time in far fewer than 10M instructions, and sees the timer fire on time', async () => {
    const { VirtMachine } = await import('../../emulator/platform/virt.js');
    const { VIRT } = await import('../../emulator/platform/memmap.js');
    const { Hypervisor } = await import('../../hyp/hypervisor.js');
    const B = 0x4008_0000;
    // mrs x1, cntvct_el0; x2 = 625000 (10 ms at 62.5 MHz); msr cntv_cval_el0, x1 + x2; msr cntv_ctl_el0, #1 (ENABLE);
    // loop: mrs x4, cntv_ctl_el0; tbz x4, #2 (ISTATUS), loop; mrs x5, cntvct_el0; b .
    const code = [0xd53be041, 0xd2912d02, 0xf2a00122, 0x8b020021, 0xd51be341, 0xd2800023, 0xd51be323, 0xd53be324, 0x3617ffe4, 0xd53be045, 0x14000000];
    const m = new VirtMachine({ uartOut: () => {} });
    try {
      const hyp = new Hypervisor();
      hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
      code.forEach((w, i) => m.vcpu.ram.write32(B + 4 * i, w));
      m.vcpu.pc = B;
      const end = B + 4 * (code.length - 1);
      for (let i = 0; i < 1000 && m.vcpu.pc !== end; i++) expect(m.vcpu.runFor(10_000)).toBeNull();
      expect(m.vcpu.pc).toBe(end);
      expect(m.vcpu.x(4) & 4n).toBe(4n); // ISTATUS
      expect(m.vcpu.instructions).toBeLessThan(200_000); // not 10M: the polling jumped time
      expect(m.vcpu.virtualTimeNs).toBeGreaterThanOrEqual(10_000_000);
      // Not past the deadline: the warp stops at the timer's compare value (CNTVCT read right after the loop).
      expect(m.vcpu.x(5) - m.vcpu.x(1)).toBeGreaterThanOrEqual(0n);
      expect(m.vcpu.x(5) - m.vcpu.x(1)).toBeLessThan(4n);
    } finally {
      m.close();
    }
  });
});
