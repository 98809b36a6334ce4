/**
 * LPIs and the ITS (Arm IHI0069 chapter 5; registers 12.11 GICR_PROPBASER/PENDBASER/CTLR, 12.19
 * GITS_*): the tables live in (fake) guest memory and are driven as Linux's irq-gic-v3-its.c and
 * kvm-unit-tests' lib/arm64/gic-v3-its*.c drive them: BASER0/1 tables, a command queue, MAPD,
 * MAPC, MAPTI/MAPI, INT, CLEAR, DISCARD, INV, INVALL, MOVI, MOVALL, SYNC, GITS_TRANSLATER.
 */
import { describe, expect, it } from 'vitest';
import { GICD, GICR, GICR_STRIDE, GicV3 } from '../../emulator/devices/gicv3.js';
import type { GicMemory } from '../../emulator/devices/gicv3-lpi.js';
import { GITS } from '../../emulator/devices/its.js';
import { ITS_CMD } from '../../emulator/devices/its-commands.js';
import { MmioBus } from '../../emulator/memory/bus.js';
import { VIRT } from '../../emulator/platform/memmap.js';

const D = VIRT.GIC_DIST.base;
const R = VIRT.GIC_REDIST.base;
const ITS = VIRT.GIC_ITS.base;
const RAM = 0x4000_0000;
const RAM_SIZE = 0x100_0000;

/** A little-endian byte array standing for guest RAM at 0x40000000. */
class FakeRam implements GicMemory {
  readonly bytes = new Uint8Array(RAM_SIZE);
  private readonly dv = new DataView(this.bytes.buffer);
  contains(pa: number, len = 1): boolean {
    return pa >= RAM && pa + len <= RAM + RAM_SIZE;
  }
  read32(pa: number): number {
    return this.dv.getUint32(pa - RAM, true);
  }
  write32(pa: number, v: number): void {
    this.dv.setUint32(pa - RAM, v >>> 0, true);
  }
  bytesAt(pa: number, len: number): Uint8Array {
    return this.bytes.subarray(pa - RAM, pa - RAM + len);
  }
}

// Guest-memory layout of the tests.
const PROP = RAM + 0x10_0000; // LPI Configuration table (shared), 4 KiB aligned
const PEND = (pe: number) => RAM + 0x20_0000 + pe * 0x1_0000; // LPI Pending tables, 64 KiB aligned
const DEVT = RAM + 0x40_0000; // Device table, 64 KiB
const COLT = RAM + 0x50_0000; // Collection table
const CMDQ = RAM + 0x60_0000; // command queue, 64 KiB
const ITT = (dev: number) => RAM + 0x70_0000 + (dev % 64) * 0x1000;
const LPI_PROP_DEFAULT = 0xa0 | 2 | 1; // priority 0xa0, RES1, enabled

function machine(cpus = 4, opts: { indirect?: boolean } = {}) {
  const g = new GicV3({ distBase: D, redistBase: R, cpus });
  const mem = new FakeRam();
  g.attachMemory(mem);
  const bus = new MmioBus();
  bus.add(g.distributor);
  bus.add(g.redistributor);
  bus.add(g.its);
  const rd = (pa: number, size: 4 | 8 = 4): bigint => bus.read(pa, size)!;
  const wr = (pa: number, v: number | bigint, size: 4 | 8 = 4): void => void bus.write(pa, size, BigInt(v));
  wr(D + GICD.CTLR, 1 << 1); // EnableGrp1
  for (let c = 0; c < cpus; c++) {
    const pe = g.pes[c]!;
    pe.iccWrite('ICC_PMR_EL1', 0xf0n);
    pe.iccWrite('ICC_IGRPEN1_EL1', 1n);
    const rdb = R + GICR_STRIDE * c;
    wr(rdb + GICR.PROPBASER, BigInt(PROP) | 15n, 8); // IDbits 15: 16-bit INTIDs
    wr(rdb + GICR.PENDBASER, BigInt(PEND(c)), 8);
    wr(rdb + GICR.CTLR, 1); // EnableLPIs
  }
  // BASER0 (devices) and BASER1 (collections): one 64 KiB page each, Valid.
  const baser = (n: number, pa: number): void => {
    const v = rd(ITS + GITS.BASER + 8 * n, 8);
    wr(ITS + GITS.BASER + 8 * n, v | BigInt(pa) | (1n << 63n) | (opts.indirect && n === 0 ? 1n << 62n : 0n), 8);
  };
  baser(0, DEVT);
  baser(1, COLT);
  wr(ITS + GITS.CBASER, BigInt(CMDQ) | 15n | (1n << 63n), 8); // 16 x 4 KiB
  wr(ITS + GITS.CWRITER, 0, 8);
  wr(ITS + GITS.CTLR, 1);
  let slot = 0;
  /** Queue one command (DW0..DW3) and post it. */
  const send = (dw: readonly bigint[]): void => {
    const pa = CMDQ + slot * 32;
    for (let i = 0; i < 4; i++) {
      mem.write32(pa + 8 * i, Number(BigInt.asUintN(32, dw[i] ?? 0n)));
      mem.write32(pa + 8 * i + 4, Number(BigInt.asUintN(32, (dw[i] ?? 0n) >> 32n)));
    }
    slot = (slot + 1) % 2048;
    wr(ITS + GITS.CWRITER, slot * 32, 8);
  };
  const cmd = {
    mapd: (dev: number, bits: number, valid = true) => send([BigInt(ITS_CMD.MAPD) | (BigInt(dev) << 32n), BigInt(bits - 1), BigInt(ITT(dev)) | (valid ? 1n << 63n : 0n)]),
    mapc: (icid: number, pe: number, valid = true) => send([BigInt(ITS_CMD.MAPC), 0n, BigInt(icid) | (BigInt(pe) << 16n) | (valid ? 1n << 63n : 0n)]),
    mapti: (dev: number, ev: number, lpi: number, icid: number) => send([BigInt(ITS_CMD.MAPTI) | (BigInt(dev) << 32n), BigInt(ev) | (BigInt(lpi) << 32n), BigInt(icid)]),
    mapi: (dev: number, ev: number, icid: number) => send([BigInt(ITS_CMD.MAPI) | (BigInt(dev) << 32n), BigInt(ev), BigInt(icid)]),
    ev: (op: number, dev: number, ev: number) => send([BigInt(op) | (BigInt(dev) << 32n), BigInt(ev)]),
    invall: (icid: number) => send([BigInt(ITS_CMD.INVALL), 0n, BigInt(icid)]),
    movi: (dev: number, ev: number, icid: number) => send([BigInt(ITS_CMD.MOVI) | (BigInt(dev) << 32n), BigInt(ev), BigInt(icid)]),
    movall: (from: number, to: number) => send([BigInt(ITS_CMD.MOVALL), 0n, BigInt(from) << 16n, BigInt(to) << 16n]),
    sync: (pe: number) => send([BigInt(ITS_CMD.SYNC), 0n, BigInt(pe) << 16n]),
  };
  const setConfig = (lpi: number, v: number): void => void (mem.bytes[PROP - RAM + lpi - 8192] = v);
  const pendingBit = (pe: number, lpi: number): boolean => ((mem.bytes[PEND(pe) - RAM + (lpi >> 3)]! >> (lpi & 7)) & 1) === 1;
  const ack = (pe: number): number => {
    const id = Number(g.pes[pe]!.iccRead('ICC_IAR1_EL1'));
    if (id !== 1023) g.pes[pe]!.iccWrite('ICC_EOIR1_EL1', BigInt(id));
    return id;
  };
  return { g, mem, rd, wr, cmd, setConfig, pendingBit, ack };
}

describe('GICv3 LPI support (IHI0069 5.1, 12.9, 12.11)', () => {
  it('GICD_TYPER.LPIS and IDbits 15; GICR_TYPER.PLPIS; PROPBASER/PENDBASER read back, PTZ reads 0', () => {
    const g = new GicV3({ cpus: 2 });
    const bus = new MmioBus();
    bus.add(g.distributor);
    bus.add(g.redistributor);
    const t = Number(bus.read(D + GICD.TYPER, 4));
    expect((t >> 17) & 1).toBe(1);
    expect((t >> 19) & 0x1f).toBe(15);
    expect(Number(bus.read(R + GICR.TYPER, 4)) & 1).toBe(1);
    bus.write(R + GICR.PROPBASER, 8, 0x4010_0000n | 0x380n | 13n);
    expect(bus.read(R + GICR.PROPBASER, 8)).toBe(0x4010_0000n | 0x380n | 13n);
    bus.write(R + GICR.PENDBASER, 8, 0x4020_0000n | (1n << 62n));
    expect(bus.read(R + GICR.PENDBASER, 8)).toBe(0x4020_0000n);
    bus.write(R + GICR.CTLR, 4, 1n);
    expect(bus.read(R + GICR.CTLR, 4)).toBe(1n);
    bus.write(R + GICR.PROPBASER, 8, 0x4030_0000n); // ignored while EnableLPIs = 1
    expect(bus.read(R + GICR.PROPBASER, 8)).toBe(0x4010_0000n | 0x380n | 13n);
  });
  it('pending bits written before EnableLPIs are taken when it is set (the table is read)', () => {
    const g = new GicV3({ cpus: 1 });
    const mem = new FakeRam();
    g.attachMemory(mem);
    const bus = new MmioBus();
    bus.add(g.distributor);
    bus.add(g.redistributor);
    bus.write(D + GICD.CTLR, 4, 2n);
    g.pes[0]!.iccWrite('ICC_PMR_EL1', 0xf0n);
    g.pes[0]!.iccWrite('ICC_IGRPEN1_EL1', 1n);
    mem.bytes[PROP - RAM + 100] = 0x80 | 3; // LPI 8292
    mem.bytes[PROP - RAM + 50] = 0x90 | 3; // LPI 8242, lower priority
    mem.bytes[PEND(0) - RAM + (8292 >> 3)] |= 1 << (8292 & 7);
    mem.bytes[PEND(0) - RAM + (8242 >> 3)] |= 1 << (8242 & 7);
    bus.write(R + GICR.PROPBASER, 8, BigInt(PROP) | 15n);
    bus.write(R + GICR.PENDBASER, 8, BigInt(PEND(0)));
    expect(g.pes[0]!.irqPending()).toBe(false);
    bus.write(R + GICR.CTLR, 4, 1n);
    expect(g.pes[0]!.irqPending()).toBe(true);
    expect(g.pes[0]!.iccRead('ICC_IAR1_EL1')).toBe(8292n); // 0x80 beats 0x90
    g.pes[0]!.iccWrite('ICC_EOIR1_EL1', 8292n);
    expect(g.pes[0]!.iccRead('ICC_IAR1_EL1')).toBe(8242n);
    g.pes[0]!.iccWrite('ICC_EOIR1_EL1', 8242n);
    expect(g.pes[0]!.iccRead('ICC_IAR1_EL1')).toBe(1023n);
    expect(mem.bytes[PEND(0) - RAM + (8292 >> 3)]! & (1 << (8292 & 7))).toBe(0); // acknowledge cleared it in memory
  });
});

describe('GICv3 ITS (IHI0069 5.2, 5.3, 12.19)', () => {
  it('GITS_TYPER, IIDR and the BASER types are read-only; Page_Size is 64 KiB; CTLR.Quiescent', () => {
    const { rd, wr } = machine(1);
    const typer = rd(ITS + GITS.TYPER, 8);
    expect(typer & 1n).toBe(1n); // Physical
    expect(((typer >> 4n) & 0xfn) + 1n).toBe(12n); // ITT entry size (as QEMU)
    expect(((typer >> 8n) & 0x1fn) + 1n).toBe(16n); // EventID bits
    expect(((typer >> 13n) & 0x1fn) + 1n).toBe(16n); // DeviceID bits
    expect((typer >> 19n) & 1n).toBe(0n); // PTA: processor numbers
    expect((typer >> 36n) & 1n).toBe(1n); // CIL
    wr(ITS + GITS.TYPER, 0);
    wr(ITS + GITS.IIDR, 0);
    expect(rd(ITS + GITS.TYPER, 8)).toBe(typer);
    expect(rd(ITS + GITS.IIDR)).toBe(0x43bn);
    const b0 = rd(ITS + GITS.BASER, 8);
    expect((b0 >> 56n) & 7n).toBe(1n); // Device
    expect((rd(ITS + GITS.BASER + 8, 8) >> 56n) & 7n).toBe(4n); // Collection
    expect((b0 >> 8n) & 3n).toBe(2n); // 64 KiB
    expect(((b0 >> 48n) & 0x1fn) + 1n).toBe(8n);
    expect(rd(ITS + GITS.BASER + 16, 8)).toBe(0n); // BASER2: unimplemented
    expect(rd(ITS + GITS.CTLR)).toBe(0x8000_0001n);
    expect((rd(ITS + GITS.PIDR2) >> 4n) & 0xfn).toBe(3n);
  });

  it('kvm-unit-tests its-trigger: MAPD/MAPC/MAPTI, INT to PE 3 and PE 2, INV, INVALL, MAPD V=0', () => {
    const { g, cmd, setConfig, ack, rd } = machine(4);
    setConfig(8195, LPI_PROP_DEFAULT);
    setConfig(8196, LPI_PROP_DEFAULT);
    cmd.mapd(2, 8); // 8 EventID bits, as kvm-unit-tests' nb_ites = 8 (Size = 7)
    cmd.mapd(7, 8);
    cmd.mapc(3, 3);
    cmd.mapc(2, 2);
    cmd.invall(2);
    cmd.invall(3);
    cmd.mapti(2, 20, 8195, 3);
    cmd.mapti(7, 255, 8196, 2);
    expect(rd(ITS + GITS.CREADR)).toBe(rd(ITS + GITS.CWRITER)); // all consumed
    cmd.ev(ITS_CMD.INT, 2, 20);
    expect(g.pes.map((p) => p.irqPending())).toEqual([false, false, false, true]);
    expect(ack(3)).toBe(8195);
    cmd.ev(ITS_CMD.INT, 7, 255);
    expect(g.pes.map((p) => p.irqPending())).toEqual([false, false, true, false]);
    expect(ack(2)).toBe(8196);
    // Disabled in the configuration table + INV: the INT pends it but it is not delivered.
    setConfig(8195, LPI_PROP_DEFAULT & ~1);
    cmd.ev(ITS_CMD.INV, 2, 20);
    cmd.ev(ITS_CMD.INT, 2, 20);
    expect(g.pes[3]!.irqPending()).toBe(false);
    // Enabled again: delivered after INVALL, once.
    setConfig(8195, LPI_PROP_DEFAULT);
    cmd.ev(ITS_CMD.INT, 2, 20);
    cmd.invall(3);
    expect(ack(3)).toBe(8195);
    expect(ack(3)).toBe(1023);
    // Unmapped device: no LPI.
    cmd.mapd(2, 8, false);
    cmd.ev(ITS_CMD.INT, 2, 20);
    expect(g.pes.some((p) => p.irqPending())).toBe(false);
  });

  it('GITS_TRANSLATER: a CPU write is an MSI from DeviceID 0 (16- and 32-bit), only while enabled', () => {
    const { g, cmd, setConfig, ack, wr } = machine(2);
    setConfig(9000, LPI_PROP_DEFAULT);
    cmd.mapd(0, 4);
    cmd.mapc(1, 1);
    cmd.mapti(0, 5, 9000, 1);
    wr(ITS + GITS.TRANSLATER, 5);
    expect(g.pes.map((p) => p.irqPending())).toEqual([false, true]);
    expect(ack(1)).toBe(9000);
    void g.its.write(GITS.TRANSLATER, 2, 5);
    expect(ack(1)).toBe(9000);
    wr(ITS + GITS.TRANSLATER, 6); // EventID 6 not mapped
    expect(ack(1)).toBe(1023);
    wr(ITS + GITS.CTLR, 0);
    wr(ITS + GITS.TRANSLATER, 5);
    expect(ack(1)).toBe(1023);
  });

  it('MAPI, CLEAR, DISCARD; MOVI and MOVALL move pending LPIs', () => {
    const { g, cmd, setConfig, pendingBit, ack } = machine(4);
    for (const l of [8192, 8193, 8200]) setConfig(l, LPI_PROP_DEFAULT);
    cmd.mapd(1, 5);
    cmd.mapc(0, 0);
    cmd.mapc(1, 1);
    cmd.mapti(1, 0, 8192, 0);
    cmd.mapti(1, 1, 8193, 0);
    g.pes[0]!.iccWrite('ICC_PMR_EL1', 0n); // mask PE 0: keep its LPIs pending
    cmd.ev(ITS_CMD.INT, 1, 0);
    expect(pendingBit(0, 8192)).toBe(true);
    cmd.ev(ITS_CMD.CLEAR, 1, 0);
    expect(pendingBit(0, 8192)).toBe(false);
    cmd.ev(ITS_CMD.INT, 1, 0);
    cmd.movi(1, 0, 1);
    expect([pendingBit(0, 8192), pendingBit(1, 8192)]).toEqual([false, true]);
    expect(ack(1)).toBe(8192);
    cmd.ev(ITS_CMD.INT, 1, 0); // now goes to PE 1
    expect(pendingBit(1, 8192)).toBe(true);
    cmd.ev(ITS_CMD.INT, 1, 1); // PE 0
    cmd.movall(0, 2);
    expect([pendingBit(0, 8193), pendingBit(2, 8193)]).toEqual([false, true]);
    expect(ack(2)).toBe(8193);
    cmd.ev(ITS_CMD.DISCARD, 1, 0);
    expect(pendingBit(1, 8192)).toBe(false);
    cmd.ev(ITS_CMD.INT, 1, 0); // the mapping is gone
    expect(pendingBit(1, 8192)).toBe(false);
    // MAPI: pINTID = EventID.
    cmd.mapd(3, 16);
    cmd.mapi(3, 8200, 1);
    cmd.ev(ITS_CMD.INT, 3, 8200);
    cmd.sync(1);
    expect(ack(1)).toBe(8200);
  });

  it('bad commands are ignored: MAPC to a missing PE, MAPTI beyond the ITT, an LPI below 8192', () => {
    const { g, cmd, setConfig, rd } = machine(2);
    setConfig(8192, LPI_PROP_DEFAULT);
    cmd.mapc(0, 5); // no PE 5
    cmd.mapd(1, 2); // 4 events
    cmd.mapti(1, 4, 8192, 0); // EventID 4 out of range
    cmd.mapti(1, 0, 100, 0); // not an LPI
    cmd.ev(ITS_CMD.INT, 1, 4);
    cmd.ev(ITS_CMD.INT, 1, 0);
    expect(g.pes.some((p) => p.irqPending())).toBe(false);
    expect(rd(ITS + GITS.CREADR)).toBe(rd(ITS + GITS.CWRITER));
  });

  it('two-level Device table (Indirect): entries through a valid level-1 entry only', () => {
    const { g, mem, cmd, setConfig, ack, rd } = machine(2, { indirect: true });
    expect((rd(ITS + GITS.BASER, 8) >> 62n) & 1n).toBe(1n);
    const L2 = RAM + 0x80_0000;
    // DeviceID 9000 is in level-2 page 1 (8192 entries of 8 bytes per 64 KiB page).
    mem.write32(DEVT + 8, L2);
    mem.write32(DEVT + 12, 0x8000_0000);
    setConfig(8300, LPI_PROP_DEFAULT);
    cmd.mapd(9000, 2);
    cmd.mapd(5, 2); // level-1 entry 0 is not valid: ignored
    cmd.mapc(0, 1);
    cmd.mapti(9000, 1, 8300, 0);
    cmd.ev(ITS_CMD.INT, 9000, 1);
    expect(ack(1)).toBe(8300);
    expect(mem.read32(L2 + (9000 % 8192) * 8) & 1).toBe(1);
    expect(g.pes[0]!.irqPending()).toBe(false);
  });

  it('the queue stalls on a command outside RAM and resumes with CWRITER.Retry', () => {
    const { wr, rd } = machine(1);
    wr(ITS + GITS.CTLR, 0);
    wr(ITS + GITS.CBASER, 0x1000_0000n | (1n << 63n), 8); // not RAM
    wr(ITS + GITS.CTLR, 1);
    wr(ITS + GITS.CWRITER, 32, 8);
    expect(rd(ITS + GITS.CREADR) & 1n).toBe(1n); // Stalled
    wr(ITS + GITS.CWRITER, 32 | 1, 8);
    expect(rd(ITS + GITS.CREADR)).toBe(1n); // still stalled, offset 0
  });

  it('snapshot and restore keep the ITS and LPI registers (the tables are guest RAM)', async () => {
    const { SnapshotContext, RestoreContext } = await import('../../emulator/snapshot/state.js');
    const a = machine(2);
    a.setConfig(8192, LPI_PROP_DEFAULT);
    a.cmd.mapd(0, 2);
    a.cmd.mapc(0, 1);
    a.cmd.mapti(0, 0, 8192, 0);
    const state = a.g.snapshot(new SnapshotContext());
    const b = new GicV3({ distBase: D, redistBase: R, cpus: 2 });
    b.attachMemory(a.mem);
    b.restore(JSON.parse(JSON.stringify(state)), new RestoreContext([]));
    b.its.write(GITS.TRANSLATER, 4, 0);
    expect(b.pes[1]!.iccRead('ICC_IAR1_EL1')).toBe(8192n);
  });
});
