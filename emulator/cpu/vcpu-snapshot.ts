/**
 * The vCPU's part of a machine snapshot: the architectural state that lives in Unicorn (X0-X30,
 * the SP banks and the live SP, PC, PSTATE, V0-V31, FPCR/FPSR, and every system register the
 * catalogue says the CPU holds: storage 'el1' and 'el0'), and the vCPU's own bookkeeping (virtual
 * time, the counter-polling warp, exception and TLB counters). Registers answered by device
 * models (timer, GIC CPU interface, PMU, debug registers) are saved by those models; registers
 * the EL2 model emulates by the EL2 model.
 */
import { Reg, xreg } from '../unicorn/uc.js';
import type { SysregEntry } from './sysreg-catalogue.js';
import type { VcpuInternals } from './vcpu-internals.js';
import { applyState, captureState, encodeValue, SnapshotFormatError, type RestoreContext, type SnapshotContext, type StateValue } from '../snapshot/state.js';

/** Rows whose value lives in the CPU core: the EL1/EL0 context registers. */
function cpuHeldRows(v: VcpuInternals): SysregEntry[] {
  return v.sysregs.entries().filter((e) => e.kind === 'reg' && (e.storage === 'el1' || e.storage === 'el0') && e.access !== 'wo' && e.cpu === 'native');
}

const hex = (b: bigint): string => b.toString(16);

/** The vCPU's own counters, by field name (everything else in Vcpu is wiring or host resources). */
const VCPU_FIELDS = ['irqsTaken', 'exceptions', 'halted', 'eventSeq', 'tlbiCount', 'tlbFlushes'] as const;

export function snapshotVcpu(v: VcpuInternals, ctx: SnapshotContext): StateValue {
  const uc = v.uc;
  const sys: Record<string, string> = {};
  for (const e of cpuHeldRows(v)) {
    const val = uc.sysregRead(e);
    if (val !== null) sys[e.name] = hex(val);
  }
  const q: string[] = [];
  for (let i = 0; i < 32; i++) q.push(Buffer.from(uc.vregRead(i)).toString('hex'));
  const any = v as unknown as Record<string, unknown>;
  const own = captureState(Object.fromEntries(VCPU_FIELDS.map((k) => [k, any[k]])), ctx, [], 'Vcpu');
  const fill = any['fill'] as { fills: number; refusedFills: number };
  return {
    regs: {
      x: Array.from({ length: 31 }, (_, i) => hex(uc.regRead(xreg(i)))),
      sp: hex(uc.regRead(Reg.SP)),
      spEl0: hex(uc.regRead(Reg.SP_EL0)),
      spEl1: hex(uc.regRead(Reg.SP_EL1)),
      pc: hex(uc.regRead(Reg.PC)),
      pstate: hex(uc.regRead(Reg.PSTATE)),
      fpcr: hex(uc.regRead(Reg.FPCR)),
      fpsr: hex(uc.regRead(Reg.FPSR)),
      q,
      sys,
    },
    own,
    clock: captureState(v.clock, ctx, ['started']),
    poll: captureState(any['poll'] as object, ctx, ['clock', 'timers', 'endSlice']),
    fill: { fills: fill.fills, refusedFills: fill.refusedFills },
    // The TLB model's entries are dropped on restore (a refill is a walk); its counters are kept.
    tlbStats: encodeValue(v.translator.tlb.stats, ctx, 'TlbModel.stats'),
  };
}

export function restoreVcpu(v: VcpuInternals, s: StateValue, ctx: RestoreContext): void {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new SnapshotFormatError('vcpu: state is not an object');
  const st = s as Record<string, StateValue>;
  const r = st['regs'] as Record<string, StateValue>;
  if (r === undefined) throw new SnapshotFormatError('vcpu: no registers');
  const uc = v.uc;
  const big = (x: StateValue): bigint => BigInt(`0x${String(x)}`);
  // PSTATE first: its write does not rebuild QEMU's cached translation flags, the CP_REG writes
  // after it do (DESIGN.md). Then the SP banks and the live SP last (a PSTATE write does not bank SP).
  uc.regWrite(Reg.PSTATE, big(r['pstate']!));
  const sys = r['sys'] as Record<string, string>;
  for (const e of cpuHeldRows(v)) {
    const val = sys[e.name];
    if (val !== undefined) uc.sysregWrite(e, BigInt(`0x${val}`));
  }
  uc.regWrite(Reg.SP_EL0, big(r['spEl0']!));
  uc.regWrite(Reg.SP_EL1, big(r['spEl1']!));
  uc.regWrite(Reg.SP, big(r['sp']!));
  const x = r['x'] as string[];
  for (let i = 0; i < 31; i++) uc.regWrite(xreg(i), BigInt(`0x${x[i]}`));
  const q = r['q'] as string[];
  for (let i = 0; i < 32; i++) uc.vregWrite(i, new Uint8Array(Buffer.from(q[i]!, 'hex')));
  uc.regWrite(Reg.FPCR, big(r['fpcr']!));
  uc.regWrite(Reg.FPSR, big(r['fpsr']!));
  uc.regWrite(Reg.PC, big(r['pc']!));
  const any = v as unknown as Record<string, unknown>;
  applyState(v, st['own']!, ctx, 'Vcpu');
  applyState(v.clock, st['clock']!, ctx, 'VirtualClock');
  applyState(any['poll'] as object, st['poll']!, ctx, 'CounterPollWarp');
  applyState(any['fill'] as object, st['fill']!, ctx, 'FillHandler');
  applyState(v.translator.tlb.stats, st['tlbStats']!, ctx, 'TlbModel.stats');
}
