/**
 * Looking into a machine between runs: the translation of a VA (--walk, Machine.walk), guest RAM
 * (Machine.readMemory, writeMemory) and vCPU 0's registers (Machine.regs). Split from machine.ts.
 */
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import { translate } from '../emulator/cpu/mmu-translator.js';
import type { WalkReport } from '../emulator/mmu/walk-report.js';
import { hexVa, vaFromBigint, vaToBigint } from '../emulator/types.js';
import { Reg } from '../emulator/unicorn/uc.js';
import type { Registers } from './machine-types.js';

/** The stage-1 and stage-2 walk of a VA in the vCPU's current regime (side-effect free). */
export function walkVa(vcpu: Vcpu, hyp: Hypervisor, va: bigint | number, opts: { el?: 0 | 1; access?: 'read' | 'write' | 'fetch' }): WalkReport {
  // A guest hypervisor (--nested): the three stages of an L2 address (hyp/nested/walk.ts)
  if (hyp.nested !== null) return hyp.nested.walk(Number(BigInt.asUintN(64, BigInt(va))));
  return translate(vcpu, typeof va === 'number' ? BigInt(va) : va, opts);
}

/** The stats' walks (--walk), by VA in hex; null without --walk. */
export function walkReports(vas: readonly bigint[], walk: (va: bigint) => WalkReport): Record<string, WalkReport> | null {
  if (vas.length === 0) return null;
  const walks: Record<string, WalkReport> = {};
  for (const va of vas) walks[hexVa(vaFromBigint(va))] = walk(va);
  return walks;
}

/** `n` bytes of guest RAM at an intermediate physical address (a copy). Throws RangeError outside RAM. */
export function readRam(board: VirtMachine, ipa: number | bigint, n: number): Uint8Array {
  const ram = board.vcpu.ram;
  const a = Number(ipa);
  if (!ram.contains(a, n)) throw new RangeError(`IPA 0x${a.toString(16)}+${n} is not in guest RAM (0x${ram.base.toString(16)}..0x${ram.end.toString(16)})`);
  return ram.slice(a, n).slice();
}

/** Write guest RAM at an IPA; every vCPU's translated code is dropped (it may be what changed). */
export function writeRam(board: VirtMachine, ipa: number | bigint, data: Uint8Array): void {
  board.vcpu.ram.load(Number(ipa), data);
  for (const v of board.vcpus) v.uc.flushTb();
}

export function registers(v: Vcpu): Registers {
  const x: bigint[] = [];
  for (let i = 0; i < 31; i++) x.push(v.x(i));
  return { x, sp: v.uc.regRead(Reg.SP), pc: vaToBigint(v.pc), pstate: v.pstate >>> 0, el: v.el };
}
