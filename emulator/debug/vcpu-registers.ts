/**
 * How the debugger reads and writes each register of the machine's table (aarch64-registers.ts)
 * on the real vCPU: X/V/SP/PC/PSTATE/FP control from the core, SP_EL0/SP_EL1 from the live SP
 * when it is that bank (Unicorn does not bank SP on PSTATE changes, DESIGN.md), EL2 registers
 * from the EL2 model (its virtual ones for a guest hypervisor; ESR/ELR/FAR/HPFAR_EL2 from the
 * last exit), rows a device answers through the device, the rest through the catalogue.
 */
import type { Exit } from '../cpu/exits.js';
import type { Vcpu } from '../cpu/vcpu.js';
import { Reg } from '../unicorn/uc.js';
import { vaFromBigint, vaToBigint } from '../types.js';
import { FEATURE_SYSREGS } from './aarch64-registers.js';
import type { El2DebugView } from './el2-debug-view.js';
import type { RegisterDescriptor } from './target.js';

type SysregOf = NonNullable<RegisterDescriptor['sysreg']>;

export type RegAccess = { read: () => bigint | undefined; write: ((v: bigint) => boolean) | null };

/** What the register accessors need of the debug target. */
export interface RegisterContext {
  readonly vcpu: Vcpu;
  readonly hyp: El2DebugView;
  /** The exit the EL2 model last handled (or the pending gated one). */
  lastExit(): Exit | null;
  /** A write may have changed translations or code: translated code must be dropped before the next run. */
  codeChanged(): void;
}

/**
 * The accessor of one register of the debugger's table: general and vector registers by number,
 * the named core registers and the EL2 syndrome registers by table, system registers through the
 * catalogue (sysregAccess); anything else reads as unavailable.
 */
export function registerAccess(r: RegisterDescriptor, ctx: RegisterContext): RegAccess {
  const numbered = numberedAccess(r.name, ctx.vcpu);
  if (numbered !== null) return numbered;
  const core = CORE_REGISTERS.get(r.name);
  if (core !== undefined) return core(ctx.vcpu);
  const syndrome = EXIT_SYNDROME.get(r.name);
  if (syndrome !== undefined) return readOnly(() => {
    const e = ctx.lastExit();
    return e ? syndrome(e) : 0n;
  });
  if (r.feature === FEATURE_SYSREGS && r.sysreg) return sysregAccess(r.name, r.sysreg, ctx);
  return readOnly(() => undefined);
}

const readOnly = (read: () => bigint | undefined): RegAccess => ({ read, write: null });

/** x0..x30 from the core's general registers, v0..v31 as 128-bit little-endian values. */
function numberedAccess(name: string, v: Vcpu): RegAccess | null {
  const x = /^x([0-9]+)$/.exec(name);
  if (x) {
    const n = Number(x[1]);
    return { read: () => v.x(n), write: (val) => (v.setX(n, val), true) };
  }
  const vn = /^v([0-9]+)$/.exec(name);
  if (vn) {
    const n = Number(vn[1]);
    return {
      read: () => leBytesToBig(v.uc.vregRead(n)),
      write: (val) => (v.uc.vregWrite(n, bigToLeBytes(val, 16)), true),
    };
  }
  return null;
}

/** A core register Unicorn holds under one id, read and written as it is. */
function coreReg(id: number, mask: bigint | null = null): (v: Vcpu) => RegAccess {
  return (v) => ({
    read: () => (mask === null ? v.uc.regRead(id) : v.uc.regRead(id) & mask),
    write: (val) => (v.uc.regWrite(id, val), true),
  });
}

/**
 * SP_EL0/SP_EL1: Unicorn does not bank SP on PSTATE changes (DESIGN.md), so the live SP is the
 * bank of the current mode and the banked copy is only current for the other one.
 */
function bankedSp(bank: 0 | 1, banked: number): (v: Vcpu) => RegAccess {
  return (v) => ({
    read: () => v.uc.regRead(liveSpIs(v, bank) ? Reg.SP : banked),
    write: (val) => (v.uc.regWrite(liveSpIs(v, bank) ? Reg.SP : banked, val), true),
  });
}

/** The named core registers, by their name in the target description. */
const CORE_REGISTERS: ReadonlyMap<string, (v: Vcpu) => RegAccess> = new Map<string, (v: Vcpu) => RegAccess>([
  ['sp', coreReg(Reg.SP)],
  ['pc', (v) => ({ read: () => vaToBigint(v.pc), write: (val) => ((v.pc = vaFromBigint(val)), true) })],
  ['cpsr', (v) => ({ read: () => BigInt(v.pstate >>> 0), write: (val) => writePstate(v, Number(val)) })],
  ['fpsr', coreReg(Reg.FPSR, 0xffff_ffffn)],
  ['fpcr', coreReg(Reg.FPCR, 0xffff_ffffn)],
  ['sp_el0', bankedSp(0, Reg.SP_EL0)],
  ['sp_el1', bankedSp(1, Reg.SP_EL1)],
  ['currentel', (v) => readOnly(() => BigInt(v.el << 2))],
]);

/**
 * What the EL2 model was told about the last exit: the syndrome registers hardware would have
 * written (0 before any exit, or when the exit has no such field).
 */
const EXIT_SYNDROME: ReadonlyMap<string, (e: Exit) => bigint> = new Map<string, (e: Exit) => bigint>([
  ['esr_el2', (e) => BigInt(e.esr >>> 0)],
  ['elr_el2', (e) => vaToBigint(e.pc)],
  ['far_el2', (e) => ('far' in e ? vaToBigint(e.far) : 0n)],
  ['hpfar_el2', (e) => ('hpfar' in e ? BigInt(e.hpfar) : 0n)],
]);

/**
 * A system register: other EL2 registers from the hypervisor model's register file, MAIR_EL1 as
 * the guest reads it, a device's row through the device, the rest from the CPU.
 */
function sysregAccess(name: string, enc: SysregOf, ctx: RegisterContext): RegAccess {
  // Unicorn's own EL2 state is not what the model uses.
  if (enc.op1 >= 4 && name.endsWith('_el2')) return el2ModelAccess(name.toUpperCase(), ctx);
  const v = ctx.vcpu;
  // MAIR_EL1 as the guest reads it (under --mair-mangle the CPU holds the mangled value).
  if (name === 'mair_el1') {
    const hyp = ctx.hyp;
    return {
      read: () => {
        const cpu = v.uc.sysregRead(enc) ?? 0n;
        return hyp.guestView ? hyp.guestView('MAIR_EL1', cpu) : cpu;
      },
      write: (val) => v.setSysreg(enc, val),
    };
  }
  // A row a device answers (the timer, the GIC CPU interface, the counters) is read and written
  // through the device, as the guest would.
  const entry = v.sysregs.find(enc);
  const device = entry?.device ?? null;
  if (entry !== undefined && device !== null) {
    return { read: () => device.read(entry), write: entry.access === 'ro' ? null : (val) => (device.write(entry, val), true) };
  }
  return {
    read: () => v.uc.sysregRead(enc) ?? undefined,
    write:
      entry?.access === 'ro'
        ? null
        : (val) => {
            if (!v.setSysreg(enc, val)) return false;
            // SCTLR/TTBR/TCR/MAIR may change translations: drop every cached one.
            v.flushTlb();
            ctx.codeChanged();
            return true;
          },
  };
}

/** An EL2 register of the model (its virtual one for a guest hypervisor). Writable: a new HCR_EL2 reroutes traps and reinstalls stage 2. */
function el2ModelAccess(name: string, ctx: RegisterContext): RegAccess {
  const hyp = ctx.hyp;
  return {
    read: () => hyp.el2Register?.(name),
    write: (val) => {
      if (!hyp.setEl2Register?.(name, val)) return false;
      ctx.vcpu.flushTlb();
      ctx.codeChanged();
      return true;
    },
  };
}

function liveSpIs(v: Vcpu, bank: 0 | 1): boolean {
  const p = v.pstate;
  const el = (p >>> 2) & 3;
  const spsel = p & 1;
  return bank === 0 ? el === 0 || spsel === 0 : el === 1 && spsel === 1;
}

/**
 * PSTATE writes: flags and DAIF only. A mode change would need SP banking, and Unicorn does not
 * rebuild its cached translation flags on a PSTATE write (DESIGN.md), so it is refused.
 */
function writePstate(v: Vcpu, value: number): boolean {
  const cur = v.pstate;
  if ((value & 0x1f) !== (cur & 0x1f)) return false;
  v.uc.regWrite(Reg.PSTATE, value >>> 0);
  return true;
}

function leBytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function bigToLeBytes(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
