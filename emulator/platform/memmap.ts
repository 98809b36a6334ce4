/**
 * The "virt" board memory map, mirrored from QEMU's hw/arm/virt.c (base_memmap)
 * so that kernels and test suites built for `-M virt` run unchanged.
 * All addresses are guest-physical (IPA) and fit in a double exactly.
 */
export const VIRT = {
  /** Two 64 MiB CFI flash banks (no image: reads as zero; emulator/devices/unclaimed.ts). */
  FLASH: { base: 0x0000_0000, size: 0x0800_0000 },
  GIC_DIST: { base: 0x0800_0000, size: 0x1_0000 },
  /** GICv2 CPU interface (--gic v2); GICv3 has none in memory. */
  GIC_CPU: { base: 0x0801_0000, size: 0x1_0000 },
  /** GICv3 ITS: control frame + translation frame (GITS_TRANSLATER at +0x10040). */
  GIC_ITS: { base: 0x0808_0000, size: 0x2_0000 },
  GIC_REDIST: { base: 0x080a_0000, size: 0xf6_0000 },
  UART0: { base: 0x0900_0000, size: 0x1000 },
  RTC: { base: 0x0901_0000, size: 0x1000 },
  VIRTIO_MMIO: { base: 0x0a00_0000, size: 0x200 * 32 },
  /**
   * QEMU puts dynamically instantiated sysbus devices (VFIO platform
   * passthrough among them) here. hypemu uses its first 64 KiB for a
   * passthrough-style region that the hypervisor maps in stage 2 (seed 001),
   * and the next page for an emulated device that stays unmapped and traps.
   */
  PLATFORM_BUS: { base: 0x0c00_0000, size: 0x200_0000 },
  PASSTHROUGH: { base: 0x0c00_0000, size: 0x1_0000 },
  TRAPDEV: { base: 0x0c01_0000, size: 0x1000 },
  PCIE_MMIO: { base: 0x1000_0000, size: 0x2eff_0000 },
  PCIE_PIO: { base: 0x3eff_0000, size: 0x1_0000 },
  PCIE_ECAM: { base: 0x3f00_0000, size: 0x100_0000 },
  RAM: { base: 0x4000_0000 },
  /** The 64-bit PCIe MMIO window (QEMU's VIRT_HIGH_PCIE_MMIO, highmem on). */
  HIGH_PCIE_MMIO: { base: 0x80_0000_0000, size: 0x80_0000_0000 },
} as const;

/** Default guest RAM size (bytes). */
export const DEFAULT_RAM_SIZE = 256 * 1024 * 1024;
/** Default load address of a raw binary: RAM base + 512 KiB, as QEMU virt's bootloader uses for kernels. */
export const DEFAULT_LOAD_ADDR = 0x4008_0000;
