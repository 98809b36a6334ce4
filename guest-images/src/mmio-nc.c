/*
 * mmio-nc (hypemu only): device memory through stage 1 and stage 2.
 *   0x0c00_0000, 64 KiB: the passthrough-style region the hypervisor maps
 *     in stage 2 (seed 001); the guest maps it Device-nGnRE at stage 1
 *     (MAIR 0x04, AttrIndx 1), writes a pattern and reads it back.
 *   0x0c01_0000: an emulated device page that stays unmapped in stage 2, so
 *     every access traps to the hypervisor; a few 32-bit loads and stores.
 * Under QEMU -M virt both ranges are unassigned (external aborts): this
 * guest is not part of the QEMU comparison. Any abort is reported and
 * skipped. Exit status = aborts + pattern mismatches (0 under hypemu).
 */
#include "mmu.h"

#define G 4096UL

static u8 pool[16 * G] __attribute__((aligned(G)));
static struct pt pt;
static volatile unsigned aborts;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec != VEC_CUR_SPX_SYNC || ESR_EC(f->esr) != EC_DABT_CUR)
		unexpected_exception(f, vec);
	if (++aborts > 4) {   /* report the first few only */
		f->elr += 4;
		return;
	}
	printf("ABORT data abort at %p (ESR_EL1=%p, DFSC=%lx), skipping the access\n", f->far, f->esr,
	       f->esr & 0x3f);
	f->elr += 4;
}

int main(void)
{
	puts("mmio-nc: Device-nGnRE mapping of the passthrough region, trapped device page\n");
	install_vectors();
	pt_init(&pt, 12, pool, sizeof pool);
	pt_identity_default(&pt);
	pt_map(&pt, PASSTHROUGH_BASE, PASSTHROUGH_BASE, 0x10000, PROT_DEVICE, 3);
	pt_map(&pt, TRAPDEV_BASE, TRAPDEV_BASE, G, PROT_DEVICE, 3);
	mmu_enable(DEFAULT_MAIR, tcr_for(12) | (1UL << 23), (u64)pt.root, 0);
	printf("mapped %p (64 KiB) and %p (4 KiB) as Device-nGnRE (MAIR_EL1=%p)\n",
	       PASSTHROUGH_BASE, TRAPDEV_BASE, read_sysreg(mair_el1));

	/* pattern: first and last words of every 4 KiB page of the region */
	unsigned bad = 0, n = 0;
	for (u64 off = 0; off < 0x10000; off += G) {
		mmio_write32(PASSTHROUGH_BASE + off, 0xa5000000u | (u32)off);
		mmio_write32(PASSTHROUGH_BASE + off + G - 4, 0x5a000000u | (u32)off);
	}
	for (u64 off = 0; off < 0x10000; off += G) {
		bad += mmio_read32(PASSTHROUGH_BASE + off) != (0xa5000000u | (u32)off);
		bad += mmio_read32(PASSTHROUGH_BASE + off + G - 4) != (0x5a000000u | (u32)off);
		n += 2;
	}
	mmio_write64(PASSTHROUGH_BASE + 0x100, 0x0123456789abcdefUL);
	bad += mmio_read64(PASSTHROUGH_BASE + 0x100) != 0x0123456789abcdefUL;
	n++;
	printf("passthrough region: %u/%u words read back\n", n - bad, n);

	u32 r0 = mmio_read32(TRAPDEV_BASE);
	printf("trapped device: read32 [+0x0] = %p\n", (u64)r0);
	mmio_write32(TRAPDEV_BASE + 4, 0xcafef00d);
	puts("trapped device: write32 [+0x4] <- 0xcafef00d\n");
	u32 r1 = mmio_read32(TRAPDEV_BASE + 4);
	printf("trapped device: read32 [+0x4] = %p\n", (u64)r1);
	mmio_write32(TRAPDEV_BASE + 8, 0x1);
	puts("trapped device: write32 [+0x8] <- 0x1\n");
	printf("RESULT %s: %u mismatches, %u aborts\n", GUEST_NAME, bad, aborts);
	exit(bad + aborts);
}
