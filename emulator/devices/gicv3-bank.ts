/**
 * The GICv3's bit-array and field registers in the GICD layout (IHI0069 12.9 "The GIC Distributor
 * register descriptions": IGROUPR, I{S,C}ENABLER, I{S,C}PENDR, I{S,C}ACTIVER, IPRIORITYR, ICFGR),
 * which the Distributor serves for the SPIs (words 1..8) and each Redistributor's SGI_base frame
 * for its SGIs and PPIs (word 0, 12.11), over an IntBank (gicv3-pe.ts).
 */
import { GICD } from './gicv3-regs.js';
import type { IntBank } from './gicv3-pe.js';

/**
 * The bit-array and field registers shared by the GICD layout and SGI_base: word index n
 * (INTIDs 32n..32n+31) is served for n in [first, end); other words are RAZ/WI.
 */
export function bankRead(b: IntBank, off: number, first: number, end: number): number {
  const word = (base: number): number => {
    const n = (off - base) >> 2;
    return n >= first && n < end ? n : -1;
  };
  const inRange = (base: number, words: number): boolean => off >= base && off < base + words * 4;
  let n: number;
  if (inRange(GICD.IGROUPR, 32) && (n = word(GICD.IGROUPR)) >= 0) return b.group[n]! >>> 0;
  if ((inRange(GICD.ISENABLER, 32) && (n = word(GICD.ISENABLER)) >= 0) || (inRange(GICD.ICENABLER, 32) && (n = word(GICD.ICENABLER)) >= 0))
    return b.enabled[n]! >>> 0;
  if ((inRange(GICD.ISPENDR, 32) && (n = word(GICD.ISPENDR)) >= 0) || (inRange(GICD.ICPENDR, 32) && (n = word(GICD.ICPENDR)) >= 0))
    return (b.latch[n]! | (b.line[n]! & ~b.edge[n]!)) >>> 0;
  if ((inRange(GICD.ISACTIVER, 32) && (n = word(GICD.ISACTIVER)) >= 0) || (inRange(GICD.ICACTIVER, 32) && (n = word(GICD.ICACTIVER)) >= 0))
    return b.active[n]! >>> 0;
  if (inRange(GICD.IPRIORITYR, 255)) {
    const id = off - GICD.IPRIORITYR;
    if (id >= first * 32 && id < end * 32) {
      return (b.priority[id]! | (b.priority[id + 1]! << 8) | (b.priority[id + 2]! << 16) | (b.priority[id + 3]! << 24)) >>> 0;
    }
    return 0;
  }
  if (inRange(GICD.ICFGR, 64)) {
    // Two ICFGR words per bank word; field k = Int_config[1:0] of INTID 16m+k, bit 0 RES0.
    const m = (off - GICD.ICFGR) >> 2;
    if (m < first * 2 || m >= end * 2) return 0;
    const e = (b.edge[m >> 1]! >>> ((m & 1) * 16)) & 0xffff;
    let v = 0;
    for (let k = 0; k < 16; k++) if ((e >>> k) & 1) v |= 2 << (2 * k);
    return v >>> 0;
  }
  return 0; // IGRPMODR, NSACR (DS = 1), ITARGETSR, SGIR, STATUSR, TYPER2, SETSPI, reserved: RAZ
}

/** Returns whether state may have changed. */
export function bankWrite(b: IntBank, off: number, v: number, first: number, end: number): boolean {
  const word = (base: number): number => {
    const n = (off - base) >> 2;
    return n >= first && n < end ? n : -1;
  };
  const inRange = (base: number, words: number): boolean => off >= base && off < base + words * 4;
  const at = (base: number): number => (inRange(base, 32) ? word(base) : -1);
  let n: number;
  if ((n = at(GICD.IGROUPR)) >= 0) b.group[n] = v;
  else if ((n = at(GICD.ISENABLER)) >= 0) b.enabled[n]! |= v;
  else if ((n = at(GICD.ICENABLER)) >= 0) b.enabled[n]! &= ~v;
  else if ((n = at(GICD.ISPENDR)) >= 0) b.latch[n]! |= v;
  else if ((n = at(GICD.ICPENDR)) >= 0) b.latch[n]! &= ~v;
  else if ((n = at(GICD.ISACTIVER)) >= 0) b.active[n]! |= v;
  else if ((n = at(GICD.ICACTIVER)) >= 0) b.active[n]! &= ~v;
  else if (inRange(GICD.IPRIORITYR, 255)) {
    const id = off - GICD.IPRIORITYR;
    if (id < first * 32 || id >= end * 32) return false;
    for (let i = 0; i < 4; i++) b.priority[id + i] = (v >>> (8 * i)) & 0xff;
  } else if (inRange(GICD.ICFGR, 64)) {
    const m = (off - GICD.ICFGR) >> 2;
    if (m < first * 2 || m >= end * 2 || m === 0) return false; // ICFGR0 (SGIs) is RO: all edge
    let e = 0;
    for (let k = 0; k < 16; k++) if ((v >>> (2 * k + 1)) & 1) e |= 1 << k;
    const sh = (m & 1) * 16;
    b.edge[m >> 1] = ((b.edge[m >> 1]! & ~(0xffff << sh)) | (e << sh)) >>> 0;
  } else return false;
  return true;
}
