/**
 * The architectural register state a golden run fingerprints (machine/golden-checkpoints.ts) and
 * the lockstep compares (machine/golden-lockstep.ts): what an instruction can change besides
 * memory and devices. Per vCPU, read in one FFI call (uc_reg_read_batch): X0-X30, the current SP,
 * SP_EL0/SP_EL1, PC, PSTATE (NZCV, DAIF, EL, SPSel: Arm ARM D1.4), V0-V31 (128 bits each), FPCR,
 * FPSR, and the EL1 registers an exception entry or a kernel's context switch writes (ELR, SPSR,
 * ESR, FAR) or its MMU set-up does (SCTLR, TTBR0/1, TCR, MAIR, VBAR, CPACR, CONTEXTIDR, TPIDRs).
 * Unicorn holds them all between two instructions; the EL2 model's own registers are not guest
 * state an instruction changes (they show in the exit trace).
 */
import { SR } from '../emulator/cpu/sysregs.js';
import type { CpuReg, RegisterBatch } from '../emulator/cpu/cpu-regs.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';

const EL1_STATE = [
  'ELR_EL1', 'SPSR_EL1', 'ESR_EL1', 'FAR_EL1', 'SCTLR_EL1', 'TTBR0_EL1', 'TTBR1_EL1', 'TCR_EL1',
  'MAIR_EL1', 'VBAR_EL1', 'CPACR_EL1', 'CONTEXTIDR_EL1', 'TPIDR_EL1', 'TPIDR_EL0', 'TPIDRRO_EL0',
] as const;

interface Named {
  readonly name: string;
  readonly reg: CpuReg;
  /** A V register: 128 bits. */
  readonly wide: boolean;
}

const STATE: readonly Named[] = [
  ...Array.from({ length: 31 }, (_, i): Named => ({ name: `x${i}`, reg: { x: i }, wide: false })),
  { name: 'sp', reg: { core: 'sp' }, wide: false },
  { name: 'pc', reg: { core: 'pc' }, wide: false },
  { name: 'pstate', reg: { core: 'pstate' }, wide: false },
  { name: 'sp_el0', reg: { core: 'sp_el0' }, wide: false },
  { name: 'sp_el1', reg: { core: 'sp_el1' }, wide: false },
  { name: 'fpcr', reg: { core: 'fpcr' }, wide: false },
  { name: 'fpsr', reg: { core: 'fpsr' }, wide: false },
  ...Array.from({ length: 32 }, (_, i): Named => ({ name: `v${i}`, reg: { v: i }, wide: true })),
  ...EL1_STATE.map((n): Named => ({ name: n.toLowerCase(), reg: { sysreg: SR[n] }, wide: false })),
];

/** Bytes of one vCPU's state vector: 16 per register (a V register's 128 bits, else the low 8). */
export const STATE_BYTES = STATE.length * 16;

/** Reads one vCPU's state into a reused buffer (nothing allocated per read). */
export class VcpuState {
  private readonly batch: RegisterBatch;
  /** The state vector of the last read(): 16 bytes per register, in STATE order. */
  readonly bytes = new Uint8Array(STATE_BYTES);

  /** The batch's value bytes of each register (live views, made once): 16 of a V register, 8 of any other. */
  private readonly values: Uint8Array[];

  constructor(vcpu: Vcpu) {
    this.batch = vcpu.createBatch(STATE.map((s) => s.reg));
    // A 64-bit register's slot may hold other bytes above bit 63: only its 8 bytes count.
    this.values = STATE.map((s, i) => this.batch.bytesOf(i).subarray(0, s.wide ? 16 : 8));
  }

  read(): Uint8Array {
    this.batch.read();
    for (let i = 0; i < this.values.length; i++) this.bytes.set(this.values[i]!, i * 16);
    return this.bytes;
  }
}

const hex = (b: Uint8Array, wide: boolean): string => {
  let s = '';
  for (let i = (wide ? 16 : 8) - 1; i >= 0; i--) s += b[i]!.toString(16).padStart(2, '0');
  return `0x${s.replace(/^0+(?=.)/, '')}`;
};

/** The registers whose values differ between two state vectors, `name: a -> b` style pairs. */
export function stateDiffs(a: Uint8Array, b: Uint8Array): { name: string; a: string; b: string }[] {
  const out: { name: string; a: string; b: string }[] = [];
  for (let i = 0; i < STATE.length; i++) {
    const o = i * 16;
    let same = true;
    for (let j = 0; j < 16; j++) if (a[o + j] !== b[o + j]) same = false;
    if (!same) out.push({ name: STATE[i]!.name, a: hex(a.subarray(o, o + 16), STATE[i]!.wide), b: hex(b.subarray(o, o + 16), STATE[i]!.wide) });
  }
  return out;
}
