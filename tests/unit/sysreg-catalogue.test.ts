// The system-register catalogue (emulator/cpu/sysreg-catalogue.ts): one row per encoding, device
// rows, the EL2 model's attachments, and every derived list coming from the flags.
import { describe, expect, it } from 'vitest';
import { SysregCatalogue, SR_FLAG, defineSysreg, sysregKey, encodingMinEl } from '../../emulator/cpu/sysreg-catalogue.js';
import { ARCH_SYSREGS } from '../../emulator/cpu/sysreg-rows.js';
import { ICC_SYSREGS, registerIcc } from '../../emulator/devices/icc.js';
import { TIMER_SYSREGS } from '../../emulator/devices/generic-timer.js';
import { AARCH64_REGISTERS } from '../../emulator/debug/aarch64-registers.js';
import { attachTraps, rowOf } from '../../hyp/sysreg-table.js';
import { routeAccess, UNDEF, NATIVE } from '../../hyp/traps.js';

const names = (c: SysregCatalogue, f: number) => c.withFlag(f).map((e) => e.name);

describe('system-register catalogue', () => {
  it('keeps every architectural row, with unique encodings and names', () => {
    const c = new SysregCatalogue([...ARCH_SYSREGS, ...ICC_SYSREGS, ...TIMER_SYSREGS]);
    expect(c.entries().length).toBe(ARCH_SYSREGS.length + ICC_SYSREGS.length + TIMER_SYSREGS.length);
    // The descriptor table had 399 rows; the catalogue adds the EL2 model's registers (shown to the debugger). DBGDTR_EL0 and
    // DBGDTRRX_EL0 (issue 13, DCC at EL0) made it 401.
    expect(c.entries().filter((e) => e.storage !== 'el2' && e.name !== 'SP_EL1').length).toBe(401);
    expect(() => c.register([ARCH_SYSREGS[0]!])).toThrow(/share/);
  });

  it('derives the translation sets from flags (Arm ARM D8: the stage-1 regime registers)', () => {
    const c = new SysregCatalogue(ARCH_SYSREGS);
    expect(names(c, SR_FLAG.TRANSLATION)).toEqual(['SCTLR_EL1', 'TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1']);
    expect(names(c, SR_FLAG.MMU_INPUT).sort()).toEqual(['MAIR_EL1', 'SCTLR_EL1', 'TCR_EL1', 'TTBR0_EL1', 'TTBR1_EL1']);
    const ctx = names(c, SR_FLAG.EL1_CONTEXT);
    for (const n of ['SCTLR_EL1', 'TTBR0_EL1', 'MAIR_EL1', 'VBAR_EL1', 'CSSELR_EL1', 'TPIDR_EL0', 'TPIDRRO_EL0', 'PAR_EL1']) expect(ctx).toContain(n);
    // Device state is not in the CPU's context: the timer and the GIC keep it.
    for (const n of ['CNTV_CTL_EL0', 'CNTKCTL_EL1', 'ICC_PMR_EL1']) expect(ctx).not.toContain(n);
  });

  it('derives the debugger registers from the DEBUGGER flag, device rows included', () => {
    const sys = AARCH64_REGISTERS.filter((r) => r.sysreg).map((r) => r.name);
    for (const n of ['sctlr_el1', 'mair_el1', 'cntkctl_el1', 'cntv_ctl_el0', 'cntvct_el0', 'currentel', 'hcr_el2', 'vttbr_el2', 'sp_el2', 'sp_el1']) expect(sys).toContain(n);
    expect(new Set(sys).size).toBe(sys.length);
  });

  it('a device registers its rows and answers them; adding a register is one row', () => {
    const c = new SysregCatalogue(ARCH_SYSREGS);
    const regs = new Map<string, bigint>();
    registerIcc(c, { iccRead: (n) => regs.get(n) ?? 0n, iccWrite: (n, v) => (regs.set(n, v), true) });
    const pmr = c.byName('ICC_PMR_EL1')!;
    pmr.device!.write(pmr, 0xf0n);
    expect(pmr.device!.read(pmr)).toBe(0xf0n);
    const row = defineSysreg('reg', 'S3_0_C15_C0_0', 3, 0, 15, 0, 0, { storage: 'emulated', group: 'CTX', flags: SR_FLAG.DEBUGGER });
    c.register([row]);
    expect(c.get(sysregKey(row))?.name).toBe('S3_0_C15_C0_0');
    expect(names(c, SR_FLAG.DEBUGGER)).toContain('S3_0_C15_C0_0');
  });

  it('the EL2 model attaches trap conditions to rows registered before and after it', () => {
    const c = new SysregCatalogue(ARCH_SYSREGS);
    attachTraps(c);
    expect(rowOf(c.byName('MAIR_EL1')!).trapWrite).toBe('TVM');
    registerIcc(c, { iccRead: () => 0n, iccWrite: () => true });
    expect(rowOf(c.byName('ICC_SRE_EL1')!).group).toBe('GIC');
  });

  it('EL2 and EL3 registers are UNDEFINED at EL1 (Arm ARM D1 exception prioritization), rows or not', () => {
    const c = new SysregCatalogue(ARCH_SYSREGS);
    attachTraps(c);
    const acc = (e: { op0: number; op1: number; crn: number; crm: number; op2: number }, el = 1) => ({ ...e, read: true, el });
    const hcr = c.byName('HCR_EL2')!;
    expect(hcr.minEl).toBe(2);
    expect(routeAccess(0n, rowOf(hcr), acc(hcr))).toBe(UNDEF);
    const sctlrEl3 = { op0: 3, op1: 6, crn: 1, crm: 0, op2: 0 };
    expect(encodingMinEl(sctlrEl3)).toBe(3);
    expect(routeAccess(0n, undefined, acc(sctlrEl3))).toBe(UNDEF);
    const nzcv = c.byName('NZCV')!;
    expect(routeAccess(0n, rowOf(nzcv), acc(nzcv, 0))).toBe(NATIVE);
  });
});
