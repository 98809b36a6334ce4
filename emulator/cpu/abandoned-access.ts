/**
 * An instruction stopped from a data-access hook (a watchpoint, the guest's or the debugger's),
 * put back as it was before it ran. The hook runs before the access but cannot cancel it; when
 * the vCPU stops there, the core performs that access and leaves PC on the instruction, but what
 * the instruction wrote is not consistent (measured on Unicorn 2.1.1: a post-indexed STR stored
 * without writing its base back, an LDADD loaded without storing, while `ldr w0, [x0]` wrote its
 * destination: re-executed, it loaded from the loaded value). So the hook takes what the
 * instruction can change before it changes it (the core keeps data aborts precise: registers are
 * still the instruction's inputs at its first access): the general registers and SP, the SIMD&FP
 * registers for a SIMD&FP load/store, and the bytes a store is about to overwrite.
 */
import { Reg, xreg } from '../unicorn/uc.js';
import { Access } from './translator.js';
import type { Vcpu } from './vcpu.js';

export interface AbandonedAccess {
  /** Put the registers and the overwritten bytes back (the vCPU is stopped, PC on the instruction). */
  restore(): void;
}

/** Load/store encodings with V = 1 (bit 26): SIMD&FP registers (Arm ARM C4.1.66 "Loads and Stores"). */
function isSimdLoadStore(insn: number): boolean {
  return (insn & 0x0a00_0000) === 0x0800_0000 && (insn & (1 << 26)) !== 0;
}

/** Inside a data hook of vCPU `v`, before the access of `size` bytes at `addr` (a store when `write`). */
export function captureAbandoned(v: Vcpu, addr: number, size: number, write: boolean): AbandonedAccess {
  const pc = v.pc;
  const x = new Array<bigint>(31);
  for (let n = 0; n < 31; n++) x[n] = v.uc.regRead(xreg(n));
  const sp = v.uc.regRead(Reg.SP);
  const insn = v.readInsn(pc) ?? 0;
  const q = isSimdLoadStore(insn) ? Array.from({ length: 32 }, (_, n) => v.uc.vregRead(n).slice()) : null;
  let bytes: { pa: number; data: Uint8Array } | null = null;
  if (write) {
    const t = v.translator.translate(addr, Access.READ, v.el);
    // Within one 1 KiB page of RAM (the core splits a page-crossing access into two hooked ones).
    if (t.ok && v.ram.contains(t.pa, size) && (t.pa & 0x3ff) + size <= 0x400) bytes = { pa: t.pa, data: v.ram.bytesAt(t.pa, size).slice() };
  }
  return {
    restore() {
      for (let n = 0; n < 31; n++) v.uc.regWrite(xreg(n), x[n]!);
      v.uc.regWrite(Reg.SP, sp);
      if (q !== null) q.forEach((b, n) => v.uc.vregWrite(n, b));
      if (bytes !== null) v.ram.bytesAt(bytes.pa, bytes.data.length).set(bytes.data);
      v.pc = pc;
    },
  };
}
