/**
 * MMIO emulation from a stage-2 data abort syndrome, as KVM's io_mem_abort
 * does: with ISV = 1 the ESR_EL2 ISS gives the access size (SAS), the
 * register (SRT), sign extension (SSE) and width of the destination (SF), so
 * the hypervisor performs the access on the device model and skips the
 * instruction without decoding it.
 */
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import type { DecodedAccess, Stage2AbortExit } from '../emulator/cpu/exits.js';
import type { AccessSize, MmioBus } from '../emulator/memory/bus.js';
import { EC, esr, FSC, issDataAbort, issInstructionAbort } from '../emulator/cpu/esr.js';

export type MmioOutcome = 'emulated' | 'decoded' | 'external-abort' | 'no-syndrome';

/** Where the guest's registers are during the emulation: live on the CPU or saved by a world switch. */
export interface GuestRegs {
  x(n: number): bigint;
  setX(n: number, v: bigint): void;
  /** Vn as 16 little-endian bytes (a copy), and its write. */
  vreg(n: number): Uint8Array;
  setVreg(n: number, bytes: Uint8Array): void;
  skipInstruction(): void;
}

export function emulateMmio(bus: MmioBus, regs: GuestRegs, exit: Stage2AbortExit): MmioOutcome {
  const a = exit.access;
  if (a === null) return emulateDecoded(bus, regs, exit);
  if (a.write) {
    const v = a.rt === 31 ? 0n : BigInt.asUintN(a.size * 8, regs.x(a.rt));
    if (!bus.write(exit.ipa, a.size, v)) return 'external-abort';
  } else {
    const raw = bus.read(exit.ipa, a.size);
    if (raw === null) return 'external-abort';
    let v = BigInt.asUintN(a.size * 8, raw);
    if (a.signExtend) v = BigInt.asIntN(a.size * 8, v);
    regs.setX(a.rt, a.sf ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v));
  }
  regs.skipInstruction();
  return 'emulated';
}

/**
 * ISV = 0 (Arm ARM D17.2.37: pairs, writeback, SIMD, exclusives, atomics
 * give no instruction syndrome): KVM returns -ENOSYS to user space there; we
 * own a decoder, so the vCPU attached the decoded instruction and the access
 * is emulated from it, one bus access per register, then the base register
 * written back. Pairs and writeback forms of general-purpose loads and
 * stores are emulated, and so are the SIMD&FP register forms (LDR/STR
 * B/H/S/D/Q, LDUR/STUR, LDP/STP/LDNP/STNP S/D/Q: whole registers, see
 * emulateSimd); structure loads and stores (LD1-4 lanes and interleaving),
 * exclusives (no monitor on a device) and atomics (no device here implements
 * them) are an external abort, as is anything that could not be decoded.
 */
export function emulateDecoded(bus: MmioBus, regs: GuestRegs, exit: Stage2AbortExit): MmioOutcome {
  const d = exit.decoded;
  if (d === undefined || d === null) return 'no-syndrome';
  if (d.structure || d.exclusive || d.atomic || d.cacheMaintenance) return 'external-abort';
  // The writeback of SP needs the stack pointer, which this interface does not give: abort.
  if (d.writebackValue !== null && d.rn === 31) return 'external-abort';
  if (d.simd) return emulateSimd(bus, regs, exit, d);
  const size = d.elementSize;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return 'external-abort';
  // IPA of the first byte (the exit's IPA is that of the faulting byte, FAR).
  const start = exit.ipa - (exit.far - d.address);
  const regsList = d.rt2 >= 0 ? [d.rt, d.rt2] : [d.rt];
  const loaded: bigint[] = [];
  for (let i = 0; i < regsList.length; i++) {
    const ipa = start + i * size;
    const r = regsList[i]!;
    if (d.write) {
      const v = r === 31 ? 0n : BigInt.asUintN(size * 8, regs.x(r));
      if (!bus.write(ipa, size, v)) return 'external-abort';
    } else {
      const raw = bus.read(ipa, size);
      if (raw === null) return 'external-abort';
      let v = BigInt.asUintN(size * 8, raw);
      if (d.signExtend) v = BigInt.asIntN(size * 8, v);
      loaded.push(d.sf ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v));
    }
  }
  for (let i = 0; i < loaded.length; i++) regs.setX(regsList[i]!, loaded[i]!);
  if (d.writebackValue !== null) regs.setX(d.rn, d.writebackValue);
  regs.skipInstruction();
  return 'decoded';
}

/**
 * SIMD&FP registers to a device: each register moves `elementSize` bytes (1, 2, 4, 8 or 16),
 * little-endian, as bus accesses of at most 8 bytes (a Q register is two doubleword accesses,
 * lower address first, as QEMU splits it). A load writes the whole 128-bit register, the bytes
 * above the element zeroed (Arm ARM C7.2 "LDR (immediate, SIMD&FP)": V[t] = ZeroExtend(data)).
 * Every load is read from the device before any register changes.
 */
function emulateSimd(bus: MmioBus, regs: GuestRegs, exit: Stage2AbortExit, d: DecodedAccess): MmioOutcome {
  const size = d.elementSize;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8 && size !== 16) return 'external-abort';
  const start = exit.ipa - (exit.far - d.address);
  const regsList = d.rt2 >= 0 ? [d.rt, d.rt2] : [d.rt];
  const loaded: Uint8Array[] = [];
  for (let i = 0; i < regsList.length; i++) {
    const ipa = start + i * size;
    const r = regsList[i]!;
    const chunk = (Math.min(size, 8)) as AccessSize;
    if (d.write) {
      const bytes = regs.vreg(r);
      for (let off = 0; off < size; off += chunk) {
        let v = 0n;
        for (let b = chunk - 1; b >= 0; b--) v = (v << 8n) | BigInt(bytes[off + b]!);
        if (!bus.write(ipa + off, chunk, v)) return 'external-abort';
      }
    } else {
      const bytes = new Uint8Array(16);
      for (let off = 0; off < size; off += chunk) {
        const raw = bus.read(ipa + off, chunk);
        if (raw === null) return 'external-abort';
        let v = raw;
        for (let b = 0; b < chunk; b++, v >>= 8n) bytes[off + b] = Number(v & 0xffn);
      }
      loaded.push(bytes);
    }
  }
  for (let i = 0; i < loaded.length; i++) regs.setVreg(regsList[i]!, loaded[i]!);
  if (d.writebackValue !== null) regs.setX(d.rn, d.writebackValue);
  regs.skipInstruction();
  return 'decoded';
}

/**
 * An instruction fetch, or a stage-1 table walk for one, from an address that
 * is neither RAM nor executable: a synchronous external abort, as QEMU's virt
 * board gives for unassigned memory (instruction abort, IFSC 0x10, ELR = FAR = the PC).
 */
export function injectExternalInstructionAbort(vcpu: GuestCpu, exit: Stage2AbortExit): void {
  const lower = vcpu.el === 0;
  vcpu.takeException('sync', esr(lower ? EC.IABT_LOW : EC.IABT_CUR, issInstructionAbort({ fsc: FSC.external() })), exit.pc, exit.far);
}

/**
 * Nothing decodes the address: inject a synchronous external abort, as
 * QEMU's virt board raises for an access to an unassigned physical address.
 * Called once the guest context is back on the CPU (KVM's kvm_inject_dabt
 * likewise only marks the exception pending for the next entry).
 */
export function injectExternalAbort(vcpu: GuestCpu, exit: Stage2AbortExit): void {
  const lower = vcpu.el === 0;
  const wnr = exit.access?.write ?? exit.decoded?.write ?? false;
  vcpu.takeException('sync', esr(lower ? EC.DABT_LOW : EC.DABT_CUR, issDataAbort({ fsc: FSC.external(), wnr })), exit.pc, exit.far);
}
