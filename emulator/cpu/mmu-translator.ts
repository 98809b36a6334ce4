/**
 * The vCPU's translator backed by the two-stage VMSAv8-64 model in
 * emulator/mmu: every Unicorn TLB miss becomes a walk of the guest's stage-1
 * tables (in guest RAM) and the hypervisor's stage-2 tables (in host memory),
 * answered from the model's own TLB when it can.
 *
 * Keeping the regime current without reading five system registers on every
 * fill: the vCPU marks the stage-1 configuration dirty whenever SCTLR_EL1,
 * TCR_EL1, TTBR0/1_EL1 or MAIR_EL1 may have changed (a native MSR, a write by
 * the hypervisor, a world-switch restore); the next fill re-reads them in one
 * batched FFI call.
 */
import { createRegime, type Regime, type TranslateOutcome, type Access as MmuAccess } from '../mmu/translate.js';
import { Stage1Decoder, decodeStage2, stage2Disabled, type Stage2Registers } from '../mmu/config.js';
import { TlbModel } from '../mmu/tlb.js';
import { RamDescriptorMemory, type DescriptorMemory, type DescriptorPair, type RamBlock } from '../mmu/memory.js';
import { fsc } from '../mmu/faults.js';
import type { RegBatch, Unicorn } from '../unicorn/uc.js';
import { SR_FLAG } from './sysreg-catalogue.js';
import { ARCH_SYSREGS } from './sysreg-rows.js';
import { Access, type AccessKind, type Translation, type Translator } from './translator.js';
import { walkReport, type WalkReport } from '../mmu/walk-report.js';
import { hexVa, vaFromBigint } from '../types.js';

const KIND: readonly MmuAccess['kind'][] = ['read', 'write', 'fetch'];

/** The registers the stage-1 decoder reads: the catalogue's MMU_INPUT rows, read in one batch. */
const MMU_INPUTS = ARCH_SYSREGS.filter((d) => (d.flags & SR_FLAG.MMU_INPUT) !== 0);
const inputIndex = (name: string): number => {
  const i = MMU_INPUTS.findIndex((d) => d.name === name);
  if (i < 0) throw new Error(`MMU input ${name} is not flagged MMU_INPUT in the catalogue`);
  return i;
};
const IX = { sctlr: inputIndex('SCTLR_EL1'), tcr: inputIndex('TCR_EL1'), ttbr0: inputIndex('TTBR0_EL1'), ttbr1: inputIndex('TTBR1_EL1'), mair: inputIndex('MAIR_EL1') };
const SEEN = [IX.sctlr, IX.tcr, IX.ttbr0, IX.ttbr1, IX.mair];

export class MmuTranslator implements Translator {
  readonly regime: Regime;
  readonly tlb = new TlbModel();
  private readonly s1 = new Stage1Decoder();
  private readonly regs: RegBatch;
  private dirty = true;
  private blocks: RamBlock[];
  private readonly access: MmuAccess = { kind: 'read', el: 1 };
  private readonly ok = { ok: true as const, pa: 0, ipa: 0, perms: 0, sizeLog2: 12 };
  private readonly bad = { ok: false as const, fault: { stage: 1 as 1 | 2, fsc: 0, level: 0, s1ptw: false, ipa: 0 } };
  /** The last full outcome (for the debugger and --walk). */
  last: TranslateOutcome | null = null;

  constructor(
    private readonly uc: Unicorn,
    ram: RamBlock | RamBlock[],
  ) {
    this.blocks = Array.isArray(ram) ? [...ram] : [ram];
    this.regs = uc.createBatch(MMU_INPUTS.map((e) => ({ sysreg: e })));
    this.mem = new SwappableMemory(new RamDescriptorMemory(this.blocks));
    this.regime = createRegime({ mem: this.mem, stage2: stage2Disabled() });
  }

  /** Memory the walker may read descriptors from besides guest RAM (the hypervisor's stage-2 table pool). */
  addDescriptorMemory(block: RamBlock): void {
    this.blocks = [...this.blocks, block];
    // The regime's walkers hold the memory object they were built with: swap what it delegates to.
    this.mem.inner = new RamDescriptorMemory(this.blocks);
  }
  private readonly mem: SwappableMemory;

  /** The stage-1 registers may have changed. */
  markDirty(): void {
    // The native fill cache repeats answers made in the regime of the last refresh: until the
    // next refresh has seen whether the registers really changed, every fill comes here.
    // (From the system-instruction hook the write has not happened yet: reading them now would
    // see the old values.)
    if (!this.dirty) this.uc.setFillCacheEnabled(false, false);
    this.dirty = true;
  }

  /** The raw values of the last refresh: a "change" that changes nothing keeps the native fill cache. */
  private readonly seen = [-1n, -1n, -1n, -1n, -1n];

  private refresh(): void {
    if (!this.dirty) return;
    const regs = this.regs;
    regs.read();
    // Which changed: nothing; only the address space (TTBR0/1_EL1: the native fill cache tags
    // each answer with both and checks them itself, as the model TLB tags its entries with the
    // ASID); or more (SCTLR_EL1, TCR_EL1, MAIR_EL1: everything it holds goes).
    let changed = 0;
    for (let i = 0; i < SEEN.length; i++) {
      const v = regs.get(SEEN[i]!);
      if (v === this.seen[i]) continue;
      this.seen[i] = v;
      changed = Math.max(changed, SEEN[i] === IX.ttbr0 || SEEN[i] === IX.ttbr1 ? 1 : 2);
    }
    if (changed === 2) this.uc.dropFillCache();
    this.uc.setFillCacheEnabled(true, false);
    this.regime.stage1 = this.s1.decode({
      sctlr: regs.get(IX.sctlr),
      tcr: regs.get(IX.tcr),
      ttbr0: regs.get(IX.ttbr0),
      ttbr1: regs.get(IX.ttbr1),
      mair: regs.get(IX.mair),
    });
    this.dirty = false;
  }

  /** Install (or remove, with null) the hypervisor's stage 2: VTTBR_EL2, VTCR_EL2 and HCR_EL2 (VM, DC, FWB, PTW). */
  setStage2(r: Stage2Registers | null): void {
    this.regime.stage2 = r === null ? stage2Disabled() : decodeStage2(r);
    this.tlb.invalidateAll();
  }

  get stage1Enabled(): boolean {
    this.refresh();
    return this.regime.stage1.enabled;
  }

  translate(va: number, access: AccessKind, el: number): Translation {
    return this.answer(va, access, el, true);
  }

  /**
   * The same translation without the model's TLB or its statistics: what the
   * vCPU uses to work out the syndrome of a fill it already refused (so each
   * fault is counted once) and what the debugger reads memory through.
   */
  probe(va: number, access: AccessKind, el: number): Translation {
    return this.answer(va, access, el, false);
  }

  /** The PA of a read of `va` at `el` as the model's TLB holds it, or -1 (not held: walk with probe). */
  cachedReadPa(va: number, el: number): number {
    this.refresh();
    return this.tlb.readPa(this.regime, va, el === 0 ? 0 : 1);
  }

  private answer(va: number, access: AccessKind, el: number, viaTlb: boolean): Translation {
    this.refresh();
    const a = this.access;
    a.kind = KIND[access]!;
    a.el = el === 0 ? 0 : 1;
    const out = viaTlb ? this.tlb.translate(this.regime, va, a) : this.regime.translate(va, a);
    if (out.ok) {
      const r = this.ok;
      r.pa = out.pa;
      r.ipa = out.ipa;
      r.perms = out.perms;
      r.sizeLog2 = out.sizeLog2;
      return r;
    }
    const f = this.bad.fault;
    f.stage = out.stage;
    f.fsc = fsc(out);
    f.level = out.level;
    f.s1ptw = out.s1ptw;
    f.ipa = out.ipa;
    return this.bad;
  }

  /** Full outcome with the walk recorded, without touching the model's TLB (debugger, --walk). */
  inspect(va: number | bigint, access: AccessKind = Access.READ, el = 1, opts: { stage1Only?: boolean } = {}): TranslateOutcome {
    this.refresh();
    const out = this.regime.translate(va, { kind: KIND[access]!, el: el === 0 ? 0 : 1 }, { record: true, stage1Only: opts.stage1Only === true });
    return out.ok ? { ...out, attrs: { ...out.attrs } } : { ...out };
  }

  invalidateAll(): void {
    this.tlb.invalidateAll();
    this.dirty = true;
  }
}

/** A DescriptorMemory whose backing blocks can grow after the walkers were built. */
class SwappableMemory implements DescriptorMemory {
  constructor(public inner: DescriptorMemory) {}
  read32(pa: number): number {
    return this.inner.read32(pa);
  }
  write32(pa: number, v: number): void {
    this.inner.write32(pa, v);
  }
  isBacked(pa: number, len: number): boolean {
    return this.inner.isBacked(pa, len);
  }
  readPair(pa: number, out: DescriptorPair): boolean {
    const m = this.inner;
    if (m.readPair !== undefined) return m.readPair(pa, out);
    if (!m.isBacked(pa, 8)) return false;
    out.lo = m.read32(pa);
    out.hi = m.read32(pa + 4);
    return true;
  }
}

/**
 * The translation of `va` in the vCPU's current regime, as a user reads it:
 * IPA, PA, effective attributes and, for each level of each stage, the table
 * address, descriptor and decision; or the fault the access would raise.
 * Side-effect free (no TLB fill, no statistics).
 */
export function translate(
  vcpu: { readonly translator: MmuTranslator },
  va: number | bigint,
  opts: { el?: 0 | 1; access?: 'read' | 'write' | 'fetch' } = {},
): WalkReport {
  const t = vcpu.translator;
  const num = typeof va === 'bigint' ? vaFromBigint(va) : va;
  const access = opts.access === 'write' ? Access.WRITE : opts.access === 'fetch' ? Access.FETCH : Access.READ;
  return walkReport(hexVa(num), t.inspect(num, access, opts.el ?? 1), t.stage1Enabled, t.regime.stage2.enabled);
}
