/**
 * Exception syndromes: ESR_ELx fields (Arm ARM DDI0487, D17.2.37 "ESR_EL1,
 * Exception Syndrome Register (EL1)" and D17.2.38 ESR_EL2). The same encodings
 * serve ESR_EL1 (exceptions the guest takes) and ESR_EL2 (exits to the
 * hypervisor model). Values fit in 32 bits: ISS2 (ESR[55:32]) is not produced.
 */
import { faultStatusCode } from '../mmu/faults.js';

/** Exception classes, ESR_ELx.EC (bits [31:26]). */
export const EC = {
  UNKNOWN: 0x00,
  WFX: 0x01,
  FP_ASIMD: 0x07,
  ILLEGAL_STATE: 0x0e,
  SVC64: 0x15,
  HVC64: 0x16,
  SMC64: 0x17,
  SYS64: 0x18,
  IABT_LOW: 0x20,
  IABT_CUR: 0x21,
  PC_ALIGN: 0x22,
  DABT_LOW: 0x24,
  DABT_CUR: 0x25,
  SP_ALIGN: 0x26,
  SERROR: 0x2f,
  BRK64: 0x3c,
} as const;
export type ExceptionClass = (typeof EC)[keyof typeof EC];

export const EC_NAMES: Readonly<Record<number, string>> = {
  0x00: 'unknown',
  0x01: 'wfx',
  0x07: 'fp_asimd',
  0x0e: 'illegal_state',
  0x15: 'svc64',
  0x16: 'hvc64',
  0x17: 'smc64',
  0x18: 'sys64',
  0x20: 'iabt_low',
  0x21: 'iabt_cur',
  0x22: 'pc_align',
  0x24: 'dabt_low',
  0x25: 'dabt_cur',
  0x26: 'sp_align',
  0x2f: 'serror',
  // Debug exceptions (D17.2.37; KVM's ESR_ELx_EC_BREAKPT_LOW, _SOFTSTP_, _WATCHPT_): from a lower EL / the current one.
  0x30: 'breakpoint_low',
  0x31: 'breakpoint_cur',
  0x32: 'sstep_low',
  0x33: 'sstep_cur',
  0x34: 'watchpoint_low',
  0x35: 'watchpoint_cur',
  0x3c: 'brk64',
};

/** IL (bit 25): 1 for a trapped 32-bit instruction, which is every A64 instruction. */
export const IL = 1 << 25;

/** Assemble EC, IL and ISS into an ESR value (unsigned 32-bit). */
export function esr(ec: number, iss: number, il = true): number {
  return ((ec << 26) | (il ? IL : 0) | (iss & 0x1ff_ffff)) >>> 0;
}

export function esrEc(value: number): number {
  return (value >>> 26) & 0x3f;
}
export function esrIss(value: number): number {
  return value & 0x1ff_ffff;
}

/**
 * EC 0x18, trapped MSR, MRS or System instruction (D17.2.37, "ISS encoding for an
 * exception from MSR, MRS, or System instruction execution in AArch64 state"):
 * Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10], Rt [9:5], CRm [4:1],
 * Direction [0] (1 = read, MRS/SYSL; 0 = write, MSR/SYS).
 */
/** The fields an EC 0x18 syndrome carries: the encoding, Rt, and the direction. */
export interface SysregAccessFields {
  readonly op0: number;
  readonly op1: number;
  readonly crn: number;
  readonly crm: number;
  readonly op2: number;
  readonly rt: number;
  readonly read: boolean;
}

export function issSysreg(f: SysregAccessFields): number {
  return (
    ((f.op0 & 3) << 20) |
    ((f.op2 & 7) << 17) |
    ((f.op1 & 7) << 14) |
    ((f.crn & 15) << 10) |
    ((f.rt & 31) << 5) |
    ((f.crm & 15) << 1) |
    (f.read ? 1 : 0)
  );
}

export function decodeIssSysreg(iss: number): SysregAccessFields {
  return {
    op0: (iss >>> 20) & 3,
    op2: (iss >>> 17) & 7,
    op1: (iss >>> 14) & 7,
    crn: (iss >>> 10) & 15,
    rt: (iss >>> 5) & 31,
    crm: (iss >>> 1) & 15,
    read: (iss & 1) === 1,
  };
}

/**
 * EC 0x01, trapped WFI/WFE (D17.2.37, "ISS encoding for an exception from a
 * WF* instruction"): CV [24] = 1 and COND [23:20] = 0b1110 for an unconditional
 * A64 instruction; TI [1:0] = 00 WFI, 01 WFE.
 */
export function issWfx(isWfe: boolean): number {
  return (1 << 24) | (0xe << 20) | (isWfe ? 1 : 0);
}

/**
 * Fault status codes, ISS[5:0] of data and instruction aborts (D17.2.37, DFSC/IFSC).
 * The translation-fault codes are the MMU's (mmu/faults.ts faultStatusCode, one table);
 * these name them for code that raises a fault without a walk.
 */
export const FSC = {
  addressSize: (level: number) => faultStatusCode('addressSize', level),
  translation: (level: number) => faultStatusCode('translation', level),
  accessFlag: (level: number) => faultStatusCode('accessFlag', level),
  permission: (level: number) => faultStatusCode('permission', level),
  /** Synchronous external abort, not on a translation table walk. */
  external: () => 0b010000,
  /** Synchronous external abort on a translation table walk at `level`. */
  externalOnWalk: (level: number) => faultStatusCode('externalAbort', level),
  alignment: () => 0b100001,
} as const;

export interface AbortSyndrome {
  /** Fault status code (DFSC/IFSC). */
  fsc: number;
  /** Write not Read (data aborts only). */
  wnr?: boolean;
  /** Fault on the stage-2 walk of a stage-1 table access. */
  s1ptw?: boolean;
  /** Cache maintenance or address translation instruction (data aborts only). */
  cm?: boolean;
  /** FAR not valid. */
  fnv?: boolean;
  ea?: boolean;
  /**
   * Instruction syndrome for a single general-purpose-register load/store
   * (ISV=1, only on stage-2 aborts as KVM relies on): SAS, SSE, SRT, SF, AR.
   */
  isv?: { sas: 0 | 1 | 2 | 3; sse: boolean; srt: number; sf: boolean; ar: boolean };
}

/**
 * ISS of a data abort (EC 0x24/0x25): ISV [24], SAS [23:22], SSE [21], SRT [20:16],
 * SF [15], AR [14], FnV [10], EA [9], CM [8], S1PTW [7], WnR [6], DFSC [5:0].
 * The one builder of data-abort syndromes: the fill handler, MMIO and alignment
 * faults all come here (decode.ts only decodes the instruction).
 * Per the Arm ARM, a fault on a stage-1 walk reports WnR = 0... except that
 * it is UNKNOWN for S1PTW faults on some implementations; we report the access.
 */
export function issDataAbort(s: AbortSyndrome): number {
  let iss = s.fsc & 0x3f;
  // WnR: "For faults on cache maintenance and address translation instructions, this
  // bit always returns a value of 1" (D17.2.37/.40, ISS encoding for a Data Abort).
  // QEMU 7.2 reports CM = 0 and WnR = the access type instead (it never sets CM).
  if (s.wnr || s.cm) iss |= 1 << 6;
  if (s.s1ptw) iss |= 1 << 7;
  if (s.cm) iss |= 1 << 8;
  if (s.ea) iss |= 1 << 9;
  if (s.fnv) iss |= 1 << 10;
  if (s.isv) {
    iss |= 1 << 24;
    iss |= (s.isv.sas & 3) << 22;
    if (s.isv.sse) iss |= 1 << 21;
    iss |= (s.isv.srt & 31) << 16;
    if (s.isv.sf) iss |= 1 << 15;
    if (s.isv.ar) iss |= 1 << 14;
  }
  return iss >>> 0;
}

/** ISS of an instruction abort (EC 0x20/0x21): FnV [10], EA [9], S1PTW [7], IFSC [5:0]. */
export function issInstructionAbort(s: AbortSyndrome): number {
  let iss = s.fsc & 0x3f;
  if (s.s1ptw) iss |= 1 << 7;
  if (s.ea) iss |= 1 << 9;
  if (s.fnv) iss |= 1 << 10;
  return iss >>> 0;
}

/** Human-readable one-line decoding of an ESR value, for logs, traces and the debugger. */
export function describeEsr(value: number): string {
  const ec = esrEc(value);
  const iss = esrIss(value);
  const name = EC_NAMES[ec] ?? `ec_0x${ec.toString(16)}`;
  switch (ec) {
    case EC.SVC64:
    case EC.HVC64:
    case EC.SMC64:
    case EC.BRK64:
      return `${name} #0x${(iss & 0xffff).toString(16)}`;
    case EC.SYS64: {
      const f = decodeIssSysreg(iss);
      return `${name} ${f.read ? 'read' : 'write'} op0=${f.op0} op1=${f.op1} CRn=${f.crn} CRm=${f.crm} op2=${f.op2} Rt=${f.rt}`;
    }
    case EC.DABT_LOW:
    case EC.DABT_CUR:
    case EC.IABT_LOW:
    case EC.IABT_CUR: {
      const parts = [`${name} fsc=0x${(iss & 0x3f).toString(16)}`];
      if (ec === EC.DABT_LOW || ec === EC.DABT_CUR) parts.push(iss & (1 << 6) ? 'write' : 'read');
      if (iss & (1 << 7)) parts.push('s1ptw');
      if (iss & (1 << 8)) parts.push('cm');
      if (iss & (1 << 24)) parts.push(`isv sas=${(iss >>> 22) & 3} srt=${(iss >>> 16) & 31}`);
      return parts.join(' ');
    }
    default:
      return `${name} iss=0x${iss.toString(16)}`;
  }
}
