/**
 * The instruction where two runs part (README "Golden runs", issue 11). The checkpoints
 * (golden-checkpoints.ts) bound it to a window (from, to]: the states agreed after `from`
 * instructions and differed by `to`. Here the recorded image and the checked one are booted side
 * by side with the recorded options, run to `from` and verified against the golden's fingerprint
 * there. Then, in lockstep, (1) both run in chunks of CHUNK instructions, fingerprinted after
 * each, up to the first chunk after which they differ; (2) both are booted again, replay the
 * same prefix and chunks (the same stops: the runs are deterministic), and step through that
 * chunk one instruction at a time. Before each step the PC and the instruction word at it are
 * compared (a changed instruction is reported before it runs); after it, every register of
 * golden-state.ts. The first difference names the instruction count, the PC, both instructions
 * disassembled (capstone) and the registers that differ. The chunk and step stops are not
 * those of the recorded run, but they are the same in both machines, so a difference between
 * them comes from the images.
 *
 * Both machines watch exits, interrupts and the console as the recording run did (a trace), so
 * they run the way it ran (e.g. the UART as exits, not the native console window).
 *
 * With --smp the machines advance through the SMP scheduler (machine/vm.ts stepVm), counting the
 * instructions of every vCPU, so a step is one instruction of whichever vCPU the scheduler runs
 * (both machines make the same stops, so they schedule alike until their states differ). The
 * fingerprints cover every vCPU; a step compares, besides the registers of every vCPU after it,
 * which vCPU ran it and that vCPU's PC and instruction word before it. The divergence names the
 * vCPU and its own instruction count.
 */
import { disassemble, loadDisassembler } from '../emulator/debug/disasm.js';
import { Machine } from './machine.js';
import type { MachineConfig } from './config.js';
import { StateFingerprint } from './golden-checkpoints.js';
import { VcpuState, stateDiffs } from './golden-state.js';
import { hexVa, vaToBigint } from '../emulator/types.js';
import { stepVm } from './vm.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';

export interface InstructionDivergence {
  /** Instructions retired before the instruction where the runs part (with --smp: of all vCPUs). */
  readonly instructions: number;
  /** The vCPU that ran it (this run's), and the instructions that vCPU had retired before it. */
  readonly vcpu: number;
  readonly vcpuInstructions: number;
  /** Several vCPUs (--smp): the report names the vCPU. */
  readonly smp: boolean;
  readonly pc: string;
  readonly el: number;
  /**
   * What differs: the instruction itself (before it runs), the registers it left, one run ended
   * (or waits) where the other did not, or (--smp) the scheduler ran another vCPU here.
   */
  readonly kind: 'instruction' | 'registers' | 'end' | 'vcpu';
  readonly golden: { readonly word: string | null; readonly text: string | null; readonly pc: string; readonly vcpu: number };
  readonly actual: { readonly word: string | null; readonly text: string | null; readonly pc: string; readonly vcpu: number };
  /** Registers that differ after it (kind 'registers'), golden and this run's values. */
  readonly registers: readonly { readonly name: string; readonly golden: string; readonly actual: string }[];
}

export type LockstepResult =
  | { readonly found: true; readonly divergence: InstructionDivergence; readonly stepped: number; readonly stepFrom: number }
  | { readonly found: false; readonly reason: string; readonly stepped: number };

/** Instructions per chunk of the first pass (its cost: two fingerprints, ~30 µs, per chunk). */
export const CHUNK = 4096;

const noop = (): void => {};

async function boot(config: MachineConfig): Promise<Machine> {
  const m = await Machine.create({ ...config, quiet: true }, { console: noop });
  m.on('exit', noop).on('interrupt', noop).on('console', noop);
  return m;
}

function insn(v: Vcpu, pc: number): { word: string | null; text: string | null; raw: number | null } {
  const w = v.readInsn(pc);
  if (w === null) return { word: null, text: null, raw: null };
  return { word: `0x${(w >>> 0).toString(16).padStart(8, '0')}`, text: disassemble(w, vaToBigint(pc)), raw: w };
}

/** Run up to `n` instructions (all vCPUs together) as the run loop does; the halt, if the run ended. */
function advance(m: Machine, n: number): unknown {
  return stepVm({ board: m.board, hyps: m.hyps, smp: m.smp }, n).halt;
}

/**
 * Narrow (from, to] between `golden` (the recorded image and options) and `actual` (the checked
 * ones) to the instruction. `fromHash`: the golden's fingerprint after `from` instructions (null
 * at 0), which the golden side must reproduce before its steps mean anything.
 */
export async function lockstep(golden: MachineConfig, actual: MachineConfig, window: { from: number; to: number }, fromHash: Buffer | null): Promise<LockstepResult> {
  await loadDisassembler();
  // Pass 1: chunks, up to the first one after which the states differ.
  const chunks = await pair(golden, actual, window.from, fromHash, (a, b) => firstDifferingChunk(a, b, window));
  if (typeof chunks === 'string') return { found: false, reason: chunks, stepped: 0 };
  // Pass 2: the same prefix and chunks again, then one instruction at a time through that chunk.
  const stepFrom = window.from + chunks * CHUNK;
  const r = await pair(golden, actual, window.from, null, (a, b) => {
    for (let k = 0; k < chunks; k++) {
      advance(a, CHUNK);
      advance(b, CHUNK);
    }
    if (a.instructions !== stepFrom || b.instructions !== stepFrom) return `the replay did not reach instruction ${stepFrom} again`;
    return step(a, b, { from: stepFrom, to: Math.min(window.to, stepFrom + CHUNK) });
  });
  return typeof r === 'string' ? { found: false, reason: r, stepped: 0 } : r;
}

/** Boot both, run them to `from` (checked against `fromHash`), call `body`; always dispose. A string is why it could not go on. */
async function pair<T>(golden: MachineConfig, actual: MachineConfig, from: number, fromHash: Buffer | null, body: (a: Machine, b: Machine) => T | string): Promise<T | string> {
  const a = await boot(golden);
  let b: Machine | null = null;
  try {
    b = await boot(actual);
    for (const [m, who] of [[a, 'the recorded run'], [b, 'this run']] as const) {
      if (from === 0) continue;
      const r = await m.run({ until: { instructions: from } });
      if (r.reason !== 'instructions') return `${who} ended after ${r.instructions} instructions, before instruction ${from} where the window starts`;
    }
    if (fromHash !== null) {
      if (!new StateFingerprint(a).take().equals(fromHash)) return `the recorded image did not reproduce the golden's state at instruction ${from} (another hypemu or other options than those recorded?)`;
      if (!new StateFingerprint(b).take().equals(fromHash)) return `this run's state at instruction ${from} differs when run again (not reproducible)`;
    }
    return body(a, b);
  } finally {
    await a.dispose();
    await b?.dispose();
  }
}

/** Run both in chunks through the window; the index of the first chunk after which they differ. */
function firstDifferingChunk(a: Machine, b: Machine, window: { from: number; to: number }): number | string {
  const fa = new StateFingerprint(a);
  const fb = new StateFingerprint(b);
  for (let k = 0, at = window.from; at < window.to; k++, at += CHUNK) {
    const ha = advance(a, CHUNK);
    const hb = advance(b, CHUNK);
    if (a.instructions !== b.instructions || (ha === null) !== (hb === null) || !sameCounts(a, b) || !fa.take().equals(fb.take())) return k;
    if (a.instructions !== at + CHUNK) return `both runs ${ha !== null ? 'ended' : 'wait for input'} at instruction ${a.instructions} with the same registers`;
  }
  return `no register differs in (${window.from}, ${window.to}] when run in chunks: what differs is memory or device state (it reaches a register or an exit later)`;
}

/** Every vCPU has retired as many instructions in both machines (the same interleaving). */
function sameCounts(a: Machine, b: Machine): boolean {
  const va = a.board.vcpus;
  const vb = b.board.vcpus;
  return va.every((v, i) => v.instructions === vb[i]!.instructions);
}

/** Which vCPU retired the last step: the one whose count moved (-1: none). */
function ranBy(m: Machine, before: readonly number[]): number {
  return m.board.vcpus.findIndex((v, i) => v.instructions !== before[i]);
}

/** The state vectors of every vCPU, and the registers that differ between two machines' (named `vCPU i x3` with --smp). */
function allDiffs(sa: readonly VcpuState[], sb: readonly VcpuState[], smp: boolean): ReturnType<typeof stateDiffs> {
  const out: ReturnType<typeof stateDiffs> = [];
  sa.forEach((s, i) => {
    for (const d of stateDiffs(s.read(), sb[i]!.read())) out.push(smp ? { ...d, name: `vCPU ${i} ${d.name}` } : d);
  });
  return out;
}

function step(a: Machine, b: Machine, window: { from: number; to: number }): LockstepResult {
  const smp = a.smp !== null;
  const sa = a.board.vcpus.map((v) => new VcpuState(v));
  const sb = b.board.vcpus.map((v) => new VcpuState(v));
  let n = window.from;
  const found = (kind: InstructionDivergence['kind'], ka: number, kb: number, pcA: number, pcB: number, countB: number, regs: ReturnType<typeof stateDiffs>, ia: ReturnType<typeof insn>, ib: ReturnType<typeof insn>): LockstepResult => {
    const vb = b.board.vcpus[Math.max(0, kb)]!;
    const divergence: InstructionDivergence = {
      instructions: n, vcpu: Math.max(0, kb), vcpuInstructions: countB, smp, pc: hexVa(pcB), el: vb.el, kind,
      golden: { word: ia.word, text: ia.text, pc: hexVa(pcA), vcpu: Math.max(0, ka) },
      actual: { word: ib.word, text: ib.text, pc: hexVa(pcB), vcpu: Math.max(0, kb) },
      registers: regs.map((r) => ({ name: r.name, golden: r.a, actual: r.b })),
    };
    return { found: true, divergence, stepped: n - window.from, stepFrom: window.from };
  };
  while (n < window.to) {
    // Before the step: every vCPU's PC and count (the scheduler picks which one runs).
    const pcsA = a.board.vcpus.map((v) => v.pc);
    const pcsB = b.board.vcpus.map((v) => v.pc);
    const cntA = a.board.vcpus.map((v) => v.instructions);
    const cntB = b.board.vcpus.map((v) => v.instructions);
    const wordsA = a.board.vcpus.map((v, i) => (smp ? v.readInsn(pcsA[i]!) : null));
    const wordsB = b.board.vcpus.map((v, i) => (smp ? v.readInsn(pcsB[i]!) : null));
    if (!smp) {
      // One vCPU: a changed instruction is reported before it runs, with the registers it leaves different (one more step each).
      const va = a.board.vcpu;
      const vb = b.board.vcpu;
      const pcA = pcsA[0]!;
      const pcB = pcsB[0]!;
      if (pcA !== pcB || va.readInsn(pcA) !== vb.readInsn(pcB)) {
        const ia = insn(va, pcA);
        const ib = insn(vb, pcB);
        const ran = advance(a, 1) === null && advance(b, 1) === null && a.instructions === n + 1 && b.instructions === n + 1;
        return found('instruction', 0, 0, pcA, pcB, n, ran ? allDiffs(sa, sb, false) : [], ia, ib);
      }
    }
    const ha = advance(a, 1);
    const hb = advance(b, 1);
    const ka = ranBy(a, cntA);
    const kb = ranBy(b, cntB);
    const at = (m: Machine, k: number, pcs: number[]) => insn(m.board.vcpus[Math.max(0, k)]!, pcs[Math.max(0, k)]!);
    if (a.instructions !== n + 1 || b.instructions !== n + 1) {
      // One of them halted or waits for input before retiring this instruction.
      if (a.instructions !== b.instructions || (ha === null) !== (hb === null)) {
        return found('end', ka, kb, pcsA[Math.max(0, ka)]!, pcsB[Math.max(0, kb)]!, cntB[Math.max(0, kb)]!, allDiffs(sa, sb, smp), at(a, ka, pcsA), at(b, kb, pcsB));
      }
      return { found: false, reason: `both runs ${ha !== null ? 'ended' : 'wait for input'} at instruction ${a.instructions} with the same registers`, stepped: n - window.from };
    }
    if (ka !== kb) return found('vcpu', ka, kb, pcsA[ka]!, pcsB[kb]!, cntB[kb]!, allDiffs(sa, sb, smp), at(a, ka, pcsA), at(b, kb, pcsB));
    if (smp && (pcsA[ka] !== pcsB[kb] || wordsA[ka] !== wordsB[kb])) {
      return found('instruction', ka, kb, pcsA[ka]!, pcsB[kb]!, cntB[kb]!, allDiffs(sa, sb, smp), at(a, ka, pcsA), at(b, kb, pcsB));
    }
    const d = allDiffs(sa, sb, smp);
    if (d.length > 0) return found('registers', ka, kb, pcsA[ka]!, pcsB[kb]!, cntB[kb]!, d, at(a, ka, pcsA), at(b, kb, pcsB));
    n++;
  }
  return { found: false, reason: `no register differs in (${window.from}, ${window.to}]: what differs is memory or device state (it reaches a register or an exit later)`, stepped: n - window.from };
}

/** The report lines for a lockstep result. */
export function lockstepReport(r: LockstepResult, window: { from: number; to: number }): string[] {
  if (!r.found) return [`instruction-level: the register state agreed at instruction ${window.from} and differed by ${window.to}; not narrowed further: ${r.reason}`];
  const d = r.divergence;
  const both = (s: { word: string | null; text: string | null }) => (s.text !== null ? `${s.text} (${s.word})` : '(no instruction readable)');
  const who = d.smp ? `, vCPU ${d.vcpu} (its instruction ${d.vcpuInstructions})` : '';
  const out = [
    `first instruction that differs: after ${d.instructions} instructions${who}, PC ${d.pc} (EL${d.el})`,
    `  found by running both images from ${window.from === 0 ? 'the start' : `instruction ${window.from} (the last checkpoint where their states agreed)`} in chunks of ${CHUNK}, then stepping from instruction ${r.stepFrom} (${r.stepped} steps)`,
    `  golden:   ${d.golden.pc !== d.actual.pc ? `PC ${d.golden.pc}: ` : ''}${both(d.golden)}`,
    `  this run: ${both(d.actual)}`,
  ];
  if (d.kind === 'instruction') out.push('  the instruction itself differs');
  if (d.kind === 'end') out.push('  one run ended (or waits for input) here and the other did not');
  if (d.kind === 'vcpu') out.push(`  the scheduler ran another vCPU here: golden vCPU ${d.golden.vcpu}, this run vCPU ${d.actual.vcpu}`);
  if (d.registers.length > 0) {
    out.push(`  ${d.kind === 'end' ? 'registers that differ' : 'registers it leaves different'} (golden -> this run): ${d.registers.map((x) => `${x.name} ${x.golden} -> ${x.actual}`).join(', ')}`);
  }
  return out;
}
