/*
 * What the SMP guests share (smp-ipi, smp-spin, smp-code, its-lpi; src/smp.c, linked into each):
 *  - PSCI CPU power management (Arm DEN0022 5.1.3 CPU_OFF, 5.1.4 CPU_ON, 5.1.5 AFFINITY_INFO);
 *  - the secondaries' entry point for CPU_ON: interrupts masked, SP_EL1 selected, its own 8 KiB
 *    stack by MPIDR_EL1.Aff0 (never shared, whatever context id CPU_ON passed), then the guest's
 *    secondary_main(context id, CurrentEL, SCTLR_EL1 as found at entry);
 *  - one identity map (4 KiB granule) every CPU turns its MMU on with, and the GICv3 frames in it.
 */
#ifndef HYPEMU_SMP_H
#define HYPEMU_SMP_H
#include "runtime.h"
#include "mmu.h"
#include "gicv3.h"

#define MAX_CPUS 8

#define PSCI_CPU_ON 0xc4000003UL
#define PSCI_CPU_OFF 0x84000002UL
#define PSCI_AFFINITY_INFO 0xc4000004UL
#define PSCI_SUCCESS 0
#define PSCI_INVALID_PARAMETERS (-2)
#define PSCI_ALREADY_ON (-4)
#define PSCI_AFFINITY_OFF 1

/* The entry point to pass to CPU_ON; it calls the guest's secondary_main. */
void secondary_entry(void);
void secondary_main(u64 ctx, u64 el, u64 sctlr);

/* The shared stage-1 tables: an identity map of the image (pt_identity_default) and its TCR. */
extern struct pt smp_pt;
void smp_tables_init(void);
/* Map GICD and the redistributor frames of MAX_CPUS CPUs (device memory). */
void smp_map_gic(void);
/* This CPU's MMU on with the shared tables (the boot CPU after building them, each secondary). */
void smp_mmu_on(void);

/*
 * A secondary's start in secondary_main: its vectors, its MMU on with the shared tables and, with
 * `gic_init`, its GIC set up (gic_init(its CPU number)) and IRQs unmasked. Returns its CPU number.
 */
unsigned smp_secondary_start(void (*gic_init)(unsigned cpu));

/* This CPU off (IRQs masked first): PSCI CPU_OFF does not return. */
void smp_cpu_off(void) __attribute__((noreturn));
/* AFFINITY_INFO of `cpu` polled until it is OFF, at most `tries` times: the last answer. */
s64 smp_wait_off(unsigned cpu, u64 tries);

#endif
