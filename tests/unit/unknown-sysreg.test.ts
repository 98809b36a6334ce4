// An encoding the EL2 model does not know (seed 004; KVM's emulate_sys_reg with no descriptor):
// UNDEFINED for the guest (EC 0x00 to EL1, ELR = the instruction), reported once and counted;
// `unknownSysreg: 'raz'` reads it as zero instead. The register used, S3_1_C15_C2_0 (the
// Cortex-A57's CPUACTLR_EL1), is one the CPU core (Unicorn's QEMU 5 "max") implements and lets
// EL1 read, so the exception comes from the EL2 model alone. (The guest unknown-sysreg checks
// the EL0 cases where an exception taken from the hook was lost before Vcpu.hookRedirect.)
import { afterEach, describe, expect, it } from 'vitest';
import { VirtMachine } from '../../emulator/platform/virt.js';
import { VIRT } from '../../emulator/platform/memmap.js';
import { Hypervisor, DEFAULT_HYP_CONFIG } from '../../hyp/hypervisor.js';
import { SR } from '../../emulator/cpu/sysregs.js';

const B = 0x4008_0000;
const VBAR = 0x4009_0000;
const PROGRAM = [
  0xd2800540, // mov x0, #42
  0xd539f200, // mrs x0, S3_1_C15_C2_0
  0xd2800021, // mov x1, #1
  0xd2800042, // mov x2, #2
];

let machine: VirtMachine | null = null;
afterEach(() => {
  machine?.close();
  machine = null;
});

function run(unknownSysreg: 'undef' | 'raz', insns: number): { m: VirtMachine; hyp: Hypervisor } {
  const m = new VirtMachine({ uartOut: () => {} });
  machine = m;
  const hyp = new Hypervisor({ ...DEFAULT_HYP_CONFIG, unknownSysreg });
  hyp.attach(m.vcpu, { ram: { base: VIRT.RAM.base, size: m.ramSize } });
  PROGRAM.forEach((w, i) => m.vcpu.ram.write32(B + 4 * i, w));
  for (let i = 0; i < 4; i++) m.vcpu.ram.write32(VBAR + 0x200 + 4 * i, 0xd503201f); // nops
  m.vcpu.setSysreg(SR.VBAR_EL1, BigInt(VBAR));
  m.vcpu.pc = B;
  expect(m.vcpu.runFor(insns)).toBeNull();
  return { m, hyp };
}

describe('unknown system-register encodings (seed 004, issue 13)', () => {
  it('are UNDEFINED: EC 0x00 to EL1 at the instruction, the rest of the block does not run, counted', () => {
    const { m, hyp } = run('undef', 3);
    expect(Number(m.vcpu.sysreg(SR.ESR_EL1))).toBe(0x0200_0000);
    expect(Number(m.vcpu.sysreg(SR.ELR_EL1))).toBe(B + 4);
    expect(m.vcpu.x(0)).toBe(42n); // not written
    expect(m.vcpu.x(1)).toBe(0n); // the next instruction did not run
    expect(m.vcpu.pc).toBe(VBAR + 0x200 + 4); // 3 instructions: mov, mrs (UNDEFINED), the vector's nop
    expect(m.vcpu.el).toBe(1);
    expect(m.vcpu.instructions).toBe(3);
    expect(hyp.stats.unknownSysregs).toEqual({ S3_1_C15_C2_0: 1 });
  });

  it("unknownSysreg 'raz' reads them as zero and runs on", () => {
    const { m, hyp } = run('raz', 4);
    expect(m.vcpu.x(0)).toBe(0n);
    expect(m.vcpu.x(1)).toBe(1n);
    expect(m.vcpu.x(2)).toBe(2n);
    expect(m.vcpu.pc).toBe(B + 16);
    expect(hyp.stats.unknownSysregs).toEqual({ S3_1_C15_C2_0: 1 });
  });
});
