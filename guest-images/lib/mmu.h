/*
 * Stage-1 (EL1&0 regime) translation tables for 4 KB, 16 KB and 64 KB
 * granules with a 48-bit VA (TnSZ = 16).
 *
 * Descriptor formats: Arm ARM D8.3 "Translation table descriptor formats"
 * (VMSAv8-64, DDI0487 K.a numbering). Bits used here:
 *   [0] valid, [1] table (levels 0-2) / page (level 3) vs block,
 *   [4:2] AttrIndx into MAIR_EL1, [7:6] AP[2:1], [9:8] SH, [10] AF,
 *   [11] nG, [53] PXN, [54] UXN, OA in [47:granule shift].
 * Access permissions, AP[2:1] (D8.4 "Memory access control"):
 *   00 EL1 RW / EL0 none, 01 EL1 RW / EL0 RW, 10 EL1 RO / EL0 none, 11 RO / RO.
 *   Memory writable at EL0 (AP = 01) is never executable at EL1.
 */
#ifndef HYPEMU_MMU_H
#define HYPEMU_MMU_H

#include "runtime.h"

#define PTE_VALID (1UL << 0)
#define PTE_TABLE (1UL << 1)         /* levels 0-2: next-level table */
#define PTE_PAGE (1UL << 1)          /* level 3: page (bit 1 must be 1) */
#define PTE_ATTRIDX(n) ((u64)(n) << 2)
#define PTE_AP_RW_EL1 (0UL << 6)
#define PTE_AP_RW_ALL (1UL << 6)
#define PTE_AP_RO_EL1 (2UL << 6)
#define PTE_AP_RO_ALL (3UL << 6)
#define PTE_AP_MASK (3UL << 6)
#define PTE_SH_INNER (3UL << 8)
#define PTE_AF (1UL << 10)
#define PTE_NG (1UL << 11)
#define PTE_PXN (1UL << 53)
#define PTE_UXN (1UL << 54)

/* MAIR_EL1 attribute encodings (Arm ARM, MAIR_EL1 register description). */
#define MAIR_NORMAL_WB 0xffUL       /* Normal, Inner/Outer Write-Back non-transient, R+W allocate */
#define MAIR_DEVICE_nGnRE 0x04UL    /* 0b0000dd00, dd = 01 */
#define MAIR_NORMAL_NC 0x44UL       /* Normal, Inner/Outer Non-cacheable */
#define MAIR_DEVICE_nGnRnE 0x00UL
#define MAIR_NORMAL_WT 0xbbUL       /* Normal, Write-Through non-transient, R+W allocate */
#define MAIR_ATTR(idx, v) ((u64)(v) << (8 * (idx)))

/* The attribute indexes every guest uses. */
#define ATTR_NORMAL 0
#define ATTR_DEVICE 1
#define ATTR_NC 2
#define DEFAULT_MAIR (MAIR_ATTR(ATTR_NORMAL, MAIR_NORMAL_WB) | MAIR_ATTR(ATTR_DEVICE, MAIR_DEVICE_nGnRE) | \
		      MAIR_ATTR(ATTR_NC, MAIR_NORMAL_NC))

#define PROT_KERNEL (PTE_AF | PTE_SH_INNER | PTE_ATTRIDX(ATTR_NORMAL) | PTE_AP_RW_EL1 | PTE_UXN)
#define PROT_DEVICE (PTE_AF | PTE_ATTRIDX(ATTR_DEVICE) | PTE_AP_RW_EL1 | PTE_PXN | PTE_UXN)

struct pt {
	unsigned gshift;       /* 12, 14 or 16 */
	int start_level;       /* 0 (4K, 16K) or 1 (64K) for a 48-bit VA */
	u64 *root;
	u8 *pool;
	u64 pool_size, used;
};

void pt_init(struct pt *pt, unsigned gshift, void *pool, u64 pool_size);
/* Bytes mapped by one descriptor at this level. */
static inline u64 pt_level_size(const struct pt *pt, int level)
{
	return 1UL << (pt->gshift + (pt->gshift - 3) * (3 - level));
}
/* Whether a block descriptor is allowed at this level (no FEAT_LPA/LPA2). */
int pt_block_ok(const struct pt *pt, int level);
/* Maps [va, va+size) to pa with leaves at exactly `level`. */
void pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u64 prot, int level);
/* Maps [va, va+size) to pa with the largest blocks alignment allows (level >= min_level). */
void pt_map_auto(struct pt *pt, u64 va, u64 pa, u64 size, u64 prot, int min_level);
/* Descriptor slot for va at `level` (tables above it must exist), or 0. */
u64 *pt_slot(struct pt *pt, u64 va, int level);
/* The default identity map: UART page (Device-nGnRE), RAM 0x4000_0000..+128 MiB
 * (Normal WB): the block holding the image mapped with level-3 pages, the rest
 * with the largest blocks. */
void pt_identity_default(struct pt *pt);

/* TCR_EL1 for this granule, both halves, 48-bit VA, 40-bit IPS. */
u64 tcr_for(unsigned gshift);
/* Writes MAIR/TCR/TTBR0/TTBR1, invalidates the TLB, sets SCTLR_EL1.{M,C,I}. */
void mmu_enable(u64 mair, u64 tcr, u64 ttbr0, u64 ttbr1);

/* SCTLR_EL1 bits (Arm ARM, SCTLR_EL1 register description). */
#define SCTLR_M (1UL << 0)
#define SCTLR_A (1UL << 1)
#define SCTLR_C (1UL << 2)
#define SCTLR_I (1UL << 12)
#define SCTLR_WXN (1UL << 19)
#define SCTLR_SPAN (1UL << 23)

static inline void tlbi_all(void)
{
	__asm__ volatile("dsb ishst\n tlbi vmalle1is\n dsb ish\n isb" ::: "memory");
}
static inline void tlbi_va(u64 va)
{
	/* TLBI VAAE1IS: all ASIDs, Xt[43:0] = VA[55:12] (Arm ARM, TLBI VAAE1IS instruction description). */
	__asm__ volatile("dsb ishst\n tlbi vaae1is, %0\n dsb ish\n isb" :: "r"((va >> 12) & 0xfffffffffffUL) : "memory");
}

#endif
