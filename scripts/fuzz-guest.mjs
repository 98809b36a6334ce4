/**
 * Random-instruction guests for scripts/fuzz.mjs: an ELF64 image (loaded at
 * 0x4008_0000 by hypemu and by QEMU's -kernel alike) made of
 *
 *   prologue   VBAR_EL1 = vectors, CPACR_EL1.FPEN = 3 (FP/SIMD words reach
 *              the decoder), NZCV = 0, x0-x30 = SCRATCH + 0x100 * n, SP = SCRATCH + 0x8000,
 *              then a branch to the block
 *   vectors    all 16 entries branch to the handler
 *   handler    uses no stack (the block may have changed SP): saves x0-x2 in
 *              TPIDR_EL1/TPIDRRO_EL0/TPIDR_EL0, counts the exception, logs
 *              ESR_EL1 and ELR_EL1 (low 32 bits) for the first LOG_MAX,
 *              sets ELR_EL1 += 4 (skips the instruction) and ERETs; BRK #0xF00D
 *              (the end of the block) or more than LIMIT exceptions go to the report
 *   report     prints "FUZZ n=<count> <esr>@<offset> ...\n" on the PL011 and
 *              ends: HVC with x0 = 0xC6000001 (hypemu's exit), then PSCI
 *              SYSTEM_OFF (QEMU)
 *   block      WORDS random words (seeded), 4 NOPs, BRK #0xF00D, B .
 *
 * Encodings: Arm ARM C6.2 (each helper names its instruction).
 */

export const BASE = 0x4008_0000;
export const SCRATCH = 0x4040_0000;
const VECTORS = 0x800;
const HANDLER = 0x1000;
const DATA = 0x1800;
const BLOCK = 0x2000;
export const LIMIT = 256;
export const LOG_MAX = 64;
const END_BRK = 0xf00d;
const UART = 0x0900_0000;

// ---- A64 encoders (Arm ARM C6.2)
const movz = (d, imm, hw = 0) => (0xd2800000 | (hw << 21) | ((imm & 0xffff) << 5) | d) >>> 0; // MOVZ Xd
const movk = (d, imm, hw) => (0xf2800000 | (hw << 21) | ((imm & 0xffff) << 5) | d) >>> 0; // MOVK Xd
const sys = (op0, op1, crn, crm, op2) => (op0 << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5);
const msr = (reg, t) => (0xd5000000 | reg | t) >>> 0; // MSR <sysreg>, Xt
const mrs = (t, reg) => (0xd5200000 | reg | t) >>> 0; // MRS Xt, <sysreg>
const addi = (d, n, imm) => (0x91000000 | (imm << 10) | (n << 5) | d) >>> 0; // ADD Xd|SP, Xn|SP, #imm
const subsi = (d, n, imm) => (0xf1000000 | (imm << 10) | (n << 5) | d) >>> 0; // SUBS (CMP when d = 31)
const ldrx = (t, n, off) => (0xf9400000 | ((off / 8) << 10) | (n << 5) | t) >>> 0; // LDR Xt, [Xn, #off]
const strx = (t, n, off) => (0xf9000000 | ((off / 8) << 10) | (n << 5) | t) >>> 0; // STR Xt, [Xn, #off]
const strw = (t, n, off) => (0xb9000000 | ((off / 4) << 10) | (n << 5) | t) >>> 0; // STR Wt, [Xn, #off]
const ldrwReg = (t, n, m) => (0xb8607800 | (m << 16) | (n << 5) | t) >>> 0; // LDR Wt, [Xn, Xm, LSL #2]
const subi = (d, n, imm) => (0xd1000000 | (imm << 10) | (n << 5) | d) >>> 0; // SUB Xd, Xn, #imm
const lsrv = (d, n, m) => (0x9ac02400 | (m << 16) | (n << 5) | d) >>> 0; // LSRV Xd, Xn, Xm
const RET = 0xd65f03c0;
const strwReg = (t, n, m) => (0xb8207800 | (m << 16) | (n << 5) | t) >>> 0; // STR Wt, [Xn, Xm, LSL #2]
const ubfx = (d, n, lsb, w) => (0xd3400000 | (lsb << 16) | ((lsb + w - 1) << 10) | (n << 5) | d) >>> 0; // UBFX
const subr = (d, n, m) => (0xcb000000 | (m << 16) | (n << 5) | d) >>> 0; // SUB Xd, Xn, Xm
const cmpr = (n, m) => (0xeb000000 | (m << 16) | (n << 5) | 31) >>> 0; // CMP Xn, Xm
const movr = (d, m) => (0xaa0003e0 | (m << 16) | d) >>> 0; // MOV Xd, Xm (ORR)
const NOP = 0xd503201f;
const ISB = 0xd5033fdf;
const ERET = 0xd69f03e0;
const brk = (imm) => (0xd4200000 | (imm << 5)) >>> 0;
const hvc = (imm) => (0xd4000002 | (imm << 5)) >>> 0;
const COND = { EQ: 0, NE: 1, HS: 2, LO: 3, HI: 8, LS: 9 };

const VBAR_EL1 = sys(3, 0, 12, 0, 0);
const CPACR_EL1 = sys(3, 0, 1, 0, 2);
const TPIDR_EL1 = sys(3, 0, 13, 0, 4);
const TPIDRRO_EL0 = sys(3, 3, 13, 0, 3);
const TPIDR_EL0 = sys(3, 3, 13, 0, 2);
const ESR_EL1 = sys(3, 0, 5, 2, 0);
const ELR_EL1 = sys(3, 0, 4, 0, 1);
const NZCV = sys(3, 3, 4, 2, 0);

/** A tiny assembler: words at byte offsets from BASE, with label fixups for branches and ADR. */
class Asm {
  constructor(size) {
    this.words = new Uint32Array(size / 4);
    this.at = 0;
    this.labels = new Map();
    this.fixups = [];
  }
  org(off) {
    this.at = off;
  }
  label(name) {
    this.labels.set(name, this.at);
  }
  w(word) {
    this.words[this.at / 4] = word >>> 0;
    this.at += 4;
  }
  /** B / B.cond / ADR / CBZ to a label, resolved at the end. */
  ref(kind, name, arg = 0) {
    this.fixups.push({ at: this.at, kind, name, arg });
    this.w(0);
  }
  mov64(d, v) {
    this.w(movz(d, v & 0xffff));
    this.w(movk(d, (v >>> 16) & 0xffff, 1));
  }
  finish() {
    for (const f of this.fixups) {
      const target = this.labels.get(f.name);
      if (target === undefined) throw new Error(`label ${f.name}`);
      const off = (target - f.at) / 4;
      let w;
      if (f.kind === 'b') w = 0x14000000 | (off & 0x3ffffff); // B
      else if (f.kind === 'bcond') w = 0x54000000 | ((off & 0x7ffff) << 5) | f.arg; // B.cond
      else if (f.kind === 'bl') w = 0x94000000 | (off & 0x3ffffff); // BL
      else if (f.kind === 'cbz') w = 0xb4000000 | ((off & 0x7ffff) << 5) | f.arg; // CBZ Xt
      else if (f.kind === 'cbnz') w = 0xb5000000 | ((off & 0x7ffff) << 5) | f.arg; // CBNZ Xt
      else if (f.kind === 'adr') {
        const b = target - f.at; // ADR Xd, label
        w = 0x10000000 | ((b & 3) << 29) | (((b >> 2) & 0x7ffff) << 5) | f.arg;
      } else throw new Error(f.kind);
      this.words[f.at / 4] = w >>> 0;
    }
    return this.words;
  }
}

/** xorshift32: the same seed gives the same guest on every host. */
export function rng(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** The random words of guest `seed` (what the reproducer lists). */
export function randomWords(seed, count) {
  const r = rng(seed * 2654435761 + 1);
  const out = [];
  for (let i = 0; i < count; i++) out.push(r());
  return out;
}

/** The image (code + data) of one guest, loaded at BASE. */
export function guestCode(words) {
  const size = BLOCK + (words.length + 8) * 4;
  const a = new Asm(Math.ceil(size / 0x1000) * 0x1000);
  emitPrologue(a);
  emitVectors(a);
  emitHandler(a);
  emitReport(a);
  emitHex(a);
  if (a.at > DATA) throw new Error('fuzz guest: handler overlaps data');
  a.org(DATA);
  a.label('data');
  // the block
  a.org(BLOCK);
  a.label('block');
  for (const w of words) a.w(w);
  for (let i = 0; i < 4; i++) a.w(NOP);
  a.w(brk(END_BRK));
  a.label('spin');
  a.ref('b', 'spin');
  return a.finish();
}

/** Prologue: VBAR_EL1, FP/SIMD on, NZCV clear, SP and X0-X30 pointing into the scratch area; then the block. */
function emitPrologue(a) {
  a.org(0);
  a.ref('adr', 'vectors', 0);
  a.w(msr(VBAR_EL1, 0));
  a.mov64(0, 3 << 20);
  a.w(msr(CPACR_EL1, 0));
  a.w(msr(NZCV, 31));
  a.w(ISB);
  a.mov64(0, SCRATCH + 0x8000);
  a.w(addi(31, 0, 0)); // MOV SP, X0
  for (let n = 0; n <= 30; n++) a.mov64(n, SCRATCH + 0x100 * n);
  a.ref('b', 'block');
}

/** Vectors: 16 entries of 0x80, each a branch to the handler. */
function emitVectors(a) {
  for (let i = 0; i < 16; i++) {
    a.org(VECTORS + i * 0x80);
    if (i === 0) a.label('vectors');
    a.ref('b', 'handler');
  }
}

/** The exception handler. Data: count at +0, ESR log at +0x100, ELR (low 32 bits) log at +0x200; the end BRK or too many exceptions go to the report. */
function emitHandler(a) {
  a.org(HANDLER);
  a.label('handler');
  a.w(msr(TPIDR_EL1, 0));
  a.w(msr(TPIDRRO_EL0, 1));
  a.w(msr(TPIDR_EL0, 2));
  a.w(mrs(0, ESR_EL1));
  a.mov64(1, ((0x3c << 26) | (1 << 25) | END_BRK) >>> 0); // ESR of BRK #0xF00D
  a.w(cmpr(0, 1));
  a.ref('bcond', 'report', COND.EQ);
  a.ref('adr', 'data', 1);
  a.w(ldrx(2, 1, 0));
  a.w(addi(2, 2, 1));
  a.w(strx(2, 1, 0));
  a.w(subsi(31, 2, LIMIT));
  a.ref('bcond', 'report', COND.HI);
  a.w(subsi(31, 2, LOG_MAX));
  a.ref('bcond', 'skip', COND.HI);
  a.w(subi(2, 2, 1));
  a.w(addi(1, 1, 0x100));
  a.w(strwReg(0, 1, 2));
  a.w(addi(1, 1, 0x100));
  a.w(mrs(0, ELR_EL1));
  a.w(strwReg(0, 1, 2));
  a.label('skip');
  a.w(mrs(0, ELR_EL1));
  a.w(addi(0, 0, 4));
  a.w(msr(ELR_EL1, 0));
  a.w(mrs(0, TPIDR_EL1));
  a.w(mrs(1, TPIDRRO_EL0));
  a.w(mrs(2, TPIDR_EL0));
  a.w(ERET);
}

/** The report: "FUZZ n=<hex>" then " <esr>@<elr>" per logged exception, "\n", exit (HVC 0xC600_0001, then PSCI SYSTEM_OFF). */
function emitReport(a) {
  a.label('report');
  a.mov64(19, UART);
  a.ref('adr', 'data', 20);
  const putc = (ch) => {
    a.w(movz(0, ch.charCodeAt(0)));
    a.w(strw(0, 19, 0));
  };
  for (const ch of 'FUZZ n=') putc(ch);
  a.w(ldrx(21, 20, 0));
  a.w(movr(0, 21));
  a.ref('bl', 'hex');
  a.w(movz(22, 0));
  a.label('loop');
  a.w(cmpr(22, 21));
  a.ref('bcond', 'done', COND.HS);
  a.w(subsi(31, 22, LOG_MAX));
  a.ref('bcond', 'done', COND.HS);
  putc(' ');
  a.w(addi(23, 20, 0x100));
  a.w(ldrwReg(0, 23, 22));
  a.ref('bl', 'hex');
  putc('@');
  a.w(addi(23, 20, 0x200));
  a.w(ldrwReg(0, 23, 22));
  a.ref('bl', 'hex');
  a.w(addi(22, 22, 1));
  a.ref('b', 'loop');
  a.label('done');
  putc('\n');
  a.mov64(0, 0xc6000001);
  a.w(movz(1, 0));
  a.w(hvc(0));
  a.mov64(0, 0x84000008);
  a.w(hvc(0));
  a.label('halt');
  a.ref('b', 'halt');
}

/** hex: print x0 in hex without leading zeros (x1-x3 scratch, returns by x30). */
function emitHex(a) {
  a.label('hex');
  a.w(movz(1, 60));
  a.w(movz(3, 0));
  a.label('h1');
  a.w(lsrv(2, 0, 1));
  a.w(ubfx(2, 2, 0, 4));
  a.ref('cbnz', 'hprint', 3);
  a.ref('cbnz', 'hprint', 2);
  a.ref('cbz', 'hprint', 1);
  a.ref('b', 'hnext');
  a.label('hprint');
  a.w(movz(3, 1));
  a.w(subsi(31, 2, 10));
  a.ref('bcond', 'hdigit', COND.LO);
  a.w(addi(2, 2, 0x61 - 10));
  a.ref('b', 'hout');
  a.label('hdigit');
  a.w(addi(2, 2, 0x30));
  a.label('hout');
  a.w(strw(2, 19, 0));
  a.label('hnext');
  a.ref('cbz', 'hret', 1);
  a.w(subi(1, 1, 4));
  a.ref('b', 'h1');
  a.label('hret');
  a.w(RET);
}

/** Block address (ELR values in the report are its low 32 bits). */
export const BLOCK_VA = BASE + BLOCK;

/** A minimal ELF64 AArch64 executable: one RWX PT_LOAD at BASE, entry BASE. */
export function elf(code) {
  const body = new Uint8Array(code.buffer, code.byteOffset, code.byteLength);
  const hdr = 64;
  const ph = 56;
  const off = 0x1000;
  const out = new Uint8Array(off + body.length);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF64, little endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 183, true); // EM_AARCH64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(BASE), true); // e_entry
  v.setBigUint64(32, BigInt(hdr), true); // e_phoff
  v.setUint16(52, hdr, true); // e_ehsize
  v.setUint16(54, ph, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  v.setUint16(58, 64, true); // e_shentsize
  v.setUint32(hdr, 1, true); // PT_LOAD
  v.setUint32(hdr + 4, 7, true); // RWX
  v.setBigUint64(hdr + 8, BigInt(off), true); // p_offset
  v.setBigUint64(hdr + 16, BigInt(BASE), true); // p_vaddr
  v.setBigUint64(hdr + 24, BigInt(BASE), true); // p_paddr
  v.setBigUint64(hdr + 32, BigInt(body.length), true); // p_filesz
  v.setBigUint64(hdr + 40, BigInt(body.length), true); // p_memsz
  v.setBigUint64(hdr + 48, 0x1000n, true); // p_align
  out.set(body, off);
  return out;
}
