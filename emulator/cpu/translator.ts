/**
 * What the vCPU asks of a translation model on every Unicorn TLB miss. The
 * real two-stage VMSAv8-64 model lives in emulator/mmu/; FlatTranslator below
 * is the MMU-off, identity-IPA regime the machine boots in before the
 * hypervisor installs its stage 2.
 */
import { Prot } from '../unicorn/uc.js';
import { FSC } from './esr.js';

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
  | { ok: true; pa: number; ipa: number; perms: number }
  | { ok: false; fault: TranslationFault };

export interface TranslateRequest {
  va: number;
  access: AccessKind;
  /** Exception level whose permissions apply (an EL1 LDTR/STTR passes 0). */
  el: number;
}

export interface Translator {
  translate(va: number, access: AccessKind, el: number): Translation;
  /** Drop every cached translation (the caller also flushes Unicorn's TLB). */
  invalidateAll(): void;
  /** Is the guest's stage 1 enabled (SCTLR_EL1.M)? Used to skip EL checks while it is off. */
  readonly stage1Enabled: boolean;
}

/**
 * MMU off and a stage 2 that maps exactly the RAM window 1:1: what the board
 * looks like before any page table exists. Anything outside RAM is a stage-2
 * translation fault, so device accesses exit to the hypervisor for emulation.
 */
export class FlatTranslator implements Translator {
  readonly stage1Enabled = false;
  private readonly okResult = { ok: true as const, pa: 0, ipa: 0, perms: Prot.ALL };
  private readonly faultResult = {
    ok: false as const,
    fault: { stage: 2 as 1 | 2, fsc: FSC.translation(1), level: 1, s1ptw: false, ipa: 0 },
  };

  constructor(
    private readonly ramBase: number,
    private readonly ramSize: number,
  ) {}

  translate(va: number, _access: AccessKind, _el: number): Translation {
    if (va >= this.ramBase && va < this.ramBase + this.ramSize) {
      this.okResult.pa = va;
      this.okResult.ipa = va;
      return this.okResult;
    }
    this.faultResult.fault.ipa = va;
    return this.faultResult;
  }

  invalidateAll(): void {}
}
