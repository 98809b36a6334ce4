import { describe, expect, it } from 'vitest';
import { endsStraightLine, straightLineCount } from '../../emulator/cpu/unmask-scan.js';

// A64 encodings (Arm ARM C4.1 "Branches, exception generating and system instructions").
const NOP = 0xd503201f;
const ADD = 0x91000421; // add x1, x1, #1
const DAIFCLR_I = 0xd50342ff; // msr daifclr, #2
const DAIFSET_I = 0xd50342df; // msr daifset, #2
const MSR_DAIF_XZR = 0xd51b423f; // msr daif, xzr
const MRS_DAIF = 0xd53b4220; // mrs x0, daif
const ERET = 0xd69f03e0;
const B = 0x14000002;
const BCOND = 0x54000040;
const CBZ = 0xb4000040;
const TBZ = 0x36000040;
const RET = 0xd65f03c0;
const SVC = 0xd4000001;
const WFI = 0xd503207f;
const LDR = 0xf9400000;

describe('unmask-scan: where a masked pending interrupt must be looked at again', () => {
  it('the PSTATE.I writers, exception returns, branches and exception generation end the straight line', () => {
    for (const w of [DAIFCLR_I, MSR_DAIF_XZR, ERET, B, BCOND, CBZ, TBZ, RET, SVC]) expect(endsStraightLine(w)).toBe(true);
  });
  it('other instructions (system ones included) do not', () => {
    for (const w of [NOP, ADD, DAIFSET_I, MRS_DAIF, WFI, LDR]) expect(endsStraightLine(w)).toBe(false);
  });
  it('counts up to and including the first one, bounded by the page end and the maximum', () => {
    const words = new Uint32Array([NOP, NOP, ADD, DAIFCLR_I, ADD, ADD]);
    expect(straightLineCount(words, 0, words.length, 64)).toBe(4);
    expect(straightLineCount(words, 3, words.length, 64)).toBe(1);
    expect(straightLineCount(words, 4, words.length, 64)).toBe(2);
    expect(straightLineCount(words, 0, 2, 64)).toBe(2);
    expect(straightLineCount(words, 0, words.length, 3)).toBe(3);
    expect(straightLineCount(words, 6, 6, 64)).toBe(1);
  });
});
