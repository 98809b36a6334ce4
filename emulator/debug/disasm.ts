/**
 * A64 disassembly with Capstone (@alexaltea/capstone-js, Capstone 5 compiled to WASM). Used by
 * the debugger (trap-break lines, `monitor exits`, `monitor disas`), exit reports (a fault names
 * the instruction) and traces.
 *
 * Loading the WASM module is asynchronous (~0.2 s): callers that may disassemble await
 * loadDisassembler() once, at a point where the wait does not matter (before the GDB stub
 * listens, when a run has ended with a fault); afterwards disassemble() is synchronous. Before
 * that, or if Capstone cannot load, disassemble() returns null and callers print the word.
 */
import { createRequire } from 'node:module';

interface CsInsn {
  readonly mnemonic: string;
  readonly op_str: string;
}
interface CsHandle {
  disasm(bytes: readonly number[] | Uint8Array, address: number | bigint, max?: number): CsInsn[];
  close(): void;
}
interface CsModule {
  readonly ARCH_ARM64: number;
  readonly MODE_ARM: number;
  Capstone: new (arch: number, mode: number) => CsHandle;
}

let handle: CsHandle | null = null;
let loading: Promise<boolean> | null = null;

/** Load Capstone once; resolves false (and disassemble() stays null) if it cannot be loaded. */
export function loadDisassembler(): Promise<boolean> {
  loading ??= (async () => {
    try {
      const require = createRequire(import.meta.url);
      const factory = require('@alexaltea/capstone-js') as () => Promise<CsModule>;
      const cs = await factory();
      handle = new cs.Capstone(cs.ARCH_ARM64, cs.MODE_ARM);
      return true;
    } catch {
      return false;
    }
  })();
  return loading;
}

const word = new Uint8Array(4);

/**
 * One A64 instruction word at `pc` as `mnemonic operands` (branch targets resolved against pc),
 * `udf`-style text Capstone gives for unallocated encodings is replaced by `.inst 0x...`;
 * null before loadDisassembler() has finished.
 */
export function disassemble(insn: number, pc: bigint | number = 0): string | null {
  if (handle === null) return null;
  word[0] = insn & 0xff;
  word[1] = (insn >>> 8) & 0xff;
  word[2] = (insn >>> 16) & 0xff;
  word[3] = (insn >>> 24) & 0xff;
  try {
    const [i] = handle.disasm(word, typeof pc === 'bigint' ? pc : BigInt.asUintN(64, BigInt(pc)), 1);
    if (i === undefined) return unallocated(insn);
    return i.op_str ? `${i.mnemonic} ${i.op_str}` : i.mnemonic;
  } catch {
    // Capstone throws when the word decodes to nothing (an unallocated encoding).
    return unallocated(insn);
  }
}

const unallocated = (insn: number): string => `.inst 0x${(insn >>> 0).toString(16).padStart(8, '0')} (unallocated)`;
