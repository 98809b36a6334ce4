/*
 * boot-dtb: a raw image is entered with x0 = the device tree's physical address, as QEMU's
 * hw/arm/boot.c does for a raw arm64 `-kernel` binary (it boots it like a Linux Image:
 * Documentation/arch/arm64/booting.rst, "x0 = physical address of device tree blob").
 * kvm-unit-tests' .flat binaries depend on it. Run as the .bin with
 * `--append "hypemu boot-dtb"` (QEMU: -append): checks the FDT header (devicetree spec 5.2)
 * and that /chosen/bootargs carries the command line.
 */
#include "runtime.h"

extern u64 boot_x0; /* x0 at entry, saved by boot-dtb-entry.S */

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define FDT_END 9

static u32 be32(const void *p)
{
	const unsigned char *b = p;
	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b) a++, b++;
	return *a == *b;
}

static u32 slen(const char *s)
{
	u32 n = 0;
	while (s[n]) n++;
	return n;
}

/* The value of property `prop` of the node at depth 1 named `node`, or 0. */
static const char *find_prop(const unsigned char *fdt, const char *node, const char *prop)
{
	const unsigned char *p = fdt + be32(fdt + 8);
	const char *strings = (const char *)fdt + be32(fdt + 12);
	int depth = 0, in_node = 0;
	for (int guard = 0; guard < 100000; guard++) {
		u32 tok = be32(p);
		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			depth++;
			if (depth == 2) in_node = streq(name, node);
			p += (slen(name) + 4) & ~3u;
		} else if (tok == FDT_END_NODE) {
			if (depth == 2) in_node = 0;
			depth--;
		} else if (tok == FDT_PROP) {
			u32 len = be32(p), nameoff = be32(p + 4);
			const char *val = (const char *)p + 8;
			if (in_node && depth == 2 && streq(strings + nameoff, prop)) return val;
			p += 8 + ((len + 3) & ~3u);
		} else if (tok != FDT_NOP) {
			return 0; /* FDT_END or garbage */
		}
	}
	return 0;
}

int main(void)
{
	u64 dtb = boot_x0;
	printf("x0 at entry: %p\n", dtb);
	check_bool("x0 is non-zero and 8-byte aligned", dtb != 0 && (dtb & 7) == 0);
	check_bool("x0 is in RAM (>= 0x40000000)", dtb >= 0x40000000UL);
	if (failures) finish(GUEST_NAME);
	const unsigned char *fdt = (const unsigned char *)dtb;
	check("FDT magic", be32(fdt), FDT_MAGIC);
	check_bool("FDT totalsize <= 2 MiB (booting.rst)", be32(fdt + 4) <= 2u * 1024 * 1024);
	check_bool("FDT version >= 16", be32(fdt + 20) >= 16);
	if (failures) finish(GUEST_NAME);
	const char *args = find_prop(fdt, "chosen", "bootargs");
	check_bool("/chosen/bootargs present", args != 0);
	if (args) {
		printf("bootargs: %s\n", args);
		check_bool("/chosen/bootargs is the command line", streq(args, "hypemu boot-dtb"));
	}
	finish(GUEST_NAME);
}
