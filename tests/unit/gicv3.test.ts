/**
 * GICv3 model (one PE): register behaviour from the GIC Architecture Specification IHI0069
 * (ch. 4 interrupt lifecycle and prioritization, ch. 12 register descriptions), driven the way
 * Linux 6.1's drivers/irqchip/irq-gic-v3.c does (gic_init_bases, gic_dist_init, gic_cpu_init,
 * gic_cpu_sys_reg_init, gic_handle_irq, gic_poke_irq, gic_set_type, gic_ipi_send_mask).
 */
import { describe, expect, it } from 'vitest';
import { GICD, GICR, GICR_WAKER, GIC_SPURIOUS, GicV3 } from '../../emulator/devices/gicv3.js';
import { MmioBus } from '../../emulator/memory/bus.js';
import { VIRT } from '../../emulator/platform/memmap.js';

const D = VIRT.GIC_DIST.base;
const R = VIRT.GIC_REDIST.base;
const SGI = R + GICR.SGI_BASE;

function board() {
  let changes = 0;
  const gic = new GicV3({ distBase: D, redistBase: R, onChange: () => changes++ });
  const bus = new MmioBus();
  bus.add(gic.distributor);
  bus.add(gic.redistributor);
  const rd = (pa: number, size: 1 | 2 | 4 | 8 = 4): bigint => bus.read(pa, size)!;
  const rd32 = (pa: number): number => Number(rd(pa));
  const wr = (pa: number, v: number | bigint, size: 1 | 2 | 4 | 8 = 4): void => void bus.write(pa, size, BigInt(v));
  const icc = (n: string): bigint => gic.iccRead(n)!;
  const iccW = (n: string, v: number | bigint): void => {
    expect(gic.iccWrite(n, BigInt(v))).toBe(true);
  };
  return { gic, bus, rd, rd32, wr, icc, iccW, changes: () => changes };
}

/** What Linux 6.1 does from gic_of_init to the end of gic_cpu_init on the boot CPU (EOImode 0). */
function linuxInit(b: ReturnType<typeof board>): void {
  const { rd32, wr, icc, iccW } = b;
  // gic_validate_dist_version / gic_iterate_rdists: PIDR2.ArchRev
  expect(rd32(D + GICD.PIDR2) & 0xf0).toBe(0x30);
  const typer = rd32(D + GICD.TYPER);
  const lines = Math.min(32 * ((typer & 0x1f) + 1), 1020);
  rd32(D + GICD.IIDR);
  rd32(D + GICD.TYPER2);
  // __gic_update_rdist_properties: GICR_TYPER (64-bit), GICR_CTLR
  expect(b.rd(R + GICR.PIDR2) & 0xf0n).toBe(0x30n);
  b.rd(R + GICR.TYPER, 8);
  rd32(R + GICR.CTLR);
  // gic_dist_init
  wr(D + GICD.CTLR, 0);
  expect(rd32(D + GICD.CTLR) >>> 31).toBe(0); // RWP
  for (let i = 32; i < lines; i += 32) wr(D + GICD.IGROUPR + i / 8, 0xffff_ffff);
  for (let i = 32; i < lines; i += 16) wr(D + GICD.ICFGR + i / 4, 0); // level, active low
  for (let i = 32; i < lines; i += 4) wr(D + GICD.IPRIORITYR + i, 0xa0a0_a0a0);
  for (let i = 32; i < lines; i += 32) {
    wr(D + GICD.ICACTIVER + i / 8, 0xffff_ffff);
    wr(D + GICD.ICENABLER + i / 8, 0xffff_ffff);
  }
  wr(D + GICD.CTLR, (1 << 4) | (1 << 1) | (1 << 0)); // ARE_NS | ENABLE_G1A | ENABLE_G1
  expect(rd32(D + GICD.CTLR) >>> 31).toBe(0);
  for (let i = 32; i < lines; i++) wr(D + GICD.IROUTER + i * 8, 0n, 8);
  // gic_cpu_init: gic_populate_rdist (TYPER affinity == 0, Last), gic_enable_redist(true)
  const rtyper = b.rd(R + GICR.TYPER, 8);
  expect(rtyper >> 32n).toBe(0n);
  expect(rtyper & 0x10n).toBe(0x10n);
  let waker = rd32(R + GICR.WAKER);
  wr(R + GICR.WAKER, waker & ~GICR_WAKER.ProcessorSleep);
  waker = rd32(R + GICR.WAKER);
  expect(waker & GICR_WAKER.ChildrenAsleep).toBe(0);
  wr(SGI + GICD.IGROUPR, 0xffff_ffff);
  // gic_cpu_config
  wr(SGI + GICD.ICACTIVER, 0xffff_ffff);
  wr(SGI + GICD.ICENABLER, 0xffff_ffff);
  for (let i = 0; i < 32; i += 4) wr(SGI + GICD.IPRIORITYR + i, 0xa0a0_a0a0);
  wr(SGI + GICD.ISENABLER, 0x0000_ffff); // GICD_INT_EN_SET_SGI
  expect(rd32(R + GICR.CTLR) & 0x8).toBe(0); // gic_redist_wait_for_rwp
  // gic_cpu_sys_reg_init
  expect(icc('ICC_SRE_EL1') & 1n).toBe(1n);
  const pribits = Number((icc('ICC_CTLR_EL1') >> 8n) & 7n) + 1;
  const old = icc('ICC_PMR_EL1'); // gic_has_group0
  iccW('ICC_PMR_EL1', 1 << (8 - pribits));
  expect(icc('ICC_PMR_EL1')).not.toBe(0n);
  iccW('ICC_PMR_EL1', old);
  iccW('ICC_PMR_EL1', 0xf0); // DEFAULT_PMR_VALUE
  iccW('ICC_BPR1_EL1', 0);
  iccW('ICC_CTLR_EL1', 0); // EOImode_drop_dir (no hyp mode: no split EOI)
  iccW('ICC_AP0R0_EL1', 0);
  iccW('ICC_AP1R0_EL1', 0);
  iccW('ICC_IGRPEN1_EL1', 1);
}

/** gic_handle_irq, EOImode 0: IAR1, then EOIR1 once the handler ran. */
function handleIrq(b: ReturnType<typeof board>, handler: (id: number) => void = () => {}): number {
  const id = Number(b.icc('ICC_IAR1_EL1'));
  if (id >= 1020) return id;
  handler(id);
  b.iccW('ICC_EOIR1_EL1', id);
  return id;
}

describe('identification and configuration registers (IHI0069 12.9, 12.11)', () => {
  it('GICD_TYPER: 288 INTIDs, IDbits 15, LPIs (the ITS), no MBIs; PIDR2 ArchRev 3; IIDR; TYPER2 0', () => {
    const { rd32 } = board();
    const t = rd32(D + GICD.TYPER);
    expect(t & 0x1f).toBe(8); // ITLinesNumber: 32 * 9 = 288
    expect((t >>> 19) & 0x1f).toBe(15);
    expect((t >>> 16) & 3).toBe(2); // MBIS 0, LPIS 1
    expect(rd32(D + 0xffe8)).toBe(0x3b);
    expect(rd32(D + GICD.IIDR) & 0xfff).toBe(0x43b);
    expect(rd32(D + GICD.TYPER2)).toBe(0);
  });
  it('GICD_CTLR: DS and ARE read as one, enables are writable, RWP 0', () => {
    const { rd32, wr } = board();
    expect(rd32(D + GICD.CTLR)).toBe(0x50);
    wr(D + GICD.CTLR, 0xffff_ffff);
    expect(rd32(D + GICD.CTLR)).toBe(0x53);
  });
  it('GICR_TYPER (64-bit and two words): PLPIS, CommonLPIAff 1, Last, Processor_Number 0, affinity 0; GICR PIDR2', () => {
    const { rd, rd32 } = board();
    expect(rd(R + GICR.TYPER, 8)).toBe(0x0100_0011n);
    expect(rd32(R + GICR.TYPER)).toBe(0x0100_0011);
    expect(rd32(R + GICR.TYPER + 4)).toBe(0);
    expect(rd32(R + GICR.PIDR2)).toBe(0x3b);
  });
  it('GICR_WAKER: ProcessorSleep / ChildrenAsleep handshake', () => {
    const { rd32, wr } = board();
    expect(rd32(R + GICR.WAKER)).toBe(GICR_WAKER.ProcessorSleep | GICR_WAKER.ChildrenAsleep);
    wr(R + GICR.WAKER, 0);
    expect(rd32(R + GICR.WAKER)).toBe(0);
    wr(R + GICR.WAKER, GICR_WAKER.ProcessorSleep);
    expect(rd32(R + GICR.WAKER)).toBe(GICR_WAKER.ProcessorSleep | GICR_WAKER.ChildrenAsleep);
  });
  it('unimplemented and (with ARE) banked GICD registers are RAZ/WI', () => {
    const { rd32, wr } = board();
    for (const off of [GICD.IGROUPR, GICD.ISENABLER, GICD.IPRIORITYR, GICD.ICFGR, GICD.IGRPMODR + 4, GICD.NSACR + 8, 0x40, 0x5000, GICD.IROUTER, GICD.ITARGETSR + 32]) {
      wr(D + off, 0xffff_ffff);
      expect(rd32(D + off)).toBe(0);
    }
    for (const off of [0x1234 & ~3, 0x0080, 0x00a0]) {
      wr(R + off, 0xffff_ffff);
      expect(rd32(R + off)).toBe(0);
    }
    // The LPI registers keep their writable fields (gicv3-lpi.ts; tests/unit/gicv3-its.test.ts).
    wr(R + GICR.PROPBASER, 0xffff_ffff);
    expect(rd32(R + GICR.PROPBASER)).toBe(0xffff_ff9f);
  });
  it('IPRIORITYR is byte-accessible (distributor and SGI_base), words assemble the bytes', () => {
    const { rd, rd32, wr } = board();
    wr(D + GICD.IPRIORITYR + 33, 0x80, 1);
    wr(D + GICD.IPRIORITYR + 34, 0x4321, 2);
    expect(rd32(D + GICD.IPRIORITYR + 32)).toBe(0x4321_8000);
    expect(rd(D + GICD.IPRIORITYR + 35, 1)).toBe(0x43n);
    wr(SGI + GICD.IPRIORITYR + 27, 0x90, 1);
    expect(rd32(SGI + GICD.IPRIORITYR + 24)).toBe(0x9000_0000);
    wr(SGI + GICD.IPRIORITYR, 0x11223344);
    expect(rd(SGI + GICD.IPRIORITYR + 2, 1)).toBe(0x22n);
  });
  it('ICFGR: SGIs read as edge and are read-only; PPI and SPI fields writable (bit 0 RES0)', () => {
    const { rd32, wr } = board();
    expect(rd32(SGI + GICD.ICFGR)).toBe(0xaaaa_aaaa);
    wr(SGI + GICD.ICFGR, 0);
    expect(rd32(SGI + GICD.ICFGR)).toBe(0xaaaa_aaaa);
    wr(SGI + GICD.ICFGR + 4, 0xffff_ffff);
    expect(rd32(SGI + GICD.ICFGR + 4)).toBe(0xaaaa_aaaa);
    wr(D + GICD.ICFGR + 8, 0x0000_000b);
    expect(rd32(D + GICD.ICFGR + 8)).toBe(0x0000_000a);
  });
  it('GICD_IROUTER<n> is 64-bit: Aff3 in the high word, IRM RAZ/WI (No1N)', () => {
    const { rd, rd32, wr } = board();
    wr(D + GICD.IROUTER + 40 * 8, 0x0000_00ab_80ff_0102n, 8);
    expect(rd(D + GICD.IROUTER + 40 * 8, 8)).toBe(0x0000_00ab_00ff_0102n);
    expect(rd32(D + GICD.IROUTER + 40 * 8 + 4)).toBe(0xab);
  });
  it('CPU interface: SRE RAO, PRIbits 5, PMR keeps 5 bits, BPR minimums, unknown names', () => {
    const { gic, icc, iccW } = board();
    expect(icc('ICC_SRE_EL1')).toBe(7n);
    expect((icc('ICC_CTLR_EL1') >> 8n) & 7n).toBe(4n);
    iccW('ICC_PMR_EL1', 0xff);
    expect(icc('ICC_PMR_EL1')).toBe(0xf8n);
    iccW('ICC_BPR1_EL1', 0);
    expect(icc('ICC_BPR1_EL1')).toBe(3n);
    iccW('ICC_BPR0_EL1', 0);
    expect(icc('ICC_BPR0_EL1')).toBe(2n);
    iccW('ICC_CTLR_EL1', 0xffff_ffff);
    expect(icc('ICC_CTLR_EL1') & 0xffn).toBe(0x43n);
    expect(gic.iccRead('ICC_NOPE_EL1')).toBeNull();
    expect(gic.iccWrite('ICC_NOPE_EL1', 0n)).toBe(false);
    expect(icc('ICC_RPR_EL1')).toBe(0xffn);
    expect(icc('ICC_IAR1_EL1')).toBe(BigInt(GIC_SPURIOUS));
  });
});

describe('Linux init and interrupt handling', () => {
  it('after Linux init nothing is pending; the timer PPI 27 (level) goes through IAR1/EOIR1', () => {
    const b = board();
    const { gic, wr, rd32, icc } = b;
    linuxInit(b);
    expect(gic.irqPending()).toBe(false);
    // arch_timer: request_percpu_irq → gic_set_type(level) → enable_percpu_irq → gic_poke_irq(ISENABLER)
    wr(SGI + GICD.ICFGR + 4, rd32(SGI + GICD.ICFGR + 4) & ~(2 << ((27 - 16) * 2)));
    wr(SGI + GICD.ISENABLER, 1 << 27);
    const before = b.changes();
    gic.setLevel(27, true);
    expect(b.changes()).toBe(before + 1);
    expect(gic.irqPending()).toBe(true);
    expect(icc('ICC_HPPIR1_EL1')).toBe(27n);
    expect(rd32(SGI + GICD.ISPENDR) & (1 << 27)).not.toBe(0);
    expect(icc('ICC_IAR1_EL1')).toBe(27n);
    // Active and (the line is still high) pending; the CPU sees no further IRQ.
    expect(gic.isActive(27)).toBe(true);
    expect(gic.isPending(27)).toBe(true);
    expect(gic.irqPending()).toBe(false);
    expect(icc('ICC_RPR_EL1')).toBe(0xa0n);
    expect(rd32(SGI + GICD.ISACTIVER)).toBe(1 << 27);
    // The handler masks the timer (CNTV_CTL.IMASK), the line drops, then EOI.
    gic.setLevel(27, false);
    b.iccW('ICC_EOIR1_EL1', 27);
    expect(gic.isActive(27)).toBe(false);
    expect(gic.isPending(27)).toBe(false);
    expect(icc('ICC_RPR_EL1')).toBe(0xffn);
    expect(gic.irqPending()).toBe(false);
    expect(icc('ICC_IAR1_EL1')).toBe(1023n);
  });
  it('a level interrupt whose line stays high is signalled again after EOI', () => {
    const b = board();
    linuxInit(b);
    b.wr(SGI + GICD.ISENABLER, 1 << 27);
    b.gic.setLevel(27, true);
    expect(handleIrq(b)).toBe(27);
    expect(b.gic.irqPending()).toBe(true);
    expect(handleIrq(b, () => b.gic.setLevel(27, false))).toBe(27);
    expect(b.gic.irqPending()).toBe(false);
  });
  it('PMR masks by priority; disabled interrupts and disabled groups are not signalled', () => {
    const b = board();
    const { gic, wr, iccW } = b;
    linuxInit(b);
    gic.setLevel(27, true);
    expect(gic.irqPending()).toBe(false); // not enabled yet
    wr(SGI + GICD.ISENABLER, 1 << 27);
    expect(gic.irqPending()).toBe(true);
    iccW('ICC_PMR_EL1', 0xa0); // priority must be strictly higher (lower value) than PMR
    expect(gic.irqPending()).toBe(false);
    expect(b.icc('ICC_IAR1_EL1')).toBe(1023n);
    iccW('ICC_PMR_EL1', 0xa8);
    expect(gic.irqPending()).toBe(true);
    iccW('ICC_IGRPEN1_EL1', 0);
    expect(gic.irqPending()).toBe(false);
    iccW('ICC_IGRPEN1_EL1', 1);
    wr(D + GICD.CTLR, 0x10);
    expect(gic.irqPending()).toBe(false);
    wr(D + GICD.CTLR, 0x13);
    wr(SGI + GICD.ICENABLER, 1 << 27);
    expect(gic.irqPending()).toBe(false);
  });
  it('preemption: only a higher group priority than the running one is signalled; nesting unwinds', () => {
    const b = board();
    const { gic, wr, icc, iccW } = b;
    linuxInit(b);
    wr(SGI + GICD.ISENABLER, (1 << 27) | (1 << 30));
    wr(SGI + GICD.IPRIORITYR + 30, 0x80, 1);
    gic.setLevel(27, true);
    expect(icc('ICC_IAR1_EL1')).toBe(27n); // running priority 0xa0
    gic.setLevel(30, true);
    expect(gic.irqPending()).toBe(true); // 0x80 < 0xa0
    expect(icc('ICC_IAR1_EL1')).toBe(30n);
    expect(icc('ICC_RPR_EL1')).toBe(0x80n);
    gic.setLevel(30, false);
    iccW('ICC_EOIR1_EL1', 30);
    expect(icc('ICC_RPR_EL1')).toBe(0xa0n);
    // Same priority as running: no preemption.
    wr(SGI + GICD.IPRIORITYR + 30, 0xa0, 1);
    gic.setLevel(30, true);
    expect(gic.irqPending()).toBe(false);
    gic.setLevel(27, false);
    iccW('ICC_EOIR1_EL1', 27);
    expect(gic.irqPending()).toBe(true);
    expect(icc('ICC_IAR1_EL1')).toBe(30n);
  });
  it('SGI via ICC_SGI1R_EL1 to this PE (TargetList bit 0); other targets and IRM are not delivered', () => {
    const b = board();
    const { gic, icc, iccW } = b;
    linuxInit(b);
    iccW('ICC_SGI1R_EL1', 1n << 40n | (3n << 24n) | 1n); // IRM: all but self
    iccW('ICC_SGI1R_EL1', (3n << 24n) | 2n); // CPU 1
    iccW('ICC_SGI1R_EL1', (3n << 24n) | (1n << 16n) | 1n); // Aff1 = 1
    iccW('ICC_SGI0R_EL1', (3n << 24n) | 1n); // Group 0 request for a Group 1 SGI
    expect(gic.irqPending()).toBe(false);
    // gic_ipi_send_mask → gic_send_sgi(cluster 0, tlist 1, irq 3)
    iccW('ICC_SGI1R_EL1', (3n << 24n) | 1n);
    expect(gic.irqPending()).toBe(true);
    expect(icc('ICC_IAR1_EL1')).toBe(3n);
    expect(gic.isPending(3)).toBe(false); // edge: acknowledging clears the pending state
    iccW('ICC_EOIR1_EL1', 3);
    expect(gic.isActive(3)).toBe(false);
    expect(gic.irqPending()).toBe(false);
  });
  it('SPI 33 (PL011): enable, routing to affinity 0, level semantics, ICPENDR and ISPENDR', () => {
    const b = board();
    const { gic, wr, rd32, icc } = b;
    linuxInit(b);
    gic.setLevel(33, true);
    expect(rd32(D + GICD.ISPENDR + 4) & 2).toBe(2);
    expect(gic.irqPending()).toBe(false); // disabled by gic_dist_config
    wr(D + GICD.ISENABLER + 4, 2); // gic_unmask_irq
    expect(rd32(D + GICD.ISENABLER + 4)).toBe(2);
    expect(gic.irqPending()).toBe(true);
    wr(D + GICD.IROUTER + 33 * 8, 1n, 8); // routed to affinity 0.0.0.1: not this PE
    expect(gic.irqPending()).toBe(false);
    wr(D + GICD.IROUTER + 33 * 8, 0n, 8);
    expect(gic.irqPending()).toBe(true);
    // ICPENDR does not clear a level interrupt whose line is high.
    wr(D + GICD.ICPENDR + 4, 2);
    expect(gic.irqPending()).toBe(true);
    expect(handleIrq(b, () => gic.setLevel(33, false))).toBe(33);
    expect(gic.irqPending()).toBe(false);
    // ISPENDR latches a pending state until acknowledged (or ICPENDR).
    wr(D + GICD.ISPENDR + 4, 2);
    expect(gic.irqPending()).toBe(true);
    wr(D + GICD.ICPENDR + 4, 2);
    expect(gic.irqPending()).toBe(false);
    wr(D + GICD.ISPENDR + 4, 2);
    expect(icc('ICC_IAR1_EL1')).toBe(33n);
    b.iccW('ICC_EOIR1_EL1', 33);
    expect(gic.irqPending()).toBe(false);
  });
  it('edge-triggered SPI: a pulse stays pending, acknowledgement clears it', () => {
    const b = board();
    const { gic, wr } = b;
    linuxInit(b);
    wr(D + GICD.ICFGR + 8, 2 << ((40 - 32) * 2)); // INTID 40 edge (ICFGR2 covers INTIDs 32-47)
    wr(D + GICD.ISENABLER + 4, 1 << 8);
    gic.setLevel(40, true);
    gic.setLevel(40, false);
    expect(gic.irqPending()).toBe(true);
    expect(handleIrq(b)).toBe(40);
    expect(gic.irqPending()).toBe(false);
  });
  it('EOImode 1: EOIR1 drops priority only, DIR deactivates', () => {
    const b = board();
    const { gic, icc, iccW } = b;
    linuxInit(b);
    iccW('ICC_CTLR_EL1', 2);
    b.wr(SGI + GICD.ISENABLER, 1 << 27);
    gic.setLevel(27, true);
    expect(icc('ICC_IAR1_EL1')).toBe(27n);
    iccW('ICC_EOIR1_EL1', 27);
    expect(icc('ICC_RPR_EL1')).toBe(0xffn);
    expect(gic.isActive(27)).toBe(true);
    expect(gic.irqPending()).toBe(false); // active and pending: not signalled
    iccW('ICC_DIR_EL1', 27);
    expect(gic.isActive(27)).toBe(false);
    expect(gic.irqPending()).toBe(true);
  });
  it('Group 0 interrupts are FIQs, acknowledged through IAR0, not IAR1', () => {
    const b = board();
    const { gic, wr, icc, iccW } = b;
    linuxInit(b);
    wr(SGI + GICD.IGROUPR, 0xffff_ffff & ~(1 << 27));
    wr(SGI + GICD.ISENABLER, 1 << 27);
    iccW('ICC_IGRPEN0_EL1', 1);
    gic.setLevel(27, true);
    expect(gic.irqPending()).toBe(false);
    expect(gic.fiqPending()).toBe(true);
    expect(icc('ICC_HPPIR1_EL1')).toBe(1023n);
    expect(icc('ICC_IAR1_EL1')).toBe(1023n);
    expect(icc('ICC_IAR0_EL1')).toBe(27n);
    gic.setLevel(27, false);
    iccW('ICC_EOIR0_EL1', 27);
    expect(gic.fiqPending()).toBe(false);
    expect(gic.isActive(27)).toBe(false);
  });
  it('onChange fires only when the signalled state changes', () => {
    const b = board();
    linuxInit(b);
    const n = b.changes();
    b.gic.setLevel(50, true); // disabled SPI
    expect(b.changes()).toBe(n);
    b.wr(D + GICD.ISENABLER + 4, 1 << 18);
    expect(b.changes()).toBe(n + 1);
    b.icc('ICC_IAR1_EL1');
    expect(b.changes()).toBe(n + 2);
  });
  it('setLevel rejects SGIs and out-of-range INTIDs', () => {
    const { gic } = board();
    expect(() => gic.setLevel(3, true)).toThrow(RangeError);
    expect(() => gic.setLevel(288, true)).toThrow(RangeError);
  });
});
