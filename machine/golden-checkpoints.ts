/**
 * Register-state checkpoints of a golden run (README "Golden runs", issue 11): every `every`
 * retired instructions (absolute counts: every, 2 x every, ...) and once at the end, a 64-bit
 * fingerprint of every vCPU's architectural registers (machine/golden-state.ts). A check run
 * computes the same fingerprints at the same counts; the first one that differs bounds where the
 * two runs parted to a window of at most `every` instructions, after the last one that agreed
 * (machine/golden-lockstep.ts then narrows it to the instruction).
 *
 * `every` is a multiple of the run loop's turn (TURN, 4M instructions), where every run stops
 * anyway: a checkpoint adds no stop, so a run with checkpoints is the run without them. (A stop
 * elsewhere was once seen to move where the Linux boot took an interrupt; measured again on
 * 2026-11-30, marks every 65,536 instructions left the Linux boot's trace unchanged, with one vCPU
 * and with --smp 2: a GIC line change ends the running slice, emulator/platform/virt.ts;
 * tests/integration/snapshot.test.ts "extra stops".)
 *
 * checkpoints.bin holds the fingerprints, 8 bytes each (the first 8 bytes of a SHA-256 of the
 * state vectors), in order; golden.json says `every`, how many, and the end's count and
 * fingerprint. A Linux boot (876M instructions) is 218 fingerprints, 1.7 KB.
 */
import { createHash } from 'node:crypto';
import { TURN, type Machine } from './machine.js';
import { VcpuState } from './golden-state.js';

/** Default checkpoint interval (instructions): one run-loop turn. */
export const CHECKPOINT_EVERY = TURN;
export const CHECKPOINT_FILE = 'checkpoints.bin';

/** golden.json's `checkpoints`. */
export interface CheckpointMeta {
  readonly every: number;
  readonly count: number;
  readonly file: string;
  /** The state when the run ended. */
  readonly end: { readonly instructions: number; readonly hash: string };
}

/** The fingerprint of every vCPU's state now (between two instructions). */
export class StateFingerprint {
  private readonly states: VcpuState[];

  constructor(m: Machine) {
    this.states = m.board.vcpus.map((v) => new VcpuState(v));
  }

  /** 8 bytes (a fresh copy). */
  take(): Buffer {
    const h = createHash('sha256');
    for (const s of this.states) h.update(s.read());
    return h.digest().subarray(0, 8);
  }
}

/** Takes the fingerprints of a run as it goes (record) and compares them with a golden's (check). */
export class Checkpoints {
  private readonly fp: StateFingerprint;
  private readonly taken: Buffer[] = [];
  /** check: the first checkpoint whose fingerprint differs from the golden's (1-based index), or null. */
  firstMismatch: number | null = null;

  constructor(
    m: Machine,
    readonly every: number,
    /** check: the golden's fingerprints (count x 8 bytes); null when recording. */
    private readonly golden: Buffer | null = null,
  ) {
    if (!Number.isSafeInteger(every) || every < 1 || every % TURN !== 0) throw new RangeError(`checkpoint interval ${every}: a multiple of ${TURN}`);
    this.fp = new StateFingerprint(m);
    m.setMarks(every, (instructions) => this.mark(instructions));
  }

  private mark(instructions: number): void {
    const k = instructions / this.every; // 1-based index of this checkpoint
    const h = this.fp.take();
    this.taken.push(h);
    const g = this.golden;
    if (this.firstMismatch === null && g !== null && k * 8 <= g.length && !h.equals(g.subarray((k - 1) * 8, k * 8))) this.firstMismatch = k;
  }

  /** How many were taken. */
  get count(): number {
    return this.taken.length;
  }

  /** checkpoints.bin's bytes. */
  bytes(): Buffer {
    return Buffer.concat(this.taken);
  }

  /** The end of the run: its count and fingerprint. */
  end(instructions: number): { instructions: number; hash: string } {
    return { instructions, hash: this.fp.take().toString('hex') };
  }
}

/**
 * Where a check run's state first differed from the golden's, as a window of instruction counts:
 * the states agreed after `from` instructions (a checkpoint, or 0: the start) and differed by
 * `to` (the first checkpoint that differs, or the end). null: every checkpoint agreed.
 */
export function divergenceWindow(
  meta: CheckpointMeta,
  check: { firstMismatch: number | null; count: number },
  actualEnd: { instructions: number; hash: string },
): { from: number; to: number } | null {
  if (check.firstMismatch !== null) return { from: (check.firstMismatch - 1) * meta.every, to: check.firstMismatch * meta.every };
  // Every common checkpoint agreed: the runs part after the last of them, if at all.
  const common = Math.min(check.count, meta.count);
  if (check.count === meta.count && actualEnd.instructions === meta.end.instructions && actualEnd.hash === meta.end.hash) return null;
  return { from: common * meta.every, to: Math.max(actualEnd.instructions, meta.end.instructions) };
}
