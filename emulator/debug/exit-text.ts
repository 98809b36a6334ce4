/**
 * The debugger's text for EL2 exits: one line per exit (trap-break, `monitor exits`), the
 * action the model took, and the exit history record.
 */
import type { Exit, ExitAction } from '../cpu/exits.js';
import { describeEsr } from '../cpu/esr.js';
import { genericName, type SysregEncoding } from '../cpu/sysreg-catalogue.js';
import { vaToBigint } from '../types.js';

export interface ExitRecord {
  seq: number;
  /** 'fast path' / 'world switch' when the EL2 model's counters tell (hyp.exits.fastPath). */
  path: string | null;
  instructions: number;
  exit: Exit;
  action: ExitAction;
  x0: bigint;
  /** The vCPU (several vCPUs only). */
  vcpu?: number;
}

/**
 * Name a system register or instruction by encoding for exit descriptions: the catalogue's name
 * ('TLBI_VAE1IS' reads "TLBI VAE1IS"), S3_0_C10_C2_0 style for an encoding it does not know.
 */
export function sysregName(e: SysregEncoding, row: { name: string } | null = null): string {
  if (row === null) return genericName(e);
  return e.op0 === 1 ? row.name.replace('_', ' ') : row.name;
}

export const hex = (v: number | bigint): string => '0x' + (typeof v === 'bigint' ? v : BigInt(Math.trunc(v))).toString(16);
export const hexPc = (pc: number): string => '0x' + vaToBigint(pc).toString(16);

/** One-line description of an EL2 exit, as trap-break and `monitor exits` print it. */
export function describeExit(exit: Exit, x0?: bigint): string {
  const syndrome = `ESR_EL2=${hex(exit.esr >>> 0)} (${describeEsr(exit.esr)})`;
  switch (exit.reason) {
    case 'sysreg': {
      const name = sysregName(exit, exit.row);
      const what = exit.op0 === 1 ? `sys ${name}${exit.rt !== 31 ? `, x${exit.rt}` : ''}` : exit.read ? `sysreg read ${name} -> x${exit.rt}` : `sysreg write ${name} <- ${hex(exit.value)}`;
      return `${what}; ${syndrome}`;
    }
    case 'hvc':
    case 'smc':
      return `${exit.reason} #${hex(exit.imm)}${x0 !== undefined ? ` x0=${hex(x0)}` : ''}; ${syndrome}`;
    case 'dabt_s2': {
      const acc = exit.access;
      const what = acc ? `${acc.write ? 'write' : 'read'} of ${acc.size} byte${acc.size > 1 ? 's' : ''} ${acc.write ? 'from' : 'to'} ${acc.rt === 31 ? 'xzr' : 'x' + acc.rt}` : 'access without syndrome (ISV=0)';
      return `stage-2 data abort: ${what} at IPA ${hex(exit.ipa)} (VA ${hexPc(exit.far)}, HPFAR_EL2=${hex(exit.hpfar)}); ${syndrome}`;
    }
    case 'iabt_s2':
      return `stage-2 instruction abort at IPA ${hex(exit.ipa)} (VA ${hexPc(exit.far)}); ${syndrome}`;
    case 'wfx':
      return `${exit.wfe ? 'wfe' : 'wfi'}; ${syndrome}`;
    case 'irq':
      return `physical IRQ; ${syndrome}`;
    case 'debug': {
      const ec = exit.esr >>> 26;
      const what = ec === 0x30 ? 'breakpoint' : ec === 0x32 ? 'software step' : ec === 0x34 ? `watchpoint at ${hexPc(exit.far)}` : 'brk';
      return `debug exception (${what}) routed to EL2; ${syndrome}`;
    }
  }
}

export function describeAction(a: ExitAction): string {
  return a.kind === 'resume' ? 'resumed' : `halted (${a.halt.kind}${a.halt.kind === 'fault' ? ': ' + a.halt.message : ''})`;
}
