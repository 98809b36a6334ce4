/**
 * An in-memory DebugTarget with a toy CPU, so the GDB stub can be tested (by unit tests and by a
 * real gdb-multiarch) without Unicorn. It follows the same contract the real target must follow,
 * through the same code where the contract is code: the run in setImmediate slices with interrupt()
 * honoured between them (emulator/debug/sliced-run.ts), the watchpoint list and its hit rule
 * (watch-range.ts), trap-break's reasons (target.ts switchTrapBreak). Its own are the toy CPU and
 * memory: breakpoints are PC matches (memory is never patched), watchpoints stop *before* the
 * access with PC at the accessing instruction (as aarch64 GDB expects: nonsteppable watchpoints).
 *
 * Toy ISA (every other word is a NOP; every instruction advances PC by 4):
 *   0xf9000041  STR x1, [x2]   8-byte store  (checks write/access watchpoints)
 *   0xf9400041  LDR x1, [x2]   8-byte load   (checks read/access watchpoints)
 *   0xd4000002  HVC #0         an "EL2 exit" of reason hvc (trap-break can stop on it)
 *   0xd4400000  HLT #0         machine exit with code x0 & 0xff
 */
import { AARCH64_REGISTERS, regnumOf } from '../../emulator/debug/aarch64-registers.js';
import { switchTrapBreak, type BreakpointKind, type BreakpointResult, type DebugTarget, type RegisterDescriptor, type StopReason, type TrapReason } from '../../emulator/debug/target.js';
import { SlicedRun, type RunMode } from '../../emulator/debug/sliced-run.js';
import { WatchList } from '../../emulator/debug/watch-range.js';

export const TOY_STR = 0xf9000041;
export const TOY_LDR = 0xf9400041;
export const TOY_HVC = 0xd4000002;
export const TOY_HLT = 0xd4400000;

const PAGE = 4096n;

export interface FakeTargetOptions {
  /** Instructions per slice of a continue (small in tests so interrupts are seen quickly). */
  readonly sliceInstructions?: number;
  readonly resetPc?: bigint;
}

export class FakeTarget extends SlicedRun implements DebugTarget {
  readonly regs: bigint[];
  readonly pages = new Map<bigint, Uint8Array>();
  readonly breakpoints = new Set<bigint>();
  readonly watchpoints = new WatchList();
  readonly trapBreak = new Set<TrapReason>();
  readonly exitLog: string[] = [];
  instructions = 0;
  detachCount = 0;
  /** An exit already reported by trap-break at this PC: the next resume handles it instead of stopping again. */
  private trapReportedAt: bigint | null = null;
  private readonly sliceInstructions: number;
  private readonly pcN = regnumOf(AARCH64_REGISTERS, 'pc');
  private readonly readOnly = new Set(['currentel', 'cntvct_el0', 'midr_el1'].map((n) => regnumOf(AARCH64_REGISTERS, n)));

  constructor(options: FakeTargetOptions = {}) {
    super();
    this.sliceInstructions = options.sliceInstructions ?? 1000;
    this.regs = AARCH64_REGISTERS.map(() => 0n);
    this.regs[this.pcN] = options.resetPc ?? 0x4008_0000n;
    this.setReg('cpsr', 0x3c5n); // EL1h, DAIF masked: the reset state
    this.setReg('currentel', 1n << 2n);
    this.setReg('midr_el1', 0x410f_d034n);
  }

  get pc(): bigint {
    return this.regs[this.pcN]!;
  }
  set pc(v: bigint) {
    this.regs[this.pcN] = v;
  }

  setReg(name: string, value: bigint): void {
    const n = regnumOf(AARCH64_REGISTERS, name);
    if (n < 0) throw new Error(`no register ${name}`);
    this.regs[n] = value;
  }

  getReg(name: string): bigint {
    return this.regs[regnumOf(AARCH64_REGISTERS, name)]!;
  }

  /** Map zero-filled memory (page granular). */
  map(addr: bigint, size: number): void {
    for (let p = addr / PAGE; p * PAGE < addr + BigInt(size); p++) if (!this.pages.has(p)) this.pages.set(p, new Uint8Array(Number(PAGE)));
  }

  /** Store little-endian 32-bit words (test program text). */
  writeWords(addr: bigint, words: readonly number[]): void {
    const bytes = new Uint8Array(words.length * 4);
    const dv = new DataView(bytes.buffer);
    words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
    if (!this.writeMemory(addr, bytes)) throw new Error('writeWords: unmapped');
  }

  // ---------------------------------------------------------------- DebugTarget

  registerTable(): readonly RegisterDescriptor[] {
    return AARCH64_REGISTERS;
  }

  readRegister(regnum: number): bigint | undefined {
    if (regnum === regnumOf(AARCH64_REGISTERS, 'cntvct_el0')) return BigInt(this.instructions); // virtual time = instructions
    return this.regs[regnum];
  }

  writeRegister(regnum: number, value: bigint): boolean {
    if (regnum < 0 || regnum >= this.regs.length || this.readOnly.has(regnum)) return false;
    this.regs[regnum] = BigInt.asUintN(AARCH64_REGISTERS[regnum]!.bitsize, value);
    return true;
  }

  readMemory(addr: bigint, length: number): Uint8Array | null {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const a = addr + BigInt(i);
      const page = this.pages.get(a / PAGE);
      if (page === undefined) return i === 0 ? null : out.subarray(0, i); // partial read up to the hole
      out[i] = page[Number(a % PAGE)]!;
    }
    return out;
  }

  writeMemory(addr: bigint, data: Uint8Array): boolean {
    for (let i = 0; i < data.length; i++) if (!this.pages.has((addr + BigInt(i)) / PAGE)) return false;
    for (let i = 0; i < data.length; i++) {
      const a = addr + BigInt(i);
      this.pages.get(a / PAGE)![Number(a % PAGE)] = data[i]!;
    }
    return true;
  }

  addBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult {
    if (kind === 'sw' || kind === 'hw') this.breakpoints.add(addr);
    else this.watchpoints.add({ kind, addr, length });
    return 'ok';
  }

  removeBreakpoint(kind: BreakpointKind, addr: bigint, length: number): BreakpointResult {
    if (kind === 'sw' || kind === 'hw') this.breakpoints.delete(addr);
    else this.watchpoints.remove({ kind, addr, length });
    return 'ok';
  }

  detached(): void {
    this.detachCount++;
    this.trapBreak.clear();
  }

  setTrapBreak(enabled: boolean, reasons: readonly TrapReason[]): string {
    switchTrapBreak(this.trapBreak, enabled, reasons);
    return this.trapBreak.size === 0 ? 'trap-break: off' : `trap-break: on for ${[...this.trapBreak].join(', ')}`;
  }

  recentExits(count: number): string {
    const list = this.exitLog.slice(-count);
    return list.length === 0 ? 'no exits yet' : list.join('\n');
  }

  walk(va: bigint): string {
    const mapped = this.pages.has(va / PAGE);
    return mapped ? `VA 0x${va.toString(16)} -> PA 0x${va.toString(16)} (fake target: identity, no MMU)` : `VA 0x${va.toString(16)}: not mapped`;
  }

  tlb(): string {
    return 'TLB: fake target has no TLB';
  }

  stats(): string {
    return `instructions: ${this.instructions}\nexits: ${this.exitLog.length}`;
  }

  // ---------------------------------------------------------------- toy execution

  protected runSlice(mode: RunMode, first: boolean): void {
    if (!this.running || this.killed) return;
    if (this.interruptRequested) return this.report({ kind: 'signal', pc: this.pc, signal: 2 });
    const budget = mode === 'step' ? 1 : this.sliceInstructions;
    for (let i = 0; i < budget; i++) {
      // The instruction we resume from must run even if a breakpoint/watchpoint sits on it.
      const resuming = first && i === 0;
      if (!resuming && mode === 'continue' && this.breakpoints.has(this.pc)) return this.report({ kind: 'breakpoint', pc: this.pc });
      const r = this.execute(resuming);
      if (r !== null) return this.report(r);
    }
    if (mode === 'step') return this.report({ kind: 'step', pc: this.pc });
    this.nextSlice(mode);
  }

  /** Execute one toy instruction; a non-null result stops before (watch, trap-break) or after (exit) it. */
  private execute(resuming: boolean): StopReason | null {
    const pc = this.pc;
    const bytes = this.readMemory(pc, 4);
    const word = bytes !== null && bytes.length === 4 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) : 0;
    const x = (n: number): bigint => this.regs[n]!;
    if (word === TOY_STR || word === TOY_LDR) {
      const isWrite = word === TOY_STR;
      const addr = x(2);
      const hit = resuming ? null : this.watchpoints.firstHit(addr, 8, isWrite);
      if (hit !== null) return { kind: 'watch', pc, ...hit };
      if (isWrite) {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, x(1), true);
        this.writeMemory(addr, b);
      } else {
        const b = this.readMemory(addr, 8);
        if (b !== null && b.length === 8) this.regs[1] = new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
      }
    } else if (word === TOY_HVC) {
      if (this.trapBreak.has('hvc') && this.trapReportedAt !== pc) {
        this.trapReportedAt = pc;
        return { kind: 'trap-break', pc, reason: 'hvc', text: `HVC #0 at 0x${pc.toString(16)}, ESR_EL2=0x5a000000` };
      }
      this.trapReportedAt = null;
      this.exitLog.push(`hvc #0 at 0x${pc.toString(16)}`);
    } else if (word === TOY_HLT) {
      this.instructions++;
      return { kind: 'exited', exitCode: Number(x(0) & 0xffn) };
    }
    this.instructions++;
    this.pc = pc + 4n;
    return null;
  }
}
