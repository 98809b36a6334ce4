/** A64 disassembly through capstone-js (emulator/debug/disasm.ts). */
import { describe, expect, it } from 'vitest';
import { disassemble, loadDisassembler } from '../../emulator/debug/disasm.js';

describe('disassemble', () => {
  it('decodes A64 words, resolves branch targets against the PC, marks unallocated encodings', async () => {
    expect(await loadDisassembler()).toBe(true);
    expect(disassemble(0xd518a213)).toBe('msr mair_el1, x19');
    expect(disassemble(0xd4000002)).toBe('hvc #0');
    expect(disassemble(0x94000005, 0x4008003cn)).toBe('bl #0x40080050');
    expect(disassemble(0xa9bf7bfd)).toBe('stp x29, x30, [sp, #-0x10]!');
    expect(disassemble(0xa9400440)).toBe('ldp x0, x1, [x2]');
    // An unallocated FP16 three-register encoding (issue 9): no mnemonic, the word instead.
    expect(disassemble(0x2ec01c6c)).toBe('.inst 0x2ec01c6c (unallocated)');
  });
});
