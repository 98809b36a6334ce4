/*
 * uart-wait: a guest idle in WFI waiting for console input, as a shell prompt is (issue 10, "Idle").
 * The PL011's receive interrupts (UARTIMSC.RXIM/RTIM, PL011 TRM DDI0183 3.3.12; SPI 1 = INTID 33
 * on QEMU virt) are enabled through the GICv3 distributor (GICD_IROUTER to CPU 0, Arm IHI0069),
 * the UART is programmed as a driver's open does (UARTCR: UARTEN, TXE, RXE, DTR, RTS), and the CPU
 * waits in WFI with IRQs unmasked. Each received character is echoed as "got 'c'"; 't' also arms
 * the virtual timer (PPI 27) every 10 ms, so the guest is then idle with a timer armed, waiting
 * for input; 'q' ends the run (exit 0) after printing how many characters came.
 */
#include "runtime.h"
#include "gicv3.h"

#define TIMER_PPI 27
#define UART_SPI 33
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_CR 0x30
#define UART_IMSC 0x38
#define UART_ICR 0x44
#define FR_RXFE (1u << 4)
#define INT_RX (1u << 4)
#define INT_RT (1u << 6)
#define CR_UARTEN (1u << 0)
#define CR_TXE (1u << 8)
#define CR_RXE (1u << 9)
#define CR_DTR (1u << 10)
#define CR_RTS (1u << 11)

static volatile u32 received;
static volatile int quit;
static volatile u64 ticks;
static u64 period;

static void uart_rx(void)
{
	while (!(mmio_read32(UART0_BASE + UART_FR) & FR_RXFE)) {
		char c = (char)mmio_read32(UART0_BASE + UART_DR);
		received++;
		if (c == '\n' || c == '\r')
			continue;
		printf("got '%c'\n", c);
		if (c == 'q')
			quit = 1;
		if (c == 't') {
			write_sysreg(period, cntv_tval_el0);
			write_sysreg(1, cntv_ctl_el0); /* ENABLE, IMASK clear */
			isb();
			puts("timer armed: 10 ms\n");
		}
	}
	mmio_write32(UART0_BASE + UART_ICR, INT_RX | INT_RT);
}

void exception_handler(struct frame *f, unsigned vec)
{
	if (vec == 5) { /* IRQ, current EL with SPx */
		u64 iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
		u32 intid = iar & 0xffffff;
		if (intid == TIMER_PPI) {
			ticks++;
			write_sysreg(period, cntv_tval_el0);
		} else if (intid == UART_SPI) {
			uart_rx();
		}
		write_sysreg(iar, S3_0_C12_C12_1); /* ICC_EOIR1_EL1 */
		return;
	}
	unexpected_exception(f, vec);
}

static void gicv3_enable_spi(unsigned intid)
{
	mmio_write32(GICD + 0x80 + 4 * (intid / 32), 1u << (intid % 32));  /* GICD_IGROUPRn: group 1 */
	mmio_write32(GICD + 0x400 + (intid & ~3u), 0x80u << (8 * (intid & 3))); /* GICD_IPRIORITYRn */
	mmio_write32(GICD + 0x6000 + 8 * intid, 0);                       /* GICD_IROUTERn: affinity 0.0.0.0 */
	mmio_write32(GICD + 0x6000 + 8 * intid + 4, 0);
	mmio_write32(GICD + 0x100 + 4 * (intid / 32), 1u << (intid % 32)); /* GICD_ISENABLERn */
}

int main(void)
{
	install_vectors();
	gicv3_enable_ppi(TIMER_PPI); /* also the distributor and the CPU interface */
	gicv3_enable_spi(UART_SPI);
	period = read_sysreg(cntfrq_el0) / 100; /* 10 ms */
	mmio_write32(UART0_BASE + UART_CR, CR_UARTEN | CR_TXE | CR_RXE | CR_DTR | CR_RTS);
	mmio_write32(UART0_BASE + UART_IMSC, INT_RX | INT_RT);
	puts("uart-wait: ready\n");
	__asm__ volatile("msr daifclr, #2" ::: "memory");
	while (!quit)
		__asm__ volatile("wfi");
	__asm__ volatile("msr daifset, #2" ::: "memory");
	write_sysreg(0, cntv_ctl_el0);
	printf("uart-wait: %u characters\n", received);
	return 0;
}
