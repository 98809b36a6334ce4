/**
 * What the vCPU asks of a translation model on every Unicorn TLB miss (the
 * two-stage VMSAv8-64 model in emulator/mmu/, adapted by mmu-translator.ts).
 */

/** Access kinds, in the order Unicorn's uc_mem_type lists them (READ, WRITE, FETCH). */
export const Access = { READ: 0, WRITE: 1, FETCH: 2 } as const;
export type AccessKind = (typeof Access)[keyof typeof Access];

export interface TranslationFault {
  /** 1: delivered to the guest at EL1; 2: an exit to the hypervisor. */
  stage: 1 | 2;
  /** Fault status code (ESR DFSC/IFSC). */
  fsc: number;
  level: number;
  /** Stage-2 fault on a stage-1 table walk. */
  s1ptw: boolean;
  /** Faulting IPA (stage-2 faults: reported in HPFAR_EL2). */
  ipa: number;
}

/**
 * One translation. The translator may reuse the object it returns: callers
 * copy what they keep before translating again (the fill hook allocates nothing).
 */
export type Translation =
  | {
      ok: true;
      pa: number;
      ipa: number;
      perms: number;
      /** log2 of the bytes the translation covers (12: a 4 KiB page; more: a block); absent: unknown. */
      sizeLog2?: number;
    }
  | { ok: false; fault: TranslationFault };

export interface Translator {
  translate(va: number, access: AccessKind, el: number): Translation;
  /** Drop every cached translation (the caller also flushes Unicorn's TLB). */
  invalidateAll(): void;
  /** Is the guest's stage 1 enabled (SCTLR_EL1.M)? Used to skip EL checks while it is off. */
  readonly stage1Enabled: boolean;
}

