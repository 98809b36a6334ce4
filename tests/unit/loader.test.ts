/**
 * Image loaders: raw, ELF64 (System V gABI; IHI0056 EM_AARCH64 = 183) and arm64 Linux Image
 * (Documentation/arch/arm64/booting.rst), plus initrd/DTB placement and boot registers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  DTB_MAX_SIZE, ImageError, type LoadOptions, linuxBootRegisters, loadImage, writeSegments,
} from '../../emulator/platform/loader.js';
import { parseFdt, findNode, propU32s } from '../../emulator/platform/dtb.js';
import { buildVirtDtb } from '../../emulator/platform/virt-dt.js';

const RAM = { base: 0x4000_0000, size: 0x1000_0000 };
const MiB = 1 << 20;

/** Expect an ImageError whose message is one line starting with the file name. */
function rejects(fn: () => unknown, file: string, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ImageError);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${file}: `)).toBe(true);
  expect(msg).not.toContain('\n');
  expect(msg).toMatch(re);
}

// --- ELF fixture builder (ELF-64 Object File Format: Ehdr 64 bytes, Phdr 56 bytes) -------

interface Ph { type?: number; offset: number; vaddr: number | bigint; paddr?: number; filesz: number; memsz: number; flags?: number }
interface ElfSpec { cls?: number; data?: number; type?: number; machine?: number; entry: number | bigint; phdrs: Ph[]; size?: number; phentsize?: number }

function makeElf(spec: ElfSpec): Uint8Array {
  const phoff = 64;
  const phentsize = spec.phentsize ?? 56;
  const end = Math.max(phoff + spec.phdrs.length * phentsize, ...spec.phdrs.map((p) => p.offset + p.filesz));
  const b = new Uint8Array(spec.size ?? end);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, spec.cls ?? 2, spec.data ?? 1, 1]);
  dv.setUint16(16, spec.type ?? 2, true);
  dv.setUint16(18, spec.machine ?? 183, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, BigInt(spec.entry), true);
  dv.setBigUint64(32, BigInt(phoff), true);
  dv.setUint16(52, 64, true);
  dv.setUint16(54, phentsize, true);
  dv.setUint16(56, spec.phdrs.length, true);
  spec.phdrs.forEach((p, i) => {
    const o = phoff + i * phentsize;
    if (o + 56 > b.length) return;
    dv.setUint32(o, p.type ?? 1, true);
    dv.setUint32(o + 4, p.flags ?? 5, true);
    dv.setBigUint64(o + 8, BigInt(p.offset), true);
    dv.setBigUint64(o + 16, BigInt(p.vaddr), true);
    dv.setBigUint64(o + 24, BigInt(p.paddr ?? p.vaddr), true);
    dv.setBigUint64(o + 32, BigInt(p.filesz), true);
    dv.setBigUint64(o + 40, BigInt(p.memsz), true);
    for (let k = 0; k < p.filesz && p.offset + k < b.length; k++) b[p.offset + k] = (i * 16 + k) & 0xff;
  });
  return b;
}

const goodElf = (): Uint8Array =>
  makeElf({
    entry: 0x4008_0010,
    phdrs: [
      { offset: 0x1000, vaddr: 0x4008_0000, filesz: 0x100, memsz: 0x100 },
      { offset: 0x1100, vaddr: 0x4009_0000, filesz: 0x10, memsz: 0x2000 }, // .data + .bss
      { type: 4, offset: 0, vaddr: 0, filesz: 0, memsz: 0 }, // PT_NOTE, ignored
    ],
  });

// --- arm64 Image fixture (booting.rst header) ----------------------------------------------

function makeLinux(opts: { textOffset?: number; imageSize?: number; flags?: number; length?: number } = {}): Uint8Array {
  const b = new Uint8Array(opts.length ?? 0x10000);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x1400_0010, true); // b +0x40 (code0)
  dv.setBigUint64(8, BigInt(opts.textOffset ?? 0), true);
  dv.setBigUint64(16, BigInt(opts.imageSize ?? 0x20000), true);
  dv.setBigUint64(24, BigInt(opts.flags ?? 0b1010), true); // 4K pages, placement anywhere
  dv.setUint32(0x38, 0x644d_5241, true);
  return b;
}

describe('raw images', () => {
  it('load at DEFAULT_LOAD_ADDR and enter there', () => {
    const img = loadImage('fw.bin', new Uint8Array([1, 2, 3, 4]), { ram: RAM });
    expect(img.format).toBe('raw');
    expect(img.segments).toEqual([{ addr: 0x4008_0000, data: new Uint8Array([1, 2, 3, 4]), memSize: 4 }]);
    expect(img.entry).toBe(0x4008_0000);
    expect(img.kernelEnd).toBe(0x4008_0004);
    expect(img.dtbAddr).toBeUndefined();
  });
  it('honour loadAddr and entry', () => {
    const img = loadImage('fw.bin', new Uint8Array(16), { ram: RAM, loadAddr: 0x4000_0000, entry: 0x4000_0008 });
    expect(img.segments[0]!.addr).toBe(0x4000_0000);
    expect(img.entry).toBe(0x4000_0008);
  });
  it('reject images outside RAM, empty images and entries outside RAM', () => {
    rejects(() => loadImage('big.bin', new Uint8Array(RAM.size), { ram: RAM }), 'big.bin', /outside RAM 0x40000000-0x50000000/);
    rejects(() => loadImage('lo.bin', new Uint8Array(4), { ram: RAM, loadAddr: 0x1000 }), 'lo.bin', /raw image at 0x1000/);
    rejects(() => loadImage('e.bin', new Uint8Array(0), { ram: RAM }), 'e.bin', /empty image/);
    rejects(() => loadImage('x.bin', new Uint8Array(4), { ram: RAM, entry: 0 }), 'x.bin', /entry point 0x0 is outside RAM/);
  });
  it('format raw loads even an ELF verbatim', () => {
    expect(loadImage('g.elf', goodElf(), { ram: RAM, format: 'raw' }).format).toBe('raw');
  });
});

describe('ELF64 AArch64 images', () => {
  it('place PT_LOAD segments at p_paddr with bss as memSize, entry from e_entry', () => {
    const img = loadImage('g.elf', goodElf(), { ram: RAM });
    expect(img.format).toBe('elf');
    expect(img.segments.map((s) => [s.addr, s.data.length, s.memSize])).toEqual([
      [0x4008_0000, 0x100, 0x100],
      [0x4009_0000, 0x10, 0x2000],
    ]);
    expect(img.segments[0]!.data[5]).toBe(5);
    expect(img.entry).toBe(0x4008_0010);
    expect(img.kernelEnd).toBe(0x4009_2000);
  });
  it('translate a high-VA entry through its segment to the physical address (gABI p_paddr)', () => {
    const elf = makeElf({ entry: 0xffff_0000_0000_0040n, phdrs: [{ offset: 0x100, vaddr: 0xffff_0000_0000_0000n, paddr: 0x4010_0000, filesz: 0x80, memsz: 0x80 }] });
    const img = loadImage('hi.elf', elf, { ram: RAM });
    expect(img.segments[0]!.addr).toBe(0x4010_0000);
    expect(img.entry).toBe(0x4010_0040);
  });
  it('move an ET_DYN image to loadAddr', () => {
    const elf = makeElf({ type: 3, entry: 0x10, phdrs: [{ offset: 0x100, vaddr: 0, filesz: 0x40, memsz: 0x40 }] });
    const img = loadImage('pie.elf', elf, { ram: RAM, loadAddr: 0x4020_0000 });
    expect(img.segments[0]!.addr).toBe(0x4020_0000);
    expect(img.entry).toBe(0x4020_0010);
  });
  it('reject 32-bit, big-endian, wrong machine, wrong type', () => {
    const base = { entry: 0x4008_0000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 4, memsz: 4 }] };
    rejects(() => loadImage('a.elf', makeElf({ ...base, cls: 1 }), { ram: RAM }), 'a.elf', /32-bit ELF/);
    rejects(() => loadImage('b.elf', makeElf({ ...base, data: 2 }), { ram: RAM }), 'b.elf', /big-endian ELF/);
    rejects(() => loadImage('c.elf', makeElf({ ...base, machine: 62 }), { ram: RAM }), 'c.elf', /machine 62 is not EM_AARCH64/);
    rejects(() => loadImage('d.o', makeElf({ ...base, type: 1 }), { ram: RAM }), 'd.o', /ET_REL/);
  });
  it('reject segments outside RAM with the segment index, address and size', () => {
    const elf = makeElf({ entry: 0x1000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 4, memsz: 4 }, { offset: 0x200, vaddr: 0x1000, filesz: 0x10, memsz: 0x2000 }] });
    rejects(() => loadImage('guest.elf', elf, { ram: RAM }), 'guest.elf',
      /^guest\.elf: ELF segment 1 at 0x1000 \(size 0x2000\) is outside RAM 0x40000000-0x50000000$/);
    const straddle = makeElf({ entry: 0x4fff_f000, phdrs: [{ offset: 0x100, vaddr: 0x4fff_f000, filesz: 4, memsz: 0x2000 }] });
    rejects(() => loadImage('s.elf', straddle, { ram: RAM }), 's.elf', /segment 0 at 0x4ffff000 .* outside RAM/);
  });
  it('reject truncated and malformed files', () => {
    const good = goodElf();
    rejects(() => loadImage('t.elf', good.subarray(0, 40), { ram: RAM }), 't.elf', /truncated ELF header/);
    rejects(() => loadImage('t2.elf', good.subarray(0, 0x1080), { ram: RAM }), 't2.elf', /segment 0: file data at offset 0x1000 \(size 0x100\) extends past end of file/);
    rejects(() => loadImage('t3.elf', good.subarray(0, 100), { ram: RAM }), 't3.elf', /program header table .* extends past end of file/);
    const fs = makeElf({ entry: 0x4008_0000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 0x20, memsz: 0x10 }] });
    rejects(() => loadImage('f.elf', fs, { ram: RAM }), 'f.elf', /file size 0x20 exceeds memory size 0x10/);
    const huge = makeElf({ entry: 0x4008_0000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 4, memsz: 4 }] });
    new DataView(huge.buffer).setBigUint64(64 + 8, 0xffff_ffff_ffff_fff0n, true); // p_offset
    rejects(() => loadImage('o.elf', huge, { ram: RAM }), 'o.elf', /extends past end of file/);
    const wrap = makeElf({ entry: 0x4008_0000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 4, memsz: 4 }] });
    new DataView(wrap.buffer).setBigUint64(64 + 40, 0xffff_ffff_ffff_fff0n, true); // p_memsz
    rejects(() => loadImage('w.elf', wrap, { ram: RAM }), 'w.elf', /wraps the address space|outside RAM/);
    const small = makeElf({ phentsize: 32, entry: 0, phdrs: [] });
    rejects(() => loadImage('p.elf', small, { ram: RAM }), 'p.elf', /no program headers/);
  });
  it('reject overlapping segments, an entry outside every segment, and no PT_LOAD', () => {
    const ov = makeElf({ entry: 0x4008_0000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 0x10, memsz: 0x1000 }, { offset: 0x200, vaddr: 0x4008_0800, filesz: 0x10, memsz: 0x10 }] });
    rejects(() => loadImage('ov.elf', ov, { ram: RAM }), 'ov.elf', /segments 0 and 1 overlap at 0x40080800/);
    const noent = makeElf({ entry: 0x4100_0000, phdrs: [{ offset: 0x100, vaddr: 0x4008_0000, filesz: 0x10, memsz: 0x10 }] });
    rejects(() => loadImage('n.elf', noent, { ram: RAM }), 'n.elf', /entry point 0x41000000 is not inside any PT_LOAD/);
    const note = makeElf({ entry: 0, phdrs: [{ type: 4, offset: 0x100, vaddr: 0, filesz: 4, memsz: 4 }] });
    rejects(() => loadImage('x.elf', note, { ram: RAM }), 'x.elf', /no PT_LOAD/);
  });
  it('format elf on a non-ELF file is an error', () => {
    rejects(() => loadImage('r.bin', new Uint8Array(64), { ram: RAM, format: 'elf' }), 'r.bin', /not an ELF file/);
  });
});

describe('arm64 Linux Image (booting.rst)', () => {
  it('auto-detects the header and loads at a 2 MiB aligned base + text_offset', () => {
    const k = makeLinux({ textOffset: 0x80000, imageSize: 0x30000 });
    const img = loadImage('Image', k, { ram: RAM });
    expect(img.format).toBe('linux');
    expect(img.entry).toBe(0x4008_0000);
    expect(img.segments[0]).toMatchObject({ addr: 0x4008_0000, memSize: 0x30000 });
    expect(img.kernelEnd).toBe(0x400b_0000);
    expect(img.linux).toEqual({ textOffset: 0x80000, imageSize: 0x30000, flags: 0b1010, pageSize: '4K', placeAnywhere: true });
  });
  it('modern kernels (text_offset 0) load at the first 2 MiB boundary of RAM', () => {
    const ram = { base: 0x4010_0000, size: 0x1000_0000 };
    const img = loadImage('Image', makeLinux(), { ram });
    expect(img.entry).toBe(0x4020_0000);
  });
  it('image_size 0 (pre-3.17) means text_offset 0x80000 and the file length as size', () => {
    const img = loadImage('old', makeLinux({ imageSize: 0, textOffset: 0x1234 }), { ram: RAM });
    expect(img.linux!.textOffset).toBe(0x80000);
    expect(img.kernelEnd).toBe(0x4008_0000 + 0x10000);
  });
  it('decodes the page size field (flags bits 1-2)', () => {
    expect(loadImage('k', makeLinux({ flags: 0b0110 }), { ram: RAM }).linux!.pageSize).toBe('64K');
    expect(loadImage('k', makeLinux({ flags: 0 }), { ram: RAM }).linux!.pageSize).toBe('unspecified');
  });
  it('loadAddr must be a 2 MiB aligned base + text_offset', () => {
    expect(loadImage('k', makeLinux(), { ram: RAM, loadAddr: 0x4400_0000 }).entry).toBe(0x4400_0000);
    rejects(() => loadImage('k', makeLinux(), { ram: RAM, loadAddr: 0x4008_0000 }), 'k', /2 MiB aligned base \+ text_offset 0x0/);
  });
  it('rejects big-endian kernels, odd text_offset, entry overrides and images larger than RAM', () => {
    rejects(() => loadImage('be', makeLinux({ flags: 1 }), { ram: RAM }), 'be', /big-endian arm64 Image/);
    rejects(() => loadImage('to', makeLinux({ textOffset: 0x123 }), { ram: RAM }), 'to', /text_offset 0x123/);
    rejects(() => loadImage('en', makeLinux(), { ram: RAM, entry: 0x4000_0000 }), 'en', /entry address does not apply/);
    rejects(() => loadImage('huge', makeLinux({ imageSize: 0x2000_0000 }), { ram: RAM }), 'huge', /arm64 Image at 0x40000000 \(size 0x20000000\) is outside RAM/);
    rejects(() => loadImage('f', new Uint8Array(64), { ram: RAM, format: 'linux' }), 'f', /not an arm64 Linux Image/);
  });
  it('places the DTB slot 2 MiB aligned after the QEMU initrd point, x0 = DTB, x1-x3 = 0', () => {
    const img = loadImage('Image', makeLinux(), { ram: RAM });
    // QEMU hw/arm/boot.c: initrd at RAM + min(RAM/2, 128 MiB) = 0x48000000; DTB after it.
    expect(img.dtbAddr).toBe(0x4800_0000);
    expect(img.dtbAddr! % (2 * MiB)).toBe(0);
    expect(linuxBootRegisters(img)).toEqual({ pc: 0x4000_0000, x0: 0x4800_0000, x1: 0, x2: 0, x3: 0 });
  });
  it('places initrd and a DTB built from the initrd span (virt-dt)', () => {
    const initrd = new Uint8Array(0x119).fill(7);
    const img = loadImage('Image', makeLinux(), {
      ram: RAM,
      initrd,
      dtb: ({ initrd: span }) => buildVirtDtb({ ramBase: RAM.base, ramSize: RAM.size, cpus: 1, ...(span ? { initrd: span } : {}) }),
    });
    expect(img.initrd).toEqual({ start: 0x4800_0000, end: 0x4800_0119 });
    expect(img.dtbAddr).toBe(0x4820_0000);
    const chosen = findNode(parseFdt(img.dtb!).root, '/chosen')!;
    expect(propU32s(chosen.props.get('linux,initrd-start')!)).toEqual([0x4800_0000]);
    expect(propU32s(chosen.props.get('linux,initrd-end')!)).toEqual([0x4800_0119]);
    // Everything lands in a RAM view, bss zeroed.
    const ram = new Uint8Array(RAM.size).fill(0xee);
    writeSegments(img, {
      contains: (pa, len) => pa >= RAM.base && pa + len <= RAM.base + RAM.size,
      load: (pa, data) => ram.set(data, pa - RAM.base),
      loadFile: () => expect.fail('no segment here is left in a file'),
      zero: (pa, len) => ram.fill(0, pa - RAM.base, pa - RAM.base + len),
    });
    expect(ram[0x0800_0000]).toBe(7);
    expect(new DataView(ram.buffer).getUint32(0x0820_0000)).toBe(0xd00dfeed);
    expect(ram[0x10000]).toBe(0); // between file end and image_size: zeroed
    expect(ram[0x20000]).toBe(0xee); // past image_size: untouched
  });
  it('keeps the initrd after a kernel that reaches past the QEMU initrd point', () => {
    const ram = { base: 0x4000_0000, size: 64 * MiB };
    const img = loadImage('Image', makeLinux({ imageSize: 40 * MiB + 0x123 }), { ram, initrd: new Uint8Array(10) });
    expect(img.initrd!.start).toBe(0x4000_0000 + 40 * MiB + 0x1000);
    expect(img.dtbAddr).toBe(0x4000_0000 + 42 * MiB);
  });
  it('rejects when RAM has no room for the initrd or the DTB, and oversized or non-FDT blobs', () => {
    const ram = { base: 0x4000_0000, size: 8 * MiB };
    rejects(() => loadImage('k', makeLinux({ imageSize: 7 * MiB }), { ram }), 'k', /no room for the device tree \(0x200000 bytes\)/);
    rejects(() => loadImage('k', makeLinux(), { ram, initrd: new Uint8Array(5 * MiB) }), 'k', /no room for the initrd/);
    rejects(() => loadImage('k', makeLinux(), { ram: RAM, dtb: new Uint8Array(DTB_MAX_SIZE + 8) }), 'k', /exceeds the 2 MiB/);
    rejects(() => loadImage('k', makeLinux(), { ram: RAM, dtb: new Uint8Array(64) }), 'k', /no FDT magic/);
  });
  it('decompresses a gzip-compressed Image (distribution vmlinuz) and rejects bad gzip', () => {
    const img = loadImage('vmlinuz', new Uint8Array(gzipSync(makeLinux())), { ram: RAM });
    expect(img.format).toBe('linux');
    expect(img.gunzipped).toBe(true);
    rejects(() => loadImage('bad.gz', new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]), { ram: RAM }), 'bad.gz', /does not decompress/);
  });
  it('rejects EFI zboot images with a hint', () => {
    const z = new Uint8Array(64);
    z.set([0x4d, 0x5a, 0, 0, 0x7a, 0x69, 0x6d, 0x67]);
    rejects(() => loadImage('vmlinuz.efi', z, { ram: RAM }), 'vmlinuz.efi', /EFI zboot/);
  });
});

describe('DTB for raw/ELF images', () => {
  it('falls back to a page-aligned spot that does not cross 2 MiB in a small RAM', () => {
    const ram = { base: 0x4000_0000, size: 1 * MiB };
    const dtb = buildVirtDtb({ ramBase: ram.base, ramSize: ram.size, cpus: 1 });
    const img = loadImage('fw.bin', new Uint8Array(0x100), { ram, dtb });
    expect(img.dtbAddr).toBe(0x4008_1000); // first page after the image (which ends past RAM/2)
    const k = loadImage('k', makeLinux({ imageSize: 0xf_0000 }), { ram, dtb });
    expect(k.dtbAddr).toBe(0x400f_0000);
    rejects(() => loadImage('k2', makeLinux({ imageSize: 0xf_f800 }), { ram, dtb }), 'k2', /no room for the device tree/);
  });
  it('is placed only when given', () => {
    const dtb = buildVirtDtb({ ramBase: RAM.base, ramSize: RAM.size, cpus: 1 });
    const opts: LoadOptions = { ram: RAM, dtb };
    const img = loadImage('g.elf', goodElf(), opts);
    expect(img.dtbAddr).toBe(0x4800_0000);
    expect(img.segments.at(-1)).toEqual({ addr: 0x4800_0000, data: dtb, memSize: dtb.length });
  });
});

const hasCross = spawnSync('aarch64-linux-gnu-gcc', ['--version']).status === 0;

describe.skipIf(!hasCross)('real toolchain output', () => {
  it('loads an ELF linked by aarch64-linux-gnu-ld and agrees with objcopy -O binary', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hypemu-elf-'));
    writeFileSync(join(dir, 'a.S'), [
      '.text', '.globl _start', '_start: ldr x0, =msg', '  b .', '.data', 'msg: .asciz "hi"',
      '.bss', '.space 0x1000', '',
    ].join('\n'));
    execFileSync('aarch64-linux-gnu-gcc', ['-nostdlib', '-static', '-Wl,-Ttext=0x40080000', '-Wl,-Tdata=0x40090000',
      '-Wl,--build-id=none', '-o', join(dir, 'a.elf'), join(dir, 'a.S')]);
    execFileSync('aarch64-linux-gnu-objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.elf'), join(dir, 'text.bin')]);
    const img = loadImage('a.elf', new Uint8Array(readFileSync(join(dir, 'a.elf'))), { ram: RAM });
    expect(img.entry).toBe(0x4008_0000);
    // ld may put the ELF headers in the text segment below .text: look .text up by address.
    const text = img.segments.find((s) => s.addr <= 0x4008_0000 && 0x4008_0000 < s.addr + s.memSize)!;
    const bin = new Uint8Array(readFileSync(join(dir, 'text.bin')));
    const at = 0x4008_0000 - text.addr;
    expect(text.data.subarray(at, at + bin.length)).toEqual(bin);
    const data = img.segments.find((s) => s.addr === 0x4009_0000)!;
    expect(data.memSize).toBeGreaterThanOrEqual(0x1000);
  });
});
