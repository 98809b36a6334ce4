/**
 * MMU fault description and the fault status codes of ESR_ELx
 * (Arm ARM DDI0487 D17.2.37/D17.2.40 ESR_EL1/ESR_EL2 [K.a D24.2.40], ISS encoding
 * for an exception from a Data Abort / Instruction Abort, DFSC/IFSC).
 */

export type FaultType = 'translation' | 'accessFlag' | 'permission' | 'addressSize' | 'externalAbort';

export interface TranslationFault {
  ok: false;
  stage: 1 | 2;
  type: FaultType;
  /** lookup level, 0..3 (-1 never produced: no FEAT_LPA2) */
  level: number;
  /** a stage-2 fault taken on a stage-1 translation table walk access */
  s1ptw: boolean;
  /** IPA of the faulting stage-2 access (for HPFAR_EL2.FIPA); -1 for stage-1 faults */
  ipa: number;
  /** the virtual address being translated, as given */
  va: number | bigint;
  write: boolean;
  fetch: boolean;
  /** cache maintenance by VA */
  cm: boolean;
  /** one-line reason, for logs and traces */
  detail: string;
  walk: WalkRecord[] | null;
}

/** One step of a recorded walk (`record: true`): debugger and trace output. */
export interface WalkRecord {
  stage: 1 | 2;
  /** true for a stage-2 step that translates a stage-1 table access (S1PTW) */
  forS1Walk: boolean;
  level: number;
  /** table address as named by TTBR / the parent descriptor (IPA for stage-1 tables under stage 2) */
  table: number;
  index: number;
  /** physical address of the descriptor */
  descAddr: number;
  /** 0x-prefixed 16-digit hex */
  descriptor: string;
  decision: string;
}

const TYPE_BASE: Record<FaultType, number> = {
  addressSize: 0b000000,
  translation: 0b000100,
  accessFlag: 0b001000,
  permission: 0b001100,
  externalAbort: 0b010100,
};

/**
 * Fault status code (DFSC/IFSC[5:0]): address size 0b0000LL, translation 0b0001LL,
 * access flag 0b0010LL, permission 0b0011LL, synchronous external abort on a
 * translation table walk 0b0101LL, LL = level. Level -1 (FEAT_LPA2) has its own
 * codes (0b101001, 0b101011, 0b010011) and is included for completeness.
 */
export function faultStatusCode(type: FaultType, level: number): number {
  if (level < 0) {
    if (type === 'addressSize') return 0b101001;
    if (type === 'translation') return 0b101011;
    if (type === 'externalAbort') return 0b010011;
    return TYPE_BASE[type]; // access flag / permission have no level -1 encoding
  }
  return TYPE_BASE[type] | (level & 3);
}

export function fsc(f: Pick<TranslationFault, 'type' | 'level'>): number {
  return faultStatusCode(f.type, f.level);
}

/** HPFAR_EL2 for a stage-2 fault: FIPA (IPA[47:12]) in bits [43:4]. Returns a Number (< 2^53). */
export function hpfarFor(f: Pick<TranslationFault, 'ipa'>): number {
  if (f.ipa < 0) return 0;
  return Math.floor(f.ipa / 4096) * 16;
}
