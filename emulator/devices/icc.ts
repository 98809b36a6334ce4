/**
 * The GICv3 CPU interface's system registers (GIC Architecture Specification
 * IHI0069, 12.2 "AArch64 System register descriptions of the CPU interface"),
 * as rows the GIC registers in the machine's system-register catalogue. The GIC
 * is a TypeScript model (the core has no CPU interface): these rows are
 * answered by the device, never by the CPU.
 */
import { defineSysreg, type SysregCatalogue, type SysregDef, type SysregSpec } from '../cpu/sysreg-catalogue.js';

const G: SysregSpec = { storage: 'device', group: 'GIC', cpu: 'emulate' };
const reg = (name: string, crn: number, crm: number, op2: number, s: Partial<SysregSpec> = {}): SysregDef =>
  defineSysreg('reg', name, 3, 0, crn, crm, op2, { ...G, ...s });

export const ICC_SYSREGS: readonly SysregDef[] = Object.freeze([
  reg('ICC_PMR_EL1', 4, 6, 0, { reset: 0n }),
  reg('ICC_IAR0_EL1', 12, 8, 0, { access: 'ro' }),
  reg('ICC_EOIR0_EL1', 12, 8, 1, { access: 'wo' }),
  reg('ICC_HPPIR0_EL1', 12, 8, 2, { access: 'ro' }),
  reg('ICC_BPR0_EL1', 12, 8, 3),
  ...[0, 1, 2, 3].map((n) => reg(`ICC_AP0R${n}_EL1`, 12, 8, 4 + n, { reset: 0n })),
  ...[0, 1, 2, 3].map((n) => reg(`ICC_AP1R${n}_EL1`, 12, 9, n, { reset: 0n })),
  reg('ICC_DIR_EL1', 12, 11, 1, { access: 'wo' }),
  reg('ICC_RPR_EL1', 12, 11, 3, { access: 'ro' }),
  reg('ICC_SGI1R_EL1', 12, 11, 5, { access: 'wo' }),
  reg('ICC_ASGI1R_EL1', 12, 11, 6, { access: 'wo' }),
  reg('ICC_SGI0R_EL1', 12, 11, 7, { access: 'wo' }),
  reg('ICC_IAR1_EL1', 12, 12, 0, { access: 'ro' }),
  reg('ICC_EOIR1_EL1', 12, 12, 1, { access: 'wo' }),
  reg('ICC_HPPIR1_EL1', 12, 12, 2, { access: 'ro' }),
  reg('ICC_BPR1_EL1', 12, 12, 3),
  reg('ICC_CTLR_EL1', 12, 12, 4),
  // SRE, DFB, DIB = 1: system-register interface only, as KVM's virtual CPU interface (RAO/WI).
  reg('ICC_SRE_EL1', 12, 12, 5, { reset: 0x7n }),
  reg('ICC_IGRPEN0_EL1', 12, 12, 6, { reset: 0n }),
  reg('ICC_IGRPEN1_EL1', 12, 12, 7, { reset: 0n }),
]);

/** What the GIC model offers its CPU interface through. */
export interface IccModel {
  iccRead(name: string): bigint | null;
  iccWrite(name: string, value: bigint): boolean;
}

/** Register the CPU interface's rows, answered by the GIC model. */
export function registerIcc(catalogue: SysregCatalogue, gic: IccModel): void {
  catalogue.register(ICC_SYSREGS, {
    read: (e) => gic.iccRead(e.name) ?? 0n,
    write: (e, v) => void gic.iccWrite(e.name, v),
  });
}
