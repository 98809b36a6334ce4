/*
 * its-lpi: MSIs through the GICv3 ITS become LPIs on 2-8 CPUs (hypemu --smp N; QEMU -M
 * virt,gic-version=3 -smp 4). Arm IHI0069 (GICv3/v4):
 *  - 5.1 LPIs: GICD_TYPER.LPIS, GICR_TYPER.PLPIS; each Redistributor gets GICR_PROPBASER (the LPI
 *    Configuration table, shared: one byte per LPI, priority + enable) and GICR_PENDBASER (its own
 *    LPI Pending table) and GICR_CTLR.EnableLPIs; ICC_IAR1_EL1 returns INTIDs >= 8192;
 *  - 5.2 the ITS: GITS_TYPER, the Device and Collection tables through GITS_BASER<n> (found by
 *    Type; flat, one 64 KiB page each), the command queue (GITS_CBASER/CWRITER/CREADR), GITS_CTLR;
 *  - 5.3 commands MAPD, MAPC, MAPTI, MAPI, INT, INV, INVALL, CLEAR, DISCARD, MOVI, MOVALL, SYNC;
 *  - MSIs: a CPU store of an EventID to GITS_TRANSLATER (ITS + 0x10040). Without PCI the store
 *    carries DeviceID 0 (QEMU: the CPU's MemTxAttrs.requester_id), so device 0 is the CPUs'.
 * Each CPU counts the LPIs it takes; only CPU 0 prints, so the output is the same under QEMU.
 */
#include "smp.h"

#define ITS 0x08080000UL

#define GITS_CTLR 0x0
#define GITS_TYPER 0x8
#define GITS_CBASER 0x80
#define GITS_CWRITER 0x88
#define GITS_CREADR 0x90
#define GITS_BASER 0x100
#define GITS_TRANSLATER 0x10040

#define LPI(n) (8192 + (n))
#define NLPI 64        /* LPIs 8192..8255 are the ones used */
#define ID_BITS 14     /* GICR_PROPBASER.IDbits = 13: INTIDs up to 16383 */
#define PROP_DEFAULT 0xa2 /* priority 0xa0, bit 1 RES1 */

static u8 prop_table[(1 << ID_BITS) - 8192] __attribute__((aligned(4096))); /* one byte per LPI */
static u8 pend_tables[MAX_CPUS][64 * 1024] __attribute__((aligned(65536)));
static u8 device_table[64 * 1024] __attribute__((aligned(65536)));
static u8 coll_table[64 * 1024] __attribute__((aligned(65536)));
static u64 cmdq[4096 / 8] __attribute__((aligned(65536))); /* one 4 KiB page: 128 commands */
static u8 itts[2][4096] __attribute__((aligned(4096)));
static u8 big_itt[128 * 1024] __attribute__((aligned(4096))); /* 2^14 events: MAPI's EventIDs are LPI INTIDs */

static volatile u32 online[MAX_CPUS];
static volatile u32 done;
static volatile u32 got[MAX_CPUS][NLPI];
static volatile u32 other[MAX_CPUS]; /* interrupts that were not our LPIs */
static unsigned ncpu, cmd_wr, pta;

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 5) {
		u64 iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
		unsigned id = iar & 0xffffff, me = cpu_id();
		if (id == 1023)
			return;
		if (id >= LPI(0) && id < LPI(NLPI))
			got[me][id - LPI(0)]++;
		else
			other[me]++;
		write_sysreg(iar, S3_0_C12_C12_1); /* ICC_EOIR1_EL1: priority drop (LPIs have no active state) */
		return;
	}
	unexpected_exception(f, vec);
}

/* SGIs group 1 and enabled (SGI 0 wakes a secondary at the end), their priorities as they reset. */
static void gic_cpu_init(unsigned cpu) { gicv3_cpu_init(cpu, 0xffff, 0); }

/* One command into the queue; wait until GITS_CREADR has passed it (5.3 "The ITS command queue"). */
static void its_cmd(u64 d0, u64 d1, u64 d2, u64 d3)
{
	u64 *c = &cmdq[cmd_wr * 4];
	c[0] = d0, c[1] = d1, c[2] = d2, c[3] = d3;
	dsb(ishst);
	cmd_wr = (cmd_wr + 1) % (sizeof cmdq / 32);
	mmio_write64(ITS + GITS_CWRITER, cmd_wr * 32);
	for (u64 i = 0; i < 10000000UL; i++)
		if ((mmio_read64(ITS + GITS_CREADR) & ~1UL) == cmd_wr * 32)
			return;
	printf("FAIL command 0x%x not consumed (GITS_CREADR 0x%lx)\n", (unsigned)(d0 & 0xff), mmio_read64(ITS + GITS_CREADR));
	failures++;
}

/* RDbase of a Redistributor: its processor number (GITS_TYPER.PTA = 0) or its frame's address. */
static u64 rdbase(unsigned cpu)
{
	return pta ? (GICR + GICR_STRIDE * cpu) : ((u64)cpu << 16);
}

#define DEVID(d) ((u64)(d) << 32)
static void mapd(unsigned dev, unsigned bits, u8 *itt, int valid) { its_cmd(0x08 | DEVID(dev), bits - 1, (u64)itt | ((u64)valid << 63), 0); }
static void mapc(unsigned icid, unsigned cpu) { its_cmd(0x09, 0, icid | rdbase(cpu) | (1UL << 63), 0); }
static void mapti(unsigned dev, unsigned ev, unsigned lpi, unsigned icid) { its_cmd(0x0a | DEVID(dev), ev | ((u64)lpi << 32), icid, 0); }
static void mapi(unsigned dev, unsigned ev, unsigned icid) { its_cmd(0x0b | DEVID(dev), ev, icid, 0); }
static void ev_cmd(unsigned op, unsigned dev, unsigned ev) { its_cmd(op | DEVID(dev), ev, 0, 0); }
static void invall(unsigned icid) { its_cmd(0x0d, 0, icid, 0); }
static void movi(unsigned dev, unsigned ev, unsigned icid) { its_cmd(0x01 | DEVID(dev), ev, icid, 0); }
static void movall(unsigned from, unsigned to) { its_cmd(0x0e, 0, rdbase(from), rdbase(to)); }
static void sync_cmd(unsigned cpu) { its_cmd(0x05, 0, rdbase(cpu), 0); }
#define INT 0x03
#define CLEAR 0x04
#define INV 0x0c
#define DISCARD 0x0f

static void msi(u32 event)
{
	dsb(ishst);
	mmio_write32(ITS + GITS_TRANSLATER, event);
	dsb(ish);
}

static u32 total(unsigned lpi)
{
	u32 n = 0;
	for (unsigned c = 0; c < ncpu; c++) n += got[c][lpi];
	return n;
}

/* Wait until `lpi` has been taken `want` times in all (or give up). */
static void settle(unsigned lpi, u32 want)
{
	for (u64 i = 0; i < 50000000UL; i++)
		if (total(lpi) >= want)
			break;
}

/* Long enough for an LPI that would come to have come (the other CPUs run meanwhile). */
static void quiet(void)
{
	for (volatile u64 i = 0; i < 200000UL; i++)
		;
}

/* Where LPI(lpi) was taken: CPU c * 16 + count, or 0xff when nowhere. */
static u64 where(unsigned lpi)
{
	for (unsigned c = 0; c < ncpu; c++)
		if (got[c][lpi]) return c * 16 + got[c][lpi];
	return 0xff;
}

void secondary_main(u64 ctx, u64 el, u64 sctlr)
{
	unsigned me = smp_secondary_start(gic_cpu_init);
	dsb(ish);
	online[me] = 1;
	while (!done)
		__asm__ volatile("wfi");
	smp_cpu_off();
}

/* GITS_BASER<n> of a table type (5.2 "ITS tables": 1 Device, 4 Collection); -1 if none. */
static int find_baser(unsigned type)
{
	for (int n = 0; n < 8; n++)
		if (((mmio_read64(ITS + GITS_BASER + 8 * n) >> 56) & 7) == type) return n;
	return -1;
}

static void setup_baser(int n, u8 *table)
{
	u64 v = mmio_read64(ITS + GITS_BASER + 8 * n);
	/* One 64 KiB page (Size 0), flat; Page_Size is 64 KiB on QEMU and hypemu (read-only). */
	v = (v & ~((1UL << 48) - 1)) | (v & (3UL << 8)) | (u64)table | (1UL << 63);
	mmio_write64(ITS + GITS_BASER + 8 * n, v);
}

/* CPU 0's MMU (the image, GICD, the ITS, every Redistributor) and GIC on; the GIC has LPIs. */
static void boot_cpu_init(void)
{
	install_vectors();
	smp_tables_init();
	smp_map_gic();
	pt_map_auto(&smp_pt, ITS, ITS, 0x20000, PROT_DEVICE, 3);
	smp_mmu_on();
	gicv3_dist_on();
	gic_cpu_init(0);
	u32 typer = mmio_read32(GICD + 0x4);
	check("GICD_TYPER.LPIS", (typer >> 17) & 1, 1);
	check_bool("GICD_TYPER.IDbits >= 13", ((typer >> 19) & 0x1f) >= ID_BITS - 1);
}

/* CPU_ON for every CPU the board has: ncpu of them online. */
static void start_secondaries(void)
{
	ncpu = 1;
	while (ncpu < MAX_CPUS && psci(PSCI_CPU_ON, ncpu, (u64)secondary_entry, 0) == 0) {
		for (u64 i = 0; i < 200000000UL && !online[ncpu]; i++)
			;
		check("secondary online", online[ncpu], 1);
		ncpu++;
	}
	check_bool("at least 2 CPUs", ncpu >= 2);
}

/* LPI tables (5.1.1, 5.1.2): one configuration table, one pending table per Redistributor. */
static void lpi_tables_init(void)
{
	for (unsigned l = 0; l < NLPI; l++) prop_table[l] = PROP_DEFAULT | 1;
	dsb(ish);
	for (unsigned c = 0; c < ncpu; c++) {
		u64 rd = GICR + GICR_STRIDE * c;
		check("GICR_TYPER.PLPIS", mmio_read64(rd + 0x8) & 1, 1);
		mmio_write64(rd + 0x70, (u64)prop_table | (ID_BITS - 1)); /* GICR_PROPBASER */
		mmio_write64(rd + 0x78, (u64)pend_tables[c]);             /* GICR_PENDBASER */
		mmio_write32(rd + 0x0, 1);                                /* GICR_CTLR.EnableLPIs */
		check("GICR_CTLR.EnableLPIs", mmio_read32(rd + 0x0) & 1, 1);
	}
}

/* The ITS (5.2): tables, command queue, enable. */
static void its_init(void)
{
	u64 gt = mmio_read64(ITS + GITS_TYPER);
	check("GITS_TYPER.Physical", gt & 1, 1);
	check_bool("GITS_TYPER: 16 DeviceID and EventID bits", ((gt >> 13) & 0x1f) == 15 && ((gt >> 8) & 0x1f) == 15);
	check_bool("ITT entries fit the ITT pages (256 events)", (((gt >> 4) & 0xf) + 1) * 256 <= sizeof itts[0]);
	pta = (gt >> 19) & 1;
	int bd = find_baser(1), bc = find_baser(4);
	check_bool("a Device table BASER and a Collection table BASER", bd >= 0 && bc >= 0);
	check("GITS_BASER<dev>.Page_Size is 64 KiB", (mmio_read64(ITS + GITS_BASER + 8 * bd) >> 8) & 3, 2);
	setup_baser(bd, device_table);
	setup_baser(bc, coll_table);
	check("GITS_BASER<dev>.Valid", mmio_read64(ITS + GITS_BASER + 8 * bd) >> 63, 1);
	mmio_write64(ITS + GITS_CBASER, (u64)cmdq | 0 /* one 4 KiB page */ | (1UL << 63));
	mmio_write64(ITS + GITS_CWRITER, 0);
	check("GITS_CREADR is 0 after GITS_CBASER", mmio_read64(ITS + GITS_CREADR), 0);
	mmio_write32(ITS + GITS_CTLR, 1);
	check("GITS_CTLR.Enabled", mmio_read32(ITS + GITS_CTLR) & 1, 1);
}

/* Device 0 (the CPUs' MSIs) with 256 events, device 1 with 32; collection c -> CPU c. */
static void its_map(void)
{
	mapd(0, 8, itts[0], 1);
	mapd(1, 5, itts[1], 1);
	for (unsigned c = 0; c < ncpu; c++) mapc(c, c);
	for (unsigned e = 0; e < 16; e++) mapti(0, e, LPI(e), e % ncpu);
	mapti(1, 3, LPI(40), 1);
	invall(0);
	sync_cmd(0);
}

/* MSIs through GITS_TRANSLATER, and INT. */
static void check_translation(void)
{
	/* Event e lands on CPU e % N, once. */
	for (unsigned e = 0; e < 8; e++) {
		msi(e);
		settle(e, 1);
	}
	for (unsigned e = 0; e < 8; e++) check("MSI (dev 0, event e) taken once by CPU e % N", where(e), (e % ncpu) * 16 + 1);
	msi(200); /* mapped device, unmapped event: dropped */
	msi(300); /* beyond the device's 256 events: dropped */
	quiet();
	/* INT: as if device 1 had sent event 3. */
	ev_cmd(INT, 1, 3);
	settle(40, 1);
	check("INT (dev 1, event 3) -> LPI 8232 on CPU 1", where(40), 1 * 16 + 1);
}

/* The configuration table and the commands that reread it (INV, INVALL) or drop a pending LPI (CLEAR). */
static void check_configuration(void)
{
	/* Disabled in the configuration table + INV: not delivered; enabled + INV: delivered once. */
	prop_table[9] = PROP_DEFAULT;
	dsb(ish);
	ev_cmd(INV, 0, 9);
	msi(9);
	quiet();
	check("disabled LPI not taken", total(9), 0);
	prop_table[9] = PROP_DEFAULT | 1;
	dsb(ish);
	ev_cmd(INV, 0, 9);
	settle(9, 1);
	check("re-enabled LPI taken once after INV", where(9), (9 % ncpu) * 16 + 1);

	/* CLEAR removes a pending (disabled) LPI: nothing when it is enabled again. */
	prop_table[10] = PROP_DEFAULT;
	dsb(ish);
	invall(10 % ncpu);
	msi(10);
	ev_cmd(CLEAR, 0, 10);
	prop_table[10] = PROP_DEFAULT | 1;
	dsb(ish);
	invall(10 % ncpu);
	quiet();
	check("cleared LPI not taken", total(10), 0);
}

/* MOVI and MOVALL: an event, and everything pending on a Redistributor, to another CPU. */
static void check_moves(void)
{
	/* MOVI: event 11 to collection (11 + 1) % N, its next MSI lands there. */
	movi(0, 11, (11 + 1) % ncpu);
	msi(11);
	settle(11, 1);
	check("MOVI: MSI lands on the new collection's CPU", where(11), ((11 + 1) % ncpu) * 16 + 1);

	/* MOVALL: with CPU 0's IRQs masked, its pending LPIs move to CPU 1 and are taken there. */
	__asm__ volatile("msr daifset, #2" ::: "memory");
	msi(12 - 12 % ncpu); /* an event of collection 0 */
	unsigned e0 = 12 - 12 % ncpu;
	movall(0, 1);
	settle(e0, 1);
	__asm__ volatile("msr daifclr, #2" ::: "memory");
	quiet();
	check("MOVALL: CPU 0's pending LPI taken by CPU 1 only", where(e0), 1 * 16 + 1);
}

/* DISCARD, MAPI and MAPD V=0: mappings removed and made. */
static void check_unmapping(void)
{
	/* DISCARD: the mapping is gone. MAPI: pINTID = EventID (LPI 8192 + 48 for event 8240). */
	ev_cmd(DISCARD, 0, 13);
	msi(13);
	quiet();
	check("DISCARD: no LPI", total(13), 0);
	mapd(2, 14, big_itt, 1);
	mapi(2, LPI(48), 0);
	ev_cmd(INT, 2, LPI(48));
	settle(48, 1);
	check("MAPI: event 8240 -> LPI 8240 on CPU 0", where(48), 0 * 16 + 1);

	/* MAPD V=0: device 0 unmapped, its MSIs dropped. */
	mapd(0, 8, itts[0], 0);
	msi(1);
	quiet();
	check("MAPD V=0: no LPI", total(1), 1);
}

/* The secondaries woken (SGI 0) to see `done` and CPU_OFF, until AFFINITY_INFO says so. */
static void stop_secondaries(void)
{
	done = 1;
	dsb(ish);
	for (unsigned c = 1; c < ncpu; c++)
		write_sysreg((1UL << c), S3_0_C12_C11_5); /* SGI 0 */
	isb();
	for (unsigned c = 1; c < ncpu; c++) check("secondary OFF at the end", smp_wait_off(c, 20000000UL), PSCI_AFFINITY_OFF);
}

int main(void)
{
	boot_cpu_init();
	start_secondaries();
	lpi_tables_init();
	its_init();
	__asm__ volatile("msr daifclr, #2" ::: "memory");
	its_map();
	check_translation();
	check_configuration();
	check_moves();
	check_unmapping();

	unsigned others = 0;
	for (unsigned c = 0; c < ncpu; c++) others += other[c];
	check("no other interrupt", others, 0);

	stop_secondaries();
	__asm__ volatile("msr daifset, #2" ::: "memory");
	printf("%u CPUs\n", ncpu);
	finish("its-lpi");
}
