/* hypemu guest runtime: console, printf, memset/memcpy, test reporting. */
#include "runtime.h"

#define UART_DR 0x00
#define UART_FR 0x18
#define UART_FR_TXFF (1u << 5)   /* PL011 TRM: transmit FIFO full */

void putc(char c)
{
	while (mmio_read32(UART0_BASE + UART_FR) & UART_FR_TXFF)
		;
	mmio_write32(UART0_BASE + UART_DR, (u8)c);
}

void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void put_unsigned(u64 v, unsigned base, int min_digits)
{
	char buf[24];
	int i = 0;
	do {
		unsigned d = v % base;
		buf[i++] = d < 10 ? '0' + d : 'a' + d - 10;
		v /= base;
	} while (v || i < min_digits);
	while (i)
		putc(buf[--i]);
}

void puthex(u64 v)
{
	puts("0x");
	put_unsigned(v, 16, 1);
}

void putdec(s64 v)
{
	if (v < 0) {
		putc('-');
		put_unsigned(-(u64)v, 10, 1);
	} else {
		put_unsigned(v, 10, 1);
	}
}

void printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			putc(*fmt);
			continue;
		}
		fmt++;
		int width = 0;
		if (*fmt == '-')   /* strings are always left-justified */
			fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int is_long = 0;
		while (*fmt == 'l') {
			is_long = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			int n = 0;
			puts(s ? s : "(null)");
			for (; s && s[n]; n++)
				;
			for (; n < width; n++)
				putc(' ');
			break;
		}
		case 'c': putc((char)va_arg(ap, int)); break;
		case 'd': putdec(is_long ? va_arg(ap, s64) : va_arg(ap, int)); break;
		case 'u': put_unsigned(is_long ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, width); break;
		case 'x': put_unsigned(is_long ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, width); break;
		case 'p': puthex(va_arg(ap, u64)); break;
		case '%': putc('%'); break;
		case 0: fmt--; break;
		default: putc('%'); putc(*fmt); break;
		}
	}
	va_end(ap);
}

void *memset(void *d, int c, size_t n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

unsigned failures;

void check(const char *name, u64 got, u64 want)
{
	if (got == want) {
		printf("PASS %s\n", name);
	} else {
		failures++;
		printf("FAIL %s got=%p want=%p\n", name, got, want);
	}
}

void check_bool(const char *name, int ok)
{
	if (ok) {
		printf("PASS %s\n", name);
	} else {
		failures++;
		printf("FAIL %s\n", name);
	}
}

void finish(const char *guest)
{
	printf("RESULT %s: %u failure%s\n", guest, failures, failures == 1 ? "" : "s");
	exit(failures);
}

static const char *const vec_names[16] = {
	"cur-sp0-sync", "cur-sp0-irq", "cur-sp0-fiq", "cur-sp0-serror",
	"cur-spx-sync", "cur-spx-irq", "cur-spx-fiq", "cur-spx-serror",
	"low64-sync", "low64-irq", "low64-fiq", "low64-serror",
	"low32-sync", "low32-irq", "low32-fiq", "low32-serror",
};

void unexpected_exception(struct frame *f, unsigned vec)
{
	printf("FAIL unexpected exception vector=%p (%s) ESR=%p ELR=%p FAR=%p SPSR=%p\n",
	       (u64)vec * 0x80, vec_names[vec & 15], f->esr, f->elr, f->far, f->spsr);
	exit(0xEE);
}

__attribute__((weak)) void exception_handler(struct frame *f, unsigned vec)
{
	unexpected_exception(f, vec);
}

extern char user_return[];

void return_to_kernel(struct frame *f, u64 value)
{
	f->x[0] = value;
	f->elr = (u64)user_return;
	f->spsr = SPSR_DAIF | SPSR_EL1h;
}
