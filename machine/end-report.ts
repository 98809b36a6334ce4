/**
 * What a Machine reports when its run ends (machine.ts finish): the closing progress line, with
 * the instruction a faulting guest stopped on disassembled (capstone).
 */
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import { disassemble, loadDisassembler } from '../emulator/debug/disasm.js';
import { hexVa, vaToBigint } from '../emulator/types.js';
import { describeEnd, type RunEnd } from './exit-status.js';

/** `Guest fault: ... (PC 0x...: ldp x0, x1, [x2]) after N instructions (T ms host, exit status S)`. */
export async function endLine(end: RunEnd, status: number, v: Vcpu, instructions: number, hostNs: number): Promise<string> {
  return `${describeEnd(end)}${end.kind === 'fault' ? await faultingInsn(v) : ''} after ${instructions} instructions (${(hostNs / 1e6).toFixed(1)} ms host, exit status ${status})`;
}

/** For a fault report: ` (PC 0x...: ldp x0, x1, [x2])`, the instruction the guest stopped on. */
async function faultingInsn(v: Vcpu): Promise<string> {
  const w = v.readInsn(v.pc);
  if (w === null || !(await loadDisassembler())) return '';
  return ` (PC ${hexVa(v.pc)}: ${disassemble(w, vaToBigint(v.pc))})`;
}
