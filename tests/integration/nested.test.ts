// Seed 003 (nested virtualisation) end to end: the nested-l1 guest hypervisor runs at virtual
// EL2 under `hypemu run --nested` and prints the same PASS lines as under QEMU 7.2
// `-M virt,virtualization=on` (scripts/guests-under-qemu.sh nested-l1).
//
// Rules encoded here (Arm ARM DDI0487):
//  - D1.10 exception entry to EL2: ESR_EL2/ELR_EL2/SPSR_EL2, VBAR_EL2 + 0x400 from a lower EL;
//    HVC's preferred return is the next instruction; a trapped MSR/MRS (EC 0x18), WFI (EC 0x01)
//    or SMC (EC 0x17, HCR_EL2.TSC) returns to itself.
//  - ESR_EL2 ISS for a Data Abort (DFSC level, WnR, ISV) and HPFAR_EL2.FIPA = IPA[47:12] << 4.
//  - D8.13 TLB maintenance: after break-before-make with TLBI IPAS2E1IS / RIPAS2E1IS /
//    VMALLS12E1IS the old mapping is never used again; VMIDs keep two VMs apart.
//  - Without --nested the same image is an ordinary EL1 guest: CurrentEL reads 1.
import { beforeAll, describe, expect, it } from 'vitest';
import { guest, hypemu, type CliResult } from './helpers.js';
import { Machine, exitCodeFor } from '../../machine/index.js';
import { VcpuTarget } from '../../emulator/debug/vcpu-target.js';
import type { StopReason } from '../../emulator/debug/target.js';

describe('nested-l1 under --nested (seed 003)', () => {
  let r: CliResult;
  beforeAll(async () => {
    r = await hypemu(['run', guest('nested-l1'), '--nested', '-q'], { stats: true });
  });

  it('every check the guest hypervisor makes passes, and it exits 0 through the vendor call over SMC', () => {
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(45);
    expect(r.stdout).toContain('RESULT nested-l1: 0 failures');
    expect(r.status).toBe(0);
  });

  it('counts exits to L1 by reason, shadow MMUs per context, shadow faults and TLBIs by kind', () => {
    const n = r.stats!.nested;
    // 14 + 10 hypercalls, one access each trapped by L1's TVM, TID3, TRVM, TWI and TSC, four stage-2 faults in L1's tables
    expect(n.exitsToL1).toEqual({ hvc: 24, 'sysreg.TVM': 1, 'sysreg.TID3': 1, 'sysreg.TRVM': 1, wfx: 1, smc: 1, dabt_s2: 4 });
    expect(n.shadowMmus).toBe(2);
    expect(n.contexts.map((c: any) => c.l1Vmid)).toEqual([1, 2]);
    expect(n.contexts[0].vmid).not.toBe(n.contexts[1].vmid);
    expect(n.shadowFaults).toBeGreaterThanOrEqual(4);
    expect(n.tlbi).toEqual({ IPAS2E1: 1, VMALLE1: 2, IPAS2LE1: 1, RIPAS2E1: 1, VMALLS12E1: 1 });
    // every exit to L1 and every ERET back costs a world switch in the model (cost.ts)
    expect(n.cost.reflect).toBeGreaterThan(0);
    expect(n.cost.eret).toBeGreaterThan(0);
    expect(n.erets).toBeGreaterThanOrEqual(25);
  });

  it('is deterministic: two runs print the same bytes and the same nested statistics', async () => {
    const b = await hypemu(['run', guest('nested-l1'), '--nested', '-q'], { stats: true });
    expect(b.stdout).toBe(r.stdout);
    expect(b.stats!.nested).toEqual(r.stats!.nested);
    expect(b.stats!.instructions).toBe(r.stats!.instructions);
  });
});

describe('nested-irq under --nested: physical IRQs routed by the guest hypervisor\'s HCR_EL2.IMO (Arm ARM D1.3.6, D1.10.2)', () => {
  // The same 14 checks pass under QEMU 7.2 -M virt,virtualization=on,gic-version=3 (scripts/guests-under-qemu.sh nested-irq).
  let r: CliResult;
  beforeAll(async () => {
    r = await hypemu(['run', guest('nested-irq'), '--nested', '-q'], { stats: true });
  });
  it('IMO set: the timer IRQ taken from L2 (even with L2 masked) reaches VBAR_EL2 + 0x480 with ELR/SPSR_EL2; IMO clear: L2\'s VBAR_EL1 + 0x280', () => {
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(14);
    expect(r.stdout).toContain('RESULT nested-irq: 0 failures');
    expect(r.status).toBe(0);
  });
  it('counts the two reflected IRQs as exits to L1 (the third, with IMO clear, went to L2 itself)', () => {
    expect(r.stats!.nested.exitsToL1).toEqual({ irq: 2, hvc: 3 });
  });
  it('is deterministic', async () => {
    const b = await hypemu(['run', guest('nested-irq'), '--nested', '-q'], { stats: true });
    expect(b.stdout).toBe(r.stdout);
    expect(b.stats!.instructions).toBe(r.stats!.instructions);
    expect(b.stats!.nested).toEqual(r.stats!.nested);
  });
});

describe('--walk for an L2 address under --nested: all three stages and the shadow entry', () => {
  it('shows L2 stage 1, the guest hypervisor\'s stage 2 (its tables in guest RAM), ours, and the shadow entry', async () => {
    const r = await hypemu(['run', guest('nested-l1'), '--nested', '--walk', '0x50000010'], { stats: true });
    expect(r.status).toBe(0);
    // vm-b ran last: IPA 0x5000_0000 is its page (L1's level-3 leaf), behind our 2 MiB RAM block
    expect(r.stderr).toMatch(/nested walk of L2 VA 0x50000010 .*VMID 2\)/);
    expect(r.stderr).toMatch(/S2 L3 table 0x[0-9a-f]+ \[0x[0-9a-f]+\] = 0x[0-9a-f]+: page -> (0x[0-9a-f]+)/);
    expect(r.stderr).toContain('[our stage 2 for the L1 PA]');
    expect(r.stderr).toMatch(/shadow entry: slot 1 \(our VMID 257\) IPA 0x50000000\+0x1000 -> PA 0x[0-9a-f]+010 \(from an L1 level-3 leaf\)/);
    const w = r.stats!.walks['0x0000000050000010'];
    expect(w.stage2.levels.length).toBe(3); // L1's stage 2: levels 1, 2, 3
    expect(w.nested.ourStage2.stage2.enabled).toBe(true);
    expect(w.nested.hostPa).toBe(w.pa); // our stage 2 maps RAM 1:1
    expect(w.nested.shadow.pa).toBe(w.pa);
  });
});

describe('a guest hypervisor whose VBAR_EL2 leads nowhere', () => {
  it('ends as an exception loop (status 125) instead of hanging: idregs at virtual EL2 exits with HVC, taken to VBAR_EL2 = 0', async () => {
    // idregs never sets VBAR_EL2; at EL2 its exit HVC is an exception to EL2 itself (Arm ARM D1.10.2)
    const r = await hypemu(['run', guest('idregs'), '--nested', '--max-insns', '1e8']);
    expect(r.stdout).toContain('CurrentEL = 0x8');
    expect(r.stderr).toMatch(/exception loop: \d+ exception entries with no instruction retired .*PC 0x0000000000000200/);
    expect(r.status).toBe(125);
  });
});

describe('nested-l1 without --nested', () => {
  it('starts at EL1 (no virtual EL2), says so and exits 1', async () => {
    const r = await hypemu(['run', guest('nested-l1'), '-q']);
    expect(r.stdout).toContain('FAIL not started at EL2');
    expect(r.status).toBe(1);
  });
});

describe('the debugger with a guest hypervisor (in-process target, real vCPU)', () => {
  it("shows the guest hypervisor's virtual EL2 registers and walks L2 addresses through three stages", async () => {
    const machine = await Machine.create({ image: guest('nested-l1'), nested: true, quiet: true });
    try {
      // stop inside L1's code after vm-a's first run: its VBAR_EL2 and HCR_EL2 are programmed
      const r = await machine.run({ until: { console: /PASS vm-a store reached the backing page\n/ } });
      expect(r.status).toBeNull();
      const target = new VcpuTarget({ machine: machine.board, hyp: machine.hyp }, { exitCodeFor });
      const reg = (name: string) => target.readRegister(target.registerTable().findIndex((d) => d.name === name));
      const vbar = reg('vbar_el2')!;
      expect(vbar).not.toBe(0n);
      expect(vbar % 2048n).toBe(0n); // the guest's 2 KiB-aligned vectors_el2, not our model's (0)
      expect(reg('hcr_el2')).toBe(1n << 31n); // between guests L1 runs with HCR_EL2.RW only
      expect(reg('vttbr_el2')! >> 48n).toBe(1n); // vm-a's VMID
      expect(target.walk(0x5000_0010n)).toMatch(/nested walk of L2 VA 0x50000010 .*VMID 1\)[\s\S]*shadow entry: slot 0 \(our VMID 256\)/);
    } finally {
      await machine.dispose();
    }
  });
});

describe('monitor trap-break on exit-to-l1 (the debugger target over a real vCPU)', () => {
  /** Continue until the next stop; resolves with it. */
  const cont = (t: VcpuTarget): Promise<StopReason> =>
    new Promise((resolve) => {
      t.setStopHandler(resolve);
      t.resume('continue');
    });
  it('stops after each reflection at the guest hypervisor\'s vector, with ESR/ELR/SPSR_EL2 as delivered, and nowhere else', async () => {
    const machine = await Machine.create({ image: guest('nested-l1'), nested: true, quiet: true });
    try {
      const target = new VcpuTarget({ machine: machine.board, hyp: machine.hyp }, { exitCodeFor });
      expect(target.setTrapBreak(true, ['exit-to-l1'])).toMatch(/^trap-break: on for exit-to-l1/);
      const vbar = () => machine.hyp.nested!.vel2.get('VBAR_EL2');
      // vm-a's first exit to L1: HVC #0x42 from L2 (Arm ARM D1.10.2: VBAR_EL2 + 0x400, ELR = the next instruction)
      const s1 = await cont(target);
      expect(s1).toMatchObject({ kind: 'trap-break', reason: 'exit-to-l1' });
      if (s1.kind !== 'trap-break') throw new Error('unreachable');
      expect(s1.pc).toBe(vbar() + 0x400n);
      expect(s1.text).toMatch(/^exit to the guest hypervisor \(hvc\): sync at VBAR_EL2\+0x400; ESR_EL2=0x5a000042 \(hvc64 #0x42\) ELR_EL2=0x[0-9a-f]+ SPSR_EL2=0x3c5/);
      expect(machine.hyp.nested!.mode).toBe('vel2');
      expect(machine.hyp.nested!.stats.exitsToL1).toEqual({ hvc: 1 });
      // one stop per reflection: the report HVC, then L2's TVM-trapped MAIR_EL1 write (EC 0x18, ELR = the MSR itself)
      const s2 = await cont(target);
      expect(s2).toMatchObject({ kind: 'trap-break', reason: 'exit-to-l1' });
      const s3 = await cont(target);
      if (s2.kind !== 'trap-break' || s3.kind !== 'trap-break') throw new Error('unreachable');
      expect(s2.text).toMatch(/\(hvc\): sync at VBAR_EL2\+0x400; ESR_EL2=0x5a000000 /);
      expect(s3.text).toMatch(/\(sysreg\.TVM\): sync at VBAR_EL2\+0x400; ESR_EL2=0x62[0-9a-f]{6} \(sys64 write op0=3 op1=0 CRn=10 CRm=2 op2=0 Rt=5\)/);
      expect(machine.hyp.nested!.stats.exitsToL1).toEqual({ hvc: 2, 'sysreg.TVM': 1 });
      target.setTrapBreak(false, []);
      const end = await cont(target);
      expect(end).toEqual({ kind: 'exited', exitCode: 0 });
    } finally {
      await machine.dispose();
    }
  });
  it('an IRQ reflected by HCR_EL2.IMO stops at VBAR_EL2 + 0x480 (ESR_EL2 not shown: IRQs leave it alone)', async () => {
    const machine = await Machine.create({ image: guest('nested-irq'), nested: true, quiet: true });
    try {
      const target = new VcpuTarget({ machine: machine.board, hyp: machine.hyp }, { exitCodeFor });
      target.setTrapBreak(true, ['exit-to-l1']);
      const s = await cont(target);
      if (s.kind !== 'trap-break') throw new Error(`stopped for ${s.kind}`);
      expect(s.text).toMatch(/^exit to the guest hypervisor \(irq\): irq at VBAR_EL2\+0x480; ELR_EL2=0x[0-9a-f]+ SPSR_EL2=0x3c5\b/);
      expect(s.pc).toBe(machine.hyp.nested!.vel2.get('VBAR_EL2') + 0x480n);
    } finally {
      await machine.dispose();
    }
  });
});

describe('trap-break on an exit to the guest hypervisor', () => {
  it('stops before a TVM-trapped L2 MAIR_EL1 write is reflected to L1, then resumes it', async () => {
    const machine = await Machine.create({ image: guest('nested-l1'), nested: true, quiet: true });
    try {
      const vcpu = machine.board.vcpu;
      const seen: Array<{ reason: string; trap: string | null; pc: number }> = [];
      // the debugger's trap-break is this gate (emulator/debug/vcpu-target.ts)
      vcpu.exitGate = (exit) => {
        if (exit.reason !== 'sysreg' || exit.trap !== 'TVM') return false;
        seen.push({ reason: exit.reason, trap: exit.trap, pc: exit.pc });
        return true;
      };
      vcpu.runFor(5_000_000);
      expect(seen.length).toBe(1);
      expect(vcpu.gatedExit).not.toBeNull();
      expect(vcpu.pc).toBe(seen[0]!.pc); // stopped on the MSR, in L2, not yet reflected
      expect(machine.hyp.nested!.mode).toBe('l2');
      expect(machine.hyp.nested!.stats.exitsToL1['sysreg.TVM']).toBeUndefined();
      vcpu.exitGate = null;
      const r = await machine.run();
      expect(r.status).toBe(0);
      expect(machine.hyp.nested!.stats.exitsToL1['sysreg.TVM']).toBe(1);
    } finally {
      await machine.dispose();
    }
  });
});
