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
 * they run the way it ran (e.g. the UART as exits, not the native console window). One vCPU only:
 * with --smp the window is reported without stepping.
 */
import { disassemble, loadDisassembler } from '../emulator/debug/disasm.js';
import { Machine } from './machine.js';
import type { MachineConfig } from './config.js';
import { StateFingerprint } from './golden-checkpoints.js';
import { VcpuState, stateDiffs } from './golden-state.js';
import { hexVa, vaToBigint } from '../emulator/types.js';

export interface InstructionDivergence {
  /** Instructions retired before the instruction where the runs part. */
  readonly instructions: number;
  readonly pc: string;
  readonly el: number;
  /** What differs: the instruction itself (before it runs), or the registers it left. */
  readonly kind: 'instruction' | 'registers' | 'end';
  readonly golden: { readonly word: string | null; readonly text: string | null; readonly pc: string };
  readonly actual: { readonly word: string | null; readonly text: string | null; readonly pc: string };
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

function insn(m: Machine, pc: number): { word: string | null; text: string | null; raw: number | null } {
  const w = m.board.vcpu.readInsn(pc);
  if (w === null) return { word: null, text: null, raw: null };
  return { word: `0x${(w >>> 0).toString(16).padStart(8, '0')}`, text: disassemble(w, vaToBigint(pc)), raw: w };
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
      a.board.vcpu.runFor(CHUNK);
      b.board.vcpu.runFor(CHUNK);
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
    if (a.smp !== null) return 'several vCPUs (--smp): not stepped';
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
    const ha = a.board.vcpu.runFor(CHUNK);
    const hb = b.board.vcpu.runFor(CHUNK);
    if (a.instructions !== b.instructions || (ha === null) !== (hb === null) || !fa.take().equals(fb.take())) return k;
    if (a.instructions !== at + CHUNK) return `both runs ${ha !== null ? 'ended' : 'wait for input'} at instruction ${a.instructions} with the same registers`;
  }
  return `no register differs in (${window.from}, ${window.to}] when run in chunks: what differs is memory or device state (it reaches a register or an exit later)`;
}

function step(a: Machine, b: Machine, window: { from: number; to: number }): LockstepResult {
  const va = a.board.vcpu;
  const vb = b.board.vcpu;
  const sa = new VcpuState(va);
  const sb = new VcpuState(vb);
  let n = window.from;
  const found = (kind: InstructionDivergence['kind'], pcA: number, pcB: number, regs: ReturnType<typeof stateDiffs>, ia = insn(a, pcA), ib = insn(b, pcB)): LockstepResult => {
    const divergence: InstructionDivergence = {
      instructions: n, pc: hexVa(pcB), el: vb.el, kind,
      golden: { word: ia.word, text: ia.text, pc: hexVa(pcA) },
      actual: { word: ib.word, text: ib.text, pc: hexVa(pcB) },
      registers: regs.map((r) => ({ name: r.name, golden: r.a, actual: r.b })),
    };
    return { found: true, divergence, stepped: n - window.from, stepFrom: window.from };
  };
  while (n < window.to) {
    const pcA = va.pc;
    const pcB = vb.pc;
    if (pcA !== pcB || va.readInsn(pcA) !== vb.readInsn(pcB)) {
      // The instruction differs: reported here, with the registers it leaves different (one more step each).
      const ia = insn(a, pcA);
      const ib = insn(b, pcB);
      const ran = va.runFor(1) === null && vb.runFor(1) === null && va.instructions === n + 1 && vb.instructions === n + 1;
      return found('instruction', pcA, pcB, ran ? stateDiffs(sa.read(), sb.read()) : [], ia, ib);
    }
    const ha = va.runFor(1);
    const hb = vb.runFor(1);
    if (va.instructions !== n + 1 || vb.instructions !== n + 1) {
      // One of them halted or waits for input before retiring this instruction.
      if (va.instructions !== vb.instructions || (ha === null) !== (hb === null)) return found('end', pcA, pcB, stateDiffs(sa.read(), sb.read()));
      return { found: false, reason: `both runs ${ha !== null ? 'ended' : 'wait for input'} at instruction ${va.instructions} with the same registers`, stepped: n - window.from };
    }
    const d = stateDiffs(sa.read(), sb.read());
    if (d.length > 0) return found('registers', pcA, pcB, d);
    n++;
  }
  return { found: false, reason: `no register differs in (${window.from}, ${window.to}]: what differs is memory or device state (it reaches a register or an exit later)`, stepped: n - window.from };
}

/** The report lines for a lockstep result. */
export function lockstepReport(r: LockstepResult, window: { from: number; to: number }): string[] {
  if (!r.found) return [`instruction-level: the register state agreed at instruction ${window.from} and differed by ${window.to}; not narrowed further: ${r.reason}`];
  const d = r.divergence;
  const both = (s: { word: string | null; text: string | null }) => (s.text !== null ? `${s.text} (${s.word})` : '(no instruction readable)');
  const out = [
    `first instruction that differs: after ${d.instructions} instructions, PC ${d.pc} (EL${d.el})`,
    `  found by running both images from ${window.from === 0 ? 'the start' : `instruction ${window.from} (the last checkpoint where their states agreed)`} in chunks of ${CHUNK}, then stepping from instruction ${r.stepFrom} (${r.stepped} steps)`,
    `  golden:   ${d.golden.pc !== d.actual.pc ? `PC ${d.golden.pc}: ` : ''}${both(d.golden)}`,
    `  this run: ${both(d.actual)}`,
  ];
  if (d.kind === 'instruction') out.push('  the instruction itself differs');
  if (d.kind === 'end') out.push('  one run ended (or waits for input) here and the other did not');
  if (d.registers.length > 0) {
    out.push(`  ${d.kind === 'end' ? 'registers that differ' : 'registers it leaves different'} (golden -> this run): ${d.registers.map((x) => `${x.name} ${x.golden} -> ${x.actual}`).join(', ')}`);
  }
  return out;
}
