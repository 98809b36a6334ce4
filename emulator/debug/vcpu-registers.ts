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

export function registerAccess(r: RegisterDescriptor, ctx: RegisterContext): RegAccess {
  const v = ctx.vcpu;
  const uc = v.uc;
  const ro = (read: () => bigint | undefined): RegAccess => ({ read, write: null });
  const x = /^x([0-9]+)$/.exec(r.name);
  if (x) {
    const n = Number(x[1]);
    return { read: () => v.x(n), write: (val) => (v.setX(n, val), true) };
  }
  const vn = /^v([0-9]+)$/.exec(r.name);
  if (vn) {
    const n = Number(vn[1]);
    return {
      read: () => leBytesToBig(uc.vregRead(n)),
      write: (val) => (uc.vregWrite(n, bigToLeBytes(val, 16)), true),
    };
  }
  switch (r.name) {
    case 'sp':
      return { read: () => uc.regRead(Reg.SP), write: (val) => (uc.regWrite(Reg.SP, val), true) };
    case 'pc':
      return { read: () => vaToBigint(v.pc), write: (val) => ((v.pc = vaFromBigint(val)), true) };
    case 'cpsr':
      return { read: () => BigInt(v.pstate >>> 0), write: (val) => writePstate(v, Number(val)) };
    case 'fpsr':
      return { read: () => uc.regRead(Reg.FPSR) & 0xffff_ffffn, write: (val) => (uc.regWrite(Reg.FPSR, val), true) };
    case 'fpcr':
      return { read: () => uc.regRead(Reg.FPCR) & 0xffff_ffffn, write: (val) => (uc.regWrite(Reg.FPCR, val), true) };
    // Unicorn does not bank SP on PSTATE changes (DESIGN.md): the live SP is the bank of the current mode.
    case 'sp_el0':
      return {
        read: () => (liveSpIs(v, 0) ? uc.regRead(Reg.SP) : uc.regRead(Reg.SP_EL0)),
        write: (val) => (uc.regWrite(liveSpIs(v, 0) ? Reg.SP : Reg.SP_EL0, val), true),
      };
    case 'sp_el1':
      return {
        read: () => (liveSpIs(v, 1) ? uc.regRead(Reg.SP) : uc.regRead(Reg.SP_EL1)),
        write: (val) => (uc.regWrite(liveSpIs(v, 1) ? Reg.SP : Reg.SP_EL1, val), true),
      };
    case 'currentel':
      return ro(() => BigInt(v.el << 2));
    // What the EL2 model was told about the last exit: the syndrome registers hardware would have written.
    case 'esr_el2':
      return ro(() => {
        const e = ctx.lastExit();
        return e ? BigInt(e.esr >>> 0) : 0n;
      });
    case 'elr_el2':
      return ro(() => {
        const e = ctx.lastExit();
        return e ? vaToBigint(e.pc) : 0n;
      });
    case 'far_el2':
      return ro(() => {
        const e = ctx.lastExit();
        return e && 'far' in e ? vaToBigint(e.far) : 0n;
      });
    case 'hpfar_el2':
      return ro(() => {
        const e = ctx.lastExit();
        return e && 'hpfar' in e ? BigInt(e.hpfar) : 0n;
      });
  }
  if (r.feature === FEATURE_SYSREGS && r.sysreg) {
    const enc = r.sysreg;
    // Other EL2 registers are the hypervisor model's register file (Unicorn's own EL2 state is
    // not what the model uses). Writable: a new HCR_EL2 reroutes traps and reinstalls stage 2.
    if (enc.op1 >= 4 && r.name.endsWith('_el2')) {
      const hyp = ctx.hyp;
      const name = r.name.toUpperCase();
      return {
        read: () => hyp.el2Register?.(name),
        write: (val) => {
          if (!hyp.setEl2Register?.(name, val)) return false;
          v.flushTlb();
          ctx.codeChanged();
          return true;
        },
      };
    }
    // MAIR_EL1 as the guest reads it (under --mair-mangle the CPU holds the mangled value).
    if (r.name === 'mair_el1') {
      const hyp = ctx.hyp;
      return {
        read: () => {
          const cpu = uc.sysregRead(enc) ?? 0n;
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
    const readOnly = entry?.access === 'ro';
    return {
      read: () => uc.sysregRead(enc) ?? undefined,
      write: readOnly
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
  return ro(() => undefined);
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
