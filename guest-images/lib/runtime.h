/*
 * hypemu guest runtime: freestanding helpers shared by every guest.
 *
 * Board: QEMU "virt" memory map (emulator/platform/memmap.ts). Guests are
 * linked at 0x4008_0000, entered at EL1h with the MMU off (lib/start.S).
 */
#ifndef HYPEMU_RUNTIME_H
#define HYPEMU_RUNTIME_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

typedef uint64_t u64;
typedef uint32_t u32;
typedef uint16_t u16;
typedef uint8_t u8;
typedef int64_t s64;

#define UART0_BASE 0x09000000UL   /* PL011 */
#define RAM_BASE 0x40000000UL
#define PASSTHROUGH_BASE 0x0c000000UL /* 64 KiB passthrough-style region (hypemu only) */
#define TRAPDEV_BASE 0x0c010000UL     /* emulated, trapped device page (hypemu only) */

/* hypemu exit convention: hvc #0, x0 = HYPEMU_EXIT, x1 = status. */
#define HYPEMU_EXIT 0xC6000001UL
/* PSCI 0.2 SYSTEM_OFF (Arm DEN0022), the fallback used under QEMU. */
#define PSCI_SYSTEM_OFF 0x84000008UL

#define STR_(x) #x
#define STR(x) STR_(x)

#define read_sysreg(r) ({ u64 __v; __asm__ volatile("mrs %0, " STR(r) : "=r"(__v)); __v; })
#define write_sysreg(v, r) do { u64 __v = (u64)(v); __asm__ volatile("msr " STR(r) ", %x0" :: "rZ"(__v)); } while (0)
#define isb() __asm__ volatile("isb" ::: "memory")
#define dsb(opt) __asm__ volatile("dsb " #opt ::: "memory")

static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)addr = v; }
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }
static inline void mmio_write64(u64 addr, u64 v) { *(volatile u64 *)addr = v; }
static inline u64 mmio_read64(u64 addr) { return *(volatile u64 *)addr; }

/* Console (PL011 data register, polling FR.TXFF). */
void putc(char c);
void puts(const char *s);            /* writes s as is: no newline added */
void puthex(u64 v);                  /* 0x-prefixed, no leading zeros */
void putdec(s64 v);
/* Minimal printf: %s %c %d %u %x %p(u64, 0x-prefixed) %%; "l" for 64-bit d/u/x; width for u/x (zero-padded) and s. */
void printf(const char *fmt, ...);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* Ends the run: hypemu exit hvc, then PSCI SYSTEM_OFF (QEMU). Never returns. */
void exit(u64 status) __attribute__((noreturn));

/* ---- exceptions (lib/vectors.S) ---- */

/* Saved context built by the shared vector table (layout fixed in vectors.S). */
struct frame {
	u64 x[31];     /* x0..x30 */
	u64 sp_el0;
	u64 elr;       /* ELR_EL1: written back before ERET */
	u64 spsr;      /* SPSR_EL1: written back before ERET */
	u64 esr;       /* ESR_EL1 (read only) */
	u64 far;       /* FAR_EL1 (read only) */
};

/* Vector index = offset / 0x80 (Arm ARM D1.10, exception entry: vector offsets). */
enum {
	VEC_CUR_SP0_SYNC = 0, VEC_CUR_SPX_SYNC = 4, VEC_LOWER64_SYNC = 8, VEC_LOWER32_SYNC = 12,
};

extern char vectors_el1[];
static inline void install_vectors(void) { write_sysreg((u64)vectors_el1, vbar_el1); isb(); }

/* Each guest may define this; the default reports and exits with 0xEE. */
void exception_handler(struct frame *f, unsigned vec);
void unexpected_exception(struct frame *f, unsigned vec) __attribute__((noreturn));

/* ESR_ELx fields (Arm ARM, register description ESR_EL1 / ESR_ELx). */
#define ESR_EC(esr) (((esr) >> 26) & 0x3f)
#define ESR_IL (1UL << 25)
#define ESR_ISS(esr) ((esr) & 0x1ffffff)
#define EC_UNKNOWN 0x00
#define EC_SVC64 0x15
#define EC_HVC64 0x16
#define EC_SYS64 0x18
#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define EC_BRK64 0x3c

/* SPSR_EL1 / PSTATE fields (Arm ARM, SPSR_EL1 register description). */
#define SPSR_M_MASK 0x1fUL        /* M[4] = 0: AArch64; M[3:0] = EL and SP */
#define SPSR_EL0t 0x0UL
#define SPSR_EL1h 0x5UL
#define SPSR_DAIF (0xfUL << 6)
#define SPSR_NZCV (0xfUL << 28)

/* ---- EL0 (lib/user.S) ---- */
/* Runs fn at EL0 (SPSR = EL0t, DAIF masked) with x0 = arg and SP_EL0 = sp.
 * Returns when a handler calls return_to_kernel(f, value). */
u64 enter_user(u64 fn, u64 sp, u64 arg);
void return_to_kernel(struct frame *f, u64 value);

/* ---- test reporting ---- */
extern unsigned failures;
void check(const char *name, u64 got, u64 want);   /* PASS name / FAIL name got=... want=... */
void check_bool(const char *name, int ok);
/* Prints a "RESULT" line and exits with the number of failures. */
void finish(const char *guest) __attribute__((noreturn));

static inline unsigned current_el(void) { return (read_sysreg(CurrentEL) >> 2) & 3; }

/* ---- SMP guests ---- */
/* A PSCI call through HVC #0 (Arm DEN0022 5.2 "SMC and HVC calling conventions"): x0 = function ID. */
static inline s64 psci(u64 fn, u64 a1, u64 a2, u64 a3)
{
	register u64 x0 __asm__("x0") = fn;
	register u64 x1 __asm__("x1") = a1;
	register u64 x2 __asm__("x2") = a2;
	register u64 x3 __asm__("x3") = a3;
	__asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
	return (s64)x0;
}

/* This CPU's number: MPIDR_EL1.Aff0 (the board's CPUs are Aff0 = 0..7). */
static inline unsigned cpu_id(void) { return read_sysreg(mpidr_el1) & 0xff; }

#endif
