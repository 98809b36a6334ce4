// The stage-1 MMU guests, run through the CLI as a user would (under the hypervisor: stage 2 on).
// Each guest checks itself against the Arm ARM and prints PASS/FAIL lines; QEMU -M virt passes
// the same checks (scripts/guests-under-qemu.sh). Rules the guests encode:
//  - mmu-on*: D8.2 translation granules (4 KB/16 KB/64 KB), TTBR0/TTBR1 split by VA[55] (D8.1);
//  - mmu-faults: D8.x fault types (translation, access flag, permission) at each level, with the
//    exact FAR (D17.2.40 ESR_EL1 DFSC/IFSC, FAR_EL1 = the faulting address);
//  - el0-user: D8.4 stage-1 permissions for EL0, and LDTR at EL1 checked as EL0 (C6.2 LDTR).
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

const pass = (out: string) => out.match(/^PASS /gm)?.length ?? 0;

describe('every MMU guest exits 0 with no FAIL line', () => {
  // [guest, PASS lines it prints]
  const guests: [string, number][] = [
    ['mmu-on', 6],
    ['mmu-on-16k', 6],
    ['mmu-on-64k', 6],
    ['mmu-faults', 19],
    ['el0-user', 14],
  ];
  for (const [name, passes] of guests) {
    it(`${name}: exit status 0, ${passes} PASS, no FAIL, "RESULT ${name}: 0 failures"`, async () => {
      const r = await hypemu(['run', guest(name), '-q'], { stats: true });
      expect(r.stdout).not.toMatch(/^FAIL/m);
      expect(pass(r.stdout)).toBe(passes);
      expect(r.stdout).toContain(`RESULT ${name}: 0 failures`);
      expect(r.status).toBe(0);
      expect(r.stats!.halt).toEqual({ kind: 'guest-exit', status: 0 });
    });
  }
});

describe('mmu-on: granules and the TTBR1 alias (D8.1, D8.2)', () => {
  it('16 KB and 64 KB granules really run with those granules (TCR_EL1.TG0/TG1 as printed)', async () => {
    // TCR_EL1.TG1 [31:30]: 0b01 16 KB, 0b11 64 KB, 0b10 4 KB; TG0 [15:14]: 0b10 16 KB, 0b01 64 KB, 0b00 4 KB.
    for (const [name, tg0, tg1] of [
      ['mmu-on', 0, 2],
      ['mmu-on-16k', 2, 1],
      ['mmu-on-64k', 1, 3],
    ] as const) {
      const r = await hypemu(['run', guest(name), '-q']);
      const m = /TCR_EL1=0x([0-9a-f]+)/.exec(r.stdout);
      expect(m, name).not.toBeNull();
      const tcr = BigInt('0x' + m![1]);
      expect(Number((tcr >> 14n) & 3n), `${name} TG0`).toBe(tg0);
      expect(Number((tcr >> 30n) & 3n), `${name} TG1`).toBe(tg1);
    }
  });

  it('--walk of the TTBR1 alias the guest jumped to: stage 1 through TTBR1 at level 3, then stage 2, Normal-WB', async () => {
    const r = await hypemu(['run', guest('mmu-on'), '-q', '--walk', '0xffff000040080050', '--walk', '0x40080050'], { stats: true });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('jumping to 0xffff000040080050');
    const hi = r.stats!.walks['0xffff000040080050'];
    expect(hi.stage1.enabled).toBe(true);
    expect(hi.stage1.levels.map((l: { level: number }) => l.level)).toEqual([0, 1, 2, 3]);
    // The walk starts at the TTBR1 root the guest printed (VA[55] = 1 selects TTBR1_EL1).
    const ttbr1 = /TTBR1 root (0x[0-9a-f]+)/.exec(r.stdout)![1];
    expect(hi.stage1.levels[0].table).toBe(ttbr1);
    expect(hi.stage2.enabled).toBe(true);
    expect(hi.ipa).toBe('0x40080050');
    expect(hi.pa).toBe('0x40080050');
    expect(hi.effective.name).toBe('Normal-WB');
    expect(hi.fault).toBeUndefined();
    // The identity view of the same page reaches the same PA.
    expect(r.stats!.walks['0x0000000040080050'].pa).toBe('0x40080050');
  });
});

describe('mmu-faults: every stage-1 fault reaches the guest with its syndrome (D17.2.40)', () => {
  it('19 stage-1 faults (13 data, 6 instruction) taken to EL1; the model counts them as stage-1 faults', async () => {
    const r = await hypemu(['run', guest('mmu-faults'), '-q'], { stats: true });
    expect(r.status).toBe(0);
    // Spot checks of exact syndromes: DFSC/IFSC type and level, WnR, FAR.
    expect(r.stdout).toContain('PASS translation L0 ldr unaligned (ESR=0x96000004 FAR=0x10000001123)');
    expect(r.stdout).toContain('PASS access-flag L3 stp page-crossing (ESR=0x9600004b FAR=0x50000001000)');
    expect(r.stdout).toContain('PASS permission-read L1 ldtr (ESR=0x9600000d FAR=0x78000086b08)');
    expect(r.stdout).toContain('PASS permission-exec L3 blr (ESR=0x8600000f FAR=0xa0000000050)');
    const s = r.stats!;
    expect(s.exceptions.byTarget.EL1).toEqual({ dabt_cur: 13, iabt_cur: 6 });
    expect(s.tlb.faultsByStage.stage1).toBe(19);
    // Each repair is followed by TLB maintenance the guest executes.
    expect(s.tlb.guestTlbi).toBeGreaterThanOrEqual(19);
  });
});

describe('el0-user: EL0 permissions and LDTR at EL1 (D8.4, C6.2 LDTR)', () => {
  it('EL0 faults on kernel-only pages with EC 0x24; LDTR at EL1 faults like EL0 with EC 0x25 while LDR succeeds', async () => {
    const r = await hypemu(['run', guest('el0-user'), '-q'], { stats: true });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/PASS el0 read of kernel-only page: permission fault L3, EC 0x24 \(ESR=0x9200000f FAR=0x1000003124\)/);
    expect(r.stdout).toContain('PASS el1 ldr of the kernel-only page');
    expect(r.stdout).toMatch(/PASS el1 ldtr of kernel-only page: permission fault L3, EC 0x25 \(ESR=0x9600000f FAR=0x1000003048\)/);
    expect(r.stdout).toContain('PASS el1 ldtr faulting load did not leak');
    expect(r.stats!.exceptions.byTarget.EL1.dabt_low).toBeGreaterThanOrEqual(2);
    expect(r.stats!.exceptions.byTarget.EL1.dabt_cur).toBeGreaterThanOrEqual(1);
  });
});
