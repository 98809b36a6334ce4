/**
 * The GICv3 Interrupt Translation Service (Arm IHI0069, chapter 5 "Locality-specific Peripheral
 * Interrupts and the ITS", 5.2 "The ITS", 5.3 "ITS commands"; registers 12.19 "The ITS register
 * descriptions"), at QEMU virt's address: a 64 KiB control frame (GITS_CTLR ... GITS_BASER<n>)
 * and a 64 KiB translation frame whose GITS_TRANSLATER (+0x10040) takes MSIs.
 *
 * An MSI is (DeviceID, EventID). The ITS looks the DeviceID up in the Device table (-> the
 * device's Interrupt Translation Table), the EventID in that ITT (-> LPI INTID and collection),
 * the collection in the Collection table (-> target Redistributor), and sets the LPI pending
 * there (gicv3-lpi.ts). All three tables and the command queue are in guest memory; this model
 * keeps nothing else, so the state is what the guest's memory says and snapshots carry it.
 *
 * Configuration (guest-visible, deterministic):
 * - GITS_TYPER: Physical, ITT_entry_size 12 bytes (as QEMU), IDbits 16 (EventIDs), Devbits 16, CIDbits 16
 *   with CIL, PTA = 0 (a target Redistributor is named by its GICR_TYPER.Processor_Number), no
 *   virtual LPIs, SEIS 0, HCC 0 (no collections held in the ITS: all in memory).
 * - GITS_BASER0: Device table, GITS_BASER1: Collection table, both 8-byte entries, 64 KiB pages
 *   (Page_Size read-only, as QEMU), flat or two-level (Indirect is writable: 5.2.1 "The ITS
 *   tables", two-level tables). GITS_BASER2-7 are unimplemented (Type 0, RAZ/WI).
 * - Table entry formats are IMPLEMENTATION DEFINED (5.2.1); ours, little-endian 64-bit:
 *   DTE: Valid [0], Size [5:1] (EventID bits - 1), ITT address [51:8];
 *   CTE: Valid [0], RDbase (Processor_Number) [16:1];
 *   ITE (12 bytes): Valid [0], ICID [31:16], pINTID [63:32], then a zero word (physical LPIs only).
 * - Commands run synchronously when GITS_CWRITER is written (or the ITS is enabled), in queue
 *   order, so GITS_CREADR has caught up when the write completes and GITS_CTLR.Quiescent is
 *   always 1; SYNC therefore has nothing to wait for. A command with bad parameters is ignored
 *   and processing continues (5.3.x "Command errors": with GITS_TYPER.SEIS = 0 the behaviour is
 *   IMPLEMENTATION DEFINED; QEMU ignores too); a command or table that is not in guest RAM stalls
 *   the queue (GITS_CREADR.Stalled) until GITS_CWRITER.Retry is written, as QEMU.
 * - GITS_TRANSLATER: a 16- or 32-bit write is an MSI with EventID = the value and DeviceID = the
 *   requester's. On this board without PCI the requester is a CPU, whose DeviceID is 0: QEMU's
 *   model passes the write's MemTxAttrs.requester_id, 0 for a CPU store.
 */
import type { AccessSize, MmioDevice } from '../memory/bus.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';
import { GIC_ID_BITS, LPI_FIRST, type ItsRedistributors } from './gicv3-lpi.js';
import { ITS_ENTRY_SIZE, ITS_ID_BITS, ITT_ENTRY_SIZE, dteIttAddress, runItsCommand, type ItsCommand, type ItsTables } from './its-commands.js';

export { ITS_ENTRY_SIZE, ITS_ID_BITS, ITT_ENTRY_SIZE };
export type { ItsRedistributors };

/** Control-frame offsets (IHI0069 12.18 "The ITS register map"). */
export const GITS = {
  CTLR: 0x0000,
  IIDR: 0x0004,
  TYPER: 0x0008,
  CBASER: 0x0080,
  CWRITER: 0x0088,
  CREADR: 0x0090,
  BASER: 0x0100,
  PIDR2: 0xffe8,
  /** In the translation frame (control frame + 0x10000). */
  TRANSLATER: 0x1_0040,
} as const;

export const ITS_FRAME_SIZE = 0x2_0000;
const PAGE = 0x1_0000;

/** GITS_TYPER (12.19 "GITS_TYPER"), low and high words. */
const TYPER_LO = (1 << 0) | ((ITT_ENTRY_SIZE - 1) << 4) | ((ITS_ID_BITS - 1) << 8) | ((ITS_ID_BITS - 1) << 13);
const TYPER_HI = (ITS_ID_BITS - 1) | (1 << 4); // CIDbits [35:32], CIL [36]
/** GITS_IIDR: Implementer 0x43B (Arm), as GICD_IIDR. */
const IIDR = 0x0000_043b;
/** GITS_CTLR: Enabled [0]; Quiescent [31] (RO, always 1: commands complete synchronously). */
const CTLR_ENABLED = 1;
const CTLR_QUIESCENT = 0x8000_0000;
/** Identification registers 0xFFD0-0xFFFC: PIDR2.ArchRev = 3 (GICv3), the rest as the GICD's. */
const GITS_ID = [0x44, 0, 0, 0, 0x94, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;

/** GITS_BASER<n>.Type (12.19 "GITS_BASER<n>"). */
const BASER_TYPE_DEVICE = 1;
const BASER_TYPE_COLLECTION = 4;
/** Read-only fields of BASER0/1: Type [58:56], Entry_Size [52:48] (high word); Page_Size [9:8] = 64 KiB (low). */
const BASER_RO_LO = 2 << 8;
const BASER_RO_HI = (type: number): number => ((type << 24) | ((ITS_ENTRY_SIZE - 1) << 16)) >>> 0;
/** Writable: Size [7:0], Shareability [11:10], Physical_Address [47:12]; OuterCache [55:53], InnerCache [61:59], Indirect [62], Valid [63]. */
const BASER_RW_LO = 0xffff_fcff;
const BASER_RW_HI = 0xfae0_ffff;
/** GITS_CBASER: Size [7:0], Shareability [11:10], Physical_Address [51:12], MemAttr, InnerCache, Valid [63]. */
const CBASER_RW_LO = 0xffff_fcff;
const CBASER_RW_HI = 0xf8ef_ffff;

export class GicV3Its implements MmioDevice, Snapshottable, ItsTables {
  readonly name = 'gicv3-its';
  /** GITS_* reads only look (readWord); commands run at the CWRITER write, never at a read of CREADR. */
  readonly pureReads = true;
  readonly size = ITS_FRAME_SIZE;

  /** Machine snapshots: the registers (the tables and the queue are guest RAM); wiring excluded. */
  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx, ['name', 'base', 'size', 'rds']);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }

  ctlr = 0;
  cbaserLo = 0;
  cbaserHi = 0;
  /** GITS_CWRITER/CREADR Offset [19:5] (bytes into the queue); CREADR.Stalled [0]. */
  cwriter = 0;
  creadr = 0;
  stalled = false;
  /** GITS_BASER<n> words, n = 0..7. */
  readonly baserLo = new Uint32Array(8);
  readonly baserHi = new Uint32Array(8);

  constructor(
    private readonly rds: ItsRedistributors,
    readonly base: number,
  ) {
    this.reset();
  }

  reset(): void {
    this.ctlr = 0;
    this.cbaserLo = this.cbaserHi = 0;
    this.cwriter = this.creadr = 0;
    this.stalled = false;
    this.baserLo.fill(0);
    this.baserHi.fill(0);
    this.baserLo[0] = this.baserLo[1] = BASER_RO_LO;
    this.baserHi[0] = BASER_RO_HI(BASER_TYPE_DEVICE);
    this.baserHi[1] = BASER_RO_HI(BASER_TYPE_COLLECTION);
  }

  // --- MMIO (12.18: 32- and 64-bit accesses to the control frame; 16/32-bit to GITS_TRANSLATER) ---

  read(offset: number, size: AccessSize): number {
    if (size !== 4 || (offset & 3) !== 0 || offset >= PAGE) return 0; // other sizes, the translation frame: RAZ
    return this.readWord(offset) >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset === GITS.TRANSLATER) {
      if (size === 2 || size === 4) this.translate(0, size === 2 ? value & 0xffff : value >>> 0);
      return;
    }
    if (size === 4 && (offset & 3) === 0 && offset < PAGE) this.writeWord(offset, value >>> 0);
  }

  read64(offset: number): bigint {
    if ((offset & 7) !== 0 || offset >= PAGE) return 0n;
    return BigInt(this.readWord(offset) >>> 0) | (BigInt(this.readWord(offset + 4) >>> 0) << 32n);
  }

  write64(offset: number, value: bigint): void {
    if ((offset & 7) !== 0 || offset >= PAGE) return;
    const lo = Number(value & 0xffff_ffffn) >>> 0;
    const hi = Number((value >> 32n) & 0xffff_ffffn) >>> 0;
    // CWRITER's queue processing must see the whole register: write the high word first.
    this.writeWord(offset + 4, hi);
    this.writeWord(offset, lo);
  }

  private readWord(off: number): number {
    if (off >= GITS.BASER && off < GITS.BASER + 64) {
      const n = (off - GITS.BASER) >> 3;
      return off & 4 ? this.baserHi[n]! : this.baserLo[n]!;
    }
    if (off >= 0xffd0) return GITS_ID[(off - 0xffd0) >> 2] ?? 0;
    switch (off) {
      case GITS.CTLR:
        return (this.ctlr | CTLR_QUIESCENT) >>> 0;
      case GITS.IIDR:
        return IIDR;
      case GITS.TYPER:
        return TYPER_LO;
      case GITS.TYPER + 4:
        return TYPER_HI;
      case GITS.CBASER:
        return this.cbaserLo;
      case GITS.CBASER + 4:
        return this.cbaserHi;
      case GITS.CWRITER:
        return this.cwriter;
      case GITS.CREADR:
        return this.creadr | (this.stalled ? 1 : 0);
      default:
        return 0; // high words of CWRITER/CREADR, reserved: RAZ
    }
  }

  private writeWord(off: number, v: number): void {
    const enabled = (this.ctlr & CTLR_ENABLED) !== 0;
    if (off >= GITS.BASER && off < GITS.BASER + 16) {
      // BASER0/1 only, and only while the ITS is disabled (12.19: UNPREDICTABLE otherwise; ignored as QEMU).
      if (enabled) return;
      const n = (off - GITS.BASER) >> 3;
      if (off & 4) this.baserHi[n] = ((this.baserHi[n]! & ~BASER_RW_HI) | (v & BASER_RW_HI)) >>> 0;
      else this.baserLo[n] = ((this.baserLo[n]! & ~BASER_RW_LO) | (v & BASER_RW_LO)) >>> 0;
      return;
    }
    switch (off) {
      case GITS.CTLR:
        this.ctlr = v & CTLR_ENABLED;
        this.process();
        return;
      case GITS.CBASER:
      case GITS.CBASER + 4:
        // Writable while disabled; a write resets GITS_CREADR (12.19 "GITS_CBASER") and, as QEMU, CWRITER.
        if (enabled) return;
        if (off === GITS.CBASER) this.cbaserLo = v & CBASER_RW_LO;
        else this.cbaserHi = v & CBASER_RW_HI;
        this.creadr = this.cwriter = 0;
        this.stalled = false;
        return;
      case GITS.CWRITER:
        this.cwriter = v & 0x000f_ffe0;
        if (v & 1) this.stalled = false; // Retry
        this.process();
        return;
      default:
        return; // IIDR, TYPER, CREADR (RO), BASER2-7 (unimplemented), high words: WI
    }
  }

  // --- the command queue (5.3 "ITS commands") -----------------------------------------------

  private queueBase(): number {
    return (this.cbaserHi & 0xfffff) * 0x1_0000_0000 + ((this.cbaserLo & 0xffff_f000) >>> 0);
  }

  /** Run the commands from GITS_CREADR to GITS_CWRITER (IHI0069 5.3 "The ITS command queue"). */
  private process(): void {
    if (!(this.ctlr & CTLR_ENABLED) || !(this.cbaserHi & 0x8000_0000) || this.stalled) return;
    const size = ((this.cbaserLo & 0xff) + 1) * 0x1000;
    if (this.cwriter >= size) return; // CWRITER beyond the queue: UNPREDICTABLE, nothing runs
    const mem = this.rds.memory();
    const cmd: ItsCommand = { w: new Uint32Array(8) };
    while (this.creadr !== this.cwriter) {
      const pa = this.queueBase() + this.creadr;
      if (mem === null || !mem.contains(pa, 32)) {
        this.stalled = true;
        return;
      }
      for (let i = 0; i < 8; i++) cmd.w[i] = mem.read32(pa + 4 * i);
      if (runItsCommand(this, cmd) === 'stall') {
        this.stalled = true;
        return;
      }
      this.creadr = (this.creadr + 32) % size;
    }
  }

  // --- tables (5.2.1 "The ITS tables") -------------------------------------------------------

  get redistributors(): ItsRedistributors {
    return this.rds;
  }

  /**
   * Guest-physical address of entry `id` of the table GITS_BASER<n> describes (flat, or two-level
   * with Indirect: level-1 entries of 8 bytes, Valid [63] and the 64 KiB level-2 page's address
   * [51:16]); null if the table is not valid, `id` is beyond it, or its level-2 page is not valid.
   */
  entryAddress(n: 0 | 1, id: number): number | null {
    const lo = this.baserLo[n]!;
    const hi = this.baserHi[n]!;
    if (!(hi & 0x8000_0000)) return null;
    // 64 KiB pages: PA[47:16] in bits [47:16], PA[51:48] in bits [15:12].
    const base = ((lo >>> 12) & 0xf) * 2 ** 48 + (hi & 0xffff) * 2 ** 32 + ((lo & 0xffff_0000) >>> 0);
    const bytes = ((lo & 0xff) + 1) * PAGE;
    if (!(hi & 0x4000_0000)) return id * ITS_ENTRY_SIZE < bytes ? base + id * ITS_ENTRY_SIZE : null;
    const perPage = PAGE / ITS_ENTRY_SIZE;
    const l1 = Math.floor(id / perPage);
    if (l1 * 8 >= bytes) return null;
    const mem = this.rds.memory();
    if (mem === null || !mem.contains(base + l1 * 8, 8)) return null;
    const eLo = mem.read32(base + l1 * 8);
    const eHi = mem.read32(base + l1 * 8 + 4);
    if (!(eHi & 0x8000_0000)) return null;
    return (eHi & 0xfffff) * 0x1_0000_0000 + ((eLo & 0xffff_0000) >>> 0) + (id % perPage) * ITS_ENTRY_SIZE;
  }

  // --- MSIs (5.2 "The ITS": translation) -------------------------------------------------------

  /** GITS_TRANSLATER: an MSI from `deviceId` with `eventId` pends the LPI its tables name, if any. */
  translate(deviceId: number, eventId: number): void {
    if (!(this.ctlr & CTLR_ENABLED)) return;
    const t = this.lookup(deviceId, eventId);
    if (t !== null) this.rds.setPending(t.pe, t.intid, true);
  }

  /**
   * DeviceID -> DTE -> ITE -> CTE (5.2 "The ITS"): the LPI and target PE of an event, or null
   * when any step is unmapped or out of range (the event is then dropped, as the spec's
   * translation errors with SEIS = 0). `iteAddr` and `icid` serve MOVI and DISCARD.
   */
  lookup(deviceId: number, eventId: number): { pe: number; intid: number; icid: number; iteAddr: number } | null {
    const mem = this.rds.memory();
    if (mem === null || deviceId >= 2 ** ITS_ID_BITS || eventId >= 2 ** ITS_ID_BITS) return null;
    const dte = this.readEntry(0, deviceId);
    if (dte === null || !(dte.lo & 1)) return null;
    if (eventId >= 2 ** (((dte.lo >>> 1) & 0x1f) + 1)) return null;
    const iteAddr = dteIttAddress(dte) + eventId * ITT_ENTRY_SIZE;
    if (!mem.contains(iteAddr, ITT_ENTRY_SIZE)) return null;
    const iteLo = mem.read32(iteAddr);
    if (!(iteLo & 1)) return null;
    const intid = mem.read32(iteAddr + 4);
    const icid = iteLo >>> 16;
    const cte = this.readEntry(1, icid);
    if (cte === null || !(cte.lo & 1)) return null;
    const pe = (cte.lo >>> 1) & 0xffff;
    if (pe >= this.rds.count || intid < LPI_FIRST || intid >= 2 ** GIC_ID_BITS) return null;
    return { pe, intid, icid, iteAddr };
  }

  /** An 8-byte Device (n = 0) or Collection (n = 1) table entry, or null if it has no place in RAM. */
  readEntry(n: 0 | 1, id: number): { lo: number; hi: number } | null {
    const pa = this.entryAddress(n, id);
    const mem = this.rds.memory();
    if (pa === null || mem === null || !mem.contains(pa, 8)) return null;
    return { lo: mem.read32(pa), hi: mem.read32(pa + 4) };
  }

  /** Write an 8-byte table entry; false if it has no place in RAM. */
  writeEntry(n: 0 | 1, id: number, lo: number, hi: number): boolean {
    const pa = this.entryAddress(n, id);
    const mem = this.rds.memory();
    if (pa === null || mem === null || !mem.contains(pa, 8)) return false;
    mem.write32(pa, lo);
    mem.write32(pa + 4, hi);
    return true;
  }
}
