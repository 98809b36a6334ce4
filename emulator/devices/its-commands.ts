/**
 * The ITS command set (Arm IHI0069, 5.3 "ITS commands"): one 32-byte command (four little-endian
 * doublewords, here as eight 32-bit words w[0..7]) at a time, on the tables of its.ts. Field
 * positions are the spec's command descriptions (5.3.x for each command):
 *   DW0: command [7:0], DeviceID [63:32]            -> w0 & 0xff, w1
 *   DW1: EventID [31:0], pINTID [63:32], Size [4:0]  -> w2, w3, w2 & 0x1f (MAPD)
 *   DW2: ICID [15:0], RDbase [50:16], ITT_addr [51:8], V [63] -> w4 & 0xffff, ..., w5 bit 31
 *   DW3: RDbase2 [50:16] (MOVALL)                   -> w6, w7
 * With GITS_TYPER.PTA = 0, RDbase is the target's GICR_TYPER.Processor_Number.
 * ITEs are 12 bytes (GITS_TYPER.ITT_entry_size = 11, as QEMU): Valid [0], ICID [31:16], pINTID
 * [63:32], a zero word. Bad parameters: the command is ignored ('ok', processing continues); a table that should be
 * written but has no place in guest RAM stalls the queue ('stall').
 */
import { GIC_ID_BITS, LPI_FIRST, type ItsRedistributors } from './gicv3-lpi.js';

/**
 * What a command needs of the ITS (its.ts's GicV3Its implements it): its Redistributors and its
 * Device (n = 0) and Collection (n = 1) tables in guest memory. An interface here, not the class,
 * so this module and its.ts don't import each other.
 */
export interface ItsTables {
  readonly redistributors: ItsRedistributors;
  entryAddress(n: 0 | 1, id: number): number | null;
  lookup(deviceId: number, eventId: number): { pe: number; intid: number; icid: number; iteAddr: number } | null;
  readEntry(n: 0 | 1, id: number): { lo: number; hi: number } | null;
  writeEntry(n: 0 | 1, id: number, lo: number, hi: number): boolean;
}

/** ID bits of EventIDs, DeviceIDs and collection IDs (GITS_TYPER.{IDbits, Devbits, CIDbits} + 1). */
export const ITS_ID_BITS = 16;
/** Bytes per Device/Collection table entry (GITS_BASER<n>.Entry_Size + 1). */
export const ITS_ENTRY_SIZE = 8;
/** Bytes per ITT entry (GITS_TYPER.ITT_entry_size + 1): 12, as QEMU's, of which the model uses the first 8. */
export const ITT_ENTRY_SIZE = 12;

/** The ITT address a DTE holds (bits [51:8]). */
export function dteIttAddress(dte: { lo: number; hi: number }): number {
  return (dte.hi & 0xfffff) * 0x1_0000_0000 + ((dte.lo & 0xffff_ff00) >>> 0);
}

export interface ItsCommand {
  readonly w: Uint32Array;
}

/** Command numbers (5.3 "ITS commands", Table "ITS command summary"). */
export const ITS_CMD = {
  MOVI: 0x01,
  INT: 0x03,
  CLEAR: 0x04,
  SYNC: 0x05,
  MAPD: 0x08,
  MAPC: 0x09,
  MAPTI: 0x0a,
  MAPI: 0x0b,
  INV: 0x0c,
  INVALL: 0x0d,
  MOVALL: 0x0e,
  DISCARD: 0x0f,
} as const;

export type CommandResult = 'ok' | 'stall';

const ID_LIMIT = 2 ** ITS_ID_BITS;

/** RDbase of DW2 (or DW3 for `hi` = 7): bits [50:16] as a Processor_Number. */
const rdbase = (lo: number, hi: number): number => (lo >>> 16) + (hi & 0x7ffff) * 0x1_0000;

/** One command's effect on the tables: w is the command's eight words; DeviceID is w[1], EventID w[2]. */
type CommandHandler = (its: ItsTables, w: Uint32Array) => CommandResult;

/** Run one command. GICv4 and unknown commands are ignored (GITS_TYPER.SEIS = 0: no SError). */
export function runItsCommand(its: ItsTables, cmd: ItsCommand): CommandResult {
  const handler = COMMANDS.get(cmd.w[0]! & 0xff);
  return handler === undefined ? 'ok' : handler(its, cmd.w);
}

/** A table entry write that failed: ignored when the ID has no entry (out of the table), a stall when the entry is not in guest RAM. */
const written = (its: ItsTables, n: 0 | 1, id: number, lo: number, hi: number): CommandResult =>
  its.writeEntry(n, id, lo, hi) ? 'ok' : its.entryAddress(n, id) === null ? 'ok' : 'stall';

/** 5.3.x MAPD: map DeviceID to an ITT of 2^(Size+1) events at ITT_addr (V = 1), or unmap. */
function mapd(its: ItsTables, w: Uint32Array): CommandResult {
  const deviceId = w[1]!;
  const valid = (w[5]! & 0x8000_0000) !== 0;
  const size = w[2]! & 0x1f;
  if (deviceId >= ID_LIMIT || size + 1 > ITS_ID_BITS) return 'ok';
  const itt = { lo: w[4]! & 0xffff_ff00, hi: w[5]! & 0xfffff };
  const lo = valid ? (1 | (size << 1) | itt.lo) >>> 0 : 0;
  return written(its, 0, deviceId, lo, valid ? itt.hi : 0);
}

/** 5.3.x MAPC: collection ICID -> Redistributor RDbase (V = 1), or unmap. */
function mapc(its: ItsTables, w: Uint32Array): CommandResult {
  const valid = (w[5]! & 0x8000_0000) !== 0;
  const icid = w[4]! & 0xffff;
  const rd = rdbase(w[4]!, w[5]!);
  if (valid && rd >= its.redistributors.count) return 'ok';
  const lo = valid ? (1 | (rd << 1)) >>> 0 : 0;
  return written(its, 1, icid, lo, 0);
}

/** 5.3.x MAPTI/MAPI: event -> (pINTID, collection); MAPI uses pINTID = EventID. */
function mapti(its: ItsTables, w: Uint32Array): CommandResult {
  const deviceId = w[1]!;
  const eventId = w[2]!;
  const intid = (w[0]! & 0xff) === ITS_CMD.MAPI ? eventId : w[3]!;
  const icid = w[4]! & 0xffff;
  if (intid < LPI_FIRST || intid >= 2 ** GIC_ID_BITS) return 'ok';
  const ite = iteAddress(its, deviceId, eventId);
  if (ite === null) return 'ok';
  const mem = its.redistributors.memory();
  if (mem === null || !mem.contains(ite, ITT_ENTRY_SIZE)) return 'stall';
  mem.write32(ite, (1 | (icid << 16)) >>> 0);
  mem.write32(ite + 4, intid);
  mem.write32(ite + 8, 0);
  return 'ok';
}

/** 5.3.x INT: as if the device had written EventID to GITS_TRANSLATER. */
function int(its: ItsTables, w: Uint32Array): CommandResult {
  const t = its.lookup(w[1]!, w[2]!);
  if (t !== null) its.redistributors.setPending(t.pe, t.intid, true);
  return 'ok';
}

/** 5.3.x CLEAR: the event's LPI is no longer pending; DISCARD also removes the mapping. */
function clear(its: ItsTables, w: Uint32Array): CommandResult {
  const t = its.lookup(w[1]!, w[2]!);
  if (t === null) return 'ok';
  const rds = its.redistributors;
  rds.setPending(t.pe, t.intid, false);
  if ((w[0]! & 0xff) === ITS_CMD.DISCARD) {
    const mem = rds.memory()!;
    for (let i = 0; i < ITT_ENTRY_SIZE; i += 4) mem.write32(t.iteAddr + i, 0);
  }
  return 'ok';
}

/** 5.3.x INV: the LPI's configuration is re-read from the LPI Configuration table. */
function inv(its: ItsTables, w: Uint32Array): CommandResult {
  const t = its.lookup(w[1]!, w[2]!);
  if (t !== null) its.redistributors.invalidate(t.pe);
  return 'ok';
}

/** 5.3.x INVALL: every LPI configuration of the collection's Redistributor is re-read. */
function invall(its: ItsTables, w: Uint32Array): CommandResult {
  const cte = its.readEntry(1, w[4]! & 0xffff);
  if (cte !== null && cte.lo & 1) {
    const pe = (cte.lo >>> 1) & 0xffff;
    if (pe < its.redistributors.count) its.redistributors.invalidate(pe);
  }
  return 'ok';
}

/** 5.3.x MOVI: the event moves to collection ICID; a pending LPI moves with it. */
function movi(its: ItsTables, w: Uint32Array): CommandResult {
  const rds = its.redistributors;
  const t = its.lookup(w[1]!, w[2]!);
  const icid = w[4]! & 0xffff;
  const cte = its.readEntry(1, icid);
  if (t === null || cte === null || !(cte.lo & 1)) return 'ok';
  const to = (cte.lo >>> 1) & 0xffff;
  if (to >= rds.count) return 'ok';
  const mem = rds.memory()!;
  mem.write32(t.iteAddr, (1 | (icid << 16)) >>> 0);
  if (to !== t.pe && rds.isPending(t.pe, t.intid)) {
    rds.setPending(t.pe, t.intid, false);
    rds.setPending(to, t.intid, true);
  }
  return 'ok';
}

/** 5.3.x MOVALL: every pending LPI of RDbase1 becomes pending on RDbase2 instead. */
function movall(its: ItsTables, w: Uint32Array): CommandResult {
  const rds = its.redistributors;
  const from = rdbase(w[4]!, w[5]!);
  const to = rdbase(w[6]!, w[7]!);
  if (from >= rds.count || to >= rds.count || from === to) return 'ok';
  for (const intid of rds.pendingLpis(from)) {
    rds.setPending(from, intid, false);
    rds.setPending(to, intid, true);
  }
  return 'ok';
}

/** 5.3.x SYNC: every earlier command's effects are visible; here they already are. */
const sync: CommandHandler = () => 'ok';

/** The command set, by command number (5.3 "ITS command summary"). */
const COMMANDS: ReadonlyMap<number, CommandHandler> = new Map<number, CommandHandler>([
  [ITS_CMD.MAPD, mapd],
  [ITS_CMD.MAPC, mapc],
  [ITS_CMD.MAPTI, mapti],
  [ITS_CMD.MAPI, mapti],
  [ITS_CMD.INT, int],
  [ITS_CMD.CLEAR, clear],
  [ITS_CMD.DISCARD, clear],
  [ITS_CMD.INV, inv],
  [ITS_CMD.INVALL, invall],
  [ITS_CMD.MOVI, movi],
  [ITS_CMD.MOVALL, movall],
  [ITS_CMD.SYNC, sync],
]);

/** Where (DeviceID, EventID)'s ITE lives: the device must be mapped and EventID within its ITT. */
function iteAddress(its: ItsTables, deviceId: number, eventId: number): number | null {
  if (deviceId >= ID_LIMIT) return null;
  const dte = its.readEntry(0, deviceId);
  if (dte === null || !(dte.lo & 1)) return null;
  if (eventId >= 2 ** (((dte.lo >>> 1) & 0x1f) + 1)) return null;
  return dteIttAddress(dte) + eventId * ITT_ENTRY_SIZE;
}
