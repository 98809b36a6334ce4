/**
 * Memory attributes. Section numbers: DDI0487 J.a D8.5.5 "Combining stage 1 and stage 2
 * memory type attributes" = K.a/L.a D8.6.5.1 (memory type), D8.6.5.2 (Cacheability),
 * D8.6.6 (FWB), D8.6.7.1 (Shareability). One test per table row.
 */
import { describe, it, expect } from 'vitest';
import { combineAttributes, decodeMair, decodeS2MemAttr, effectiveAttributes, stage1DisabledAttr, fwbMode } from '../../emulator/mmu/attributes.js';

const NSH = 0;
const OSH = 2;
const ISH = 3;
// stage-1 MAIR bytes
const DEV_nGnRnE = 0x00;
const DEV_nGnRE = 0x04;
const DEV_nGRE = 0x08;
const DEV_GRE = 0x0c;
const N_NC = 0x44;
const N_WT = 0xbb; // WT non-transient RA WA
const N_WB = 0xff;
const N_TAGGED = 0xf0;
// stage-2 MemAttr (FWB = 0)
const S2_DEV_nGnRnE = 0x0;
const S2_DEV_nGnRE = 0x1;
const S2_DEV_nGRE = 0x2;
const S2_DEV_GRE = 0x3;
const S2_NC = 0x5;
const S2_WT = 0xa;
const S2_WB = 0xf;

describe('MAIR_EL1.Attr<n> decoding (Arm ARM D17.2.97 MAIR_EL1 [K.a D24.2.123])', () => {
  it.each([
    [0x00, 'Device-nGnRnE'],
    [0x04, 'Device-nGnRE'],
    [0x08, 'Device-nGRE'],
    [0x0c, 'Device-GRE'],
    [0x44, 'Normal-NC'],
    [0xbb, 'Normal-WT'],
    [0xff, 'Normal-WB'],
    [0x4f, 'Normal-iWB-oNC'],
    [0xf4, 'Normal-iNC-oWB'],
    [0x77, 'Normal-WB'], // transient WB
    [0x33, 'Normal-WT'], // transient WT
    [0xf0, 'Normal-WB'], // Tagged
  ])('0x%s -> %s', (attr, name) => {
    expect(decodeMair(attr).name).toBe(name);
  });
  it('allocation hints and transient bits', () => {
    const a = decodeMair(0x7e); // outer 0b0111 WB transient RW, inner 0b1110 WB non-transient R
    expect(a.outer).toEqual({ cache: 'WB', readAllocate: true, writeAllocate: true, transient: true });
    expect(a.inner).toEqual({ cache: 'WB', readAllocate: true, writeAllocate: false, transient: false });
    expect(decodeMair(0xf0).tagged).toBe(true);
  });
  it('Device and Normal Inner-NC/Outer-NC memory are Outer Shareable regardless of SH (D8.6.2)', () => {
    expect(decodeMair(0x04, NSH).shareability).toBe('OSH');
    expect(decodeMair(0x44, ISH).shareability).toBe('OSH');
    expect(decodeMair(0xff, NSH).shareability).toBe('NSH');
  });
  it('reserved encodings get a meaning and a note', () => {
    expect(decodeMair(0x01).note).toMatch(/UNPREDICTABLE|XS/);
    expect(decodeMair(0x50).note).toMatch(/UNPREDICTABLE/);
  });
});

describe('Stage 2 MemAttr[3:0], FWB disabled (D8.6.5 Table "Stage 2 MemAttr[3:0] encoding")', () => {
  it.each([
    [0x0, 'Device-nGnRnE'],
    [0x1, 'Device-nGnRE'],
    [0x2, 'Device-nGRE'],
    [0x3, 'Device-GRE'],
    [0x5, 'Normal-NC'],
    [0x6, 'Normal-iWT-oNC'],
    [0x7, 'Normal-iWB-oNC'],
    [0x9, 'Normal-iNC-oWT'],
    [0xa, 'Normal-WT'],
    [0xb, 'Normal-iWB-oWT'],
    [0xd, 'Normal-iNC-oWB'],
    [0xe, 'Normal-iWT-oWB'],
    [0xf, 'Normal-WB'],
  ])('MemAttr 0x%s -> %s', (m, name) => {
    expect(decodeS2MemAttr(m).name).toBe(name);
  });
  it('0b0100, 0b1000, 0b1100 are reserved', () => {
    for (const m of [4, 8, 0xc]) expect(decodeS2MemAttr(m).note).toMatch(/reserved/);
  });
});

describe('D8.6.5.1 (J.a D8.5.5) Table "Combining stage 1 and stage 2 memory type attributes"', () => {
  it('row "Device has precedence over Normal": S1 Device + S2 Normal -> Device (seed 001: S1 Device x S2 Normal-NC)', () => {
    expect(combineAttributes(DEV_nGnRE, ISH, S2_NC, ISH, false).name).toBe('Device-nGnRE');
    expect(combineAttributes(DEV_GRE, ISH, S2_WB, ISH, false).name).toBe('Device-GRE');
    expect(combineAttributes(N_WB, ISH, S2_DEV_nGnRE, ISH, false).name).toBe('Device-nGnRE');
  });
  it('row "Non-Gathering has precedence over Gathering": GRE x nGRE -> nGRE', () => {
    expect(combineAttributes(DEV_GRE, ISH, S2_DEV_nGRE, ISH, false).name).toBe('Device-nGRE');
    expect(combineAttributes(DEV_nGRE, ISH, S2_DEV_GRE, ISH, false).name).toBe('Device-nGRE');
  });
  it('row "Non-Reordering has precedence over Reordering": nGRE x nGnRE -> nGnRE', () => {
    expect(combineAttributes(DEV_nGRE, ISH, S2_DEV_nGnRE, ISH, false).name).toBe('Device-nGnRE');
  });
  it('row "No Early write acknowledge has precedence": nGnRE x nGnRnE -> nGnRnE', () => {
    expect(combineAttributes(DEV_nGnRE, ISH, S2_DEV_nGnRnE, ISH, false).name).toBe('Device-nGnRnE');
    expect(combineAttributes(DEV_nGnRnE, ISH, S2_DEV_GRE, ISH, false).name).toBe('Device-nGnRnE');
  });
});

describe('D8.6.5.2 (J.a D8.5.5) Table "Combining stage 1 and stage 2 Cacheability attributes for Normal memory"', () => {
  it('row S1 Non-cacheable, S2 any -> Non-cacheable', () => {
    for (const s2 of [S2_NC, S2_WT, S2_WB]) expect(combineAttributes(N_NC, ISH, s2, ISH, false).name).toBe('Normal-NC');
  });
  it('row S1 any, S2 Non-cacheable -> Non-cacheable (seed 001: S1 Normal-WB x S2 Normal-NC)', () => {
    for (const s1 of [N_NC, N_WT, N_WB]) expect(combineAttributes(s1, ISH, S2_NC, ISH, false).name).toBe('Normal-NC');
  });
  it('row S1 WT, S2 WT -> WT', () => {
    expect(combineAttributes(N_WT, ISH, S2_WT, ISH, false).name).toBe('Normal-WT');
  });
  it('row S1 WT, S2 WB -> WT', () => {
    expect(combineAttributes(N_WT, ISH, S2_WB, ISH, false).name).toBe('Normal-WT');
  });
  it('row S1 WB, S2 WT -> WT, with the stage-1 allocation hints', () => {
    const e = combineAttributes(0x7e, ISH, S2_WT, ISH, false);
    expect(e.name).toBe('Normal-WT');
    expect(e.inner).toMatchObject({ readAllocate: true, writeAllocate: false });
  });
  it('row S1 WB, S2 WB -> WB', () => {
    expect(combineAttributes(N_WB, ISH, S2_WB, ISH, false).name).toBe('Normal-WB');
  });
  it('inner and outer combine independently', () => {
    expect(combineAttributes(N_WB, ISH, 0x7, ISH, false).name).toBe('Normal-iWB-oNC');
    expect(combineAttributes(0x4f, ISH, 0xe, ISH, false).name).toBe('Normal-iWT-oNC');
  });
  it('I_MCQKW: S2 MemAttr 0b1111 yields the stage-1 attributes', () => {
    for (const s1 of [DEV_nGnRnE, DEV_GRE, N_NC, N_WT, N_WB]) expect(combineAttributes(s1, ISH, S2_WB, ISH, false).name).toBe(decodeMair(s1).name);
  });
});

describe('D8.6.6 (J.a D8.5.6) Table "Stage 2 MemAttr[1:0] encoding, FWB enabled"', () => {
  it('MemAttr[2] = 0: Device, combined with a stage-1 Device type (R_GSDKZ); KVM MT_S2_FWB_DEVICE_nGnRE = 1', () => {
    expect(fwbMode(1)).toBe('device');
    expect(combineAttributes(N_WB, ISH, 1, ISH, true).name).toBe('Device-nGnRE');
    expect(combineAttributes(DEV_GRE, ISH, 1, ISH, true).name).toBe('Device-nGnRE');
    expect(combineAttributes(DEV_nGnRnE, ISH, 1, ISH, true).name).toBe('Device-nGnRnE'); // QEMU would say nGnRE
  });
  it('row 01/01 (0b101, KVM MT_S2_FWB_NORMAL_NC = 5): S1 Device<attr> -> Device<attr>', () => {
    expect(combineAttributes(DEV_nGnRE, ISH, 5, ISH, true).name).toBe('Device-nGnRE');
  });
  it('row 01/01: S1 Normal NC, WT, WB, Tagged -> Normal Non-cacheable', () => {
    for (const s1 of [N_NC, N_WT, N_WB, N_TAGGED]) {
      const e = combineAttributes(s1, ISH, 5, ISH, true);
      expect(e.name).toBe('Normal-NC');
      expect(e.tagged).toBe(false);
    }
  });
  it('row x1/10 (0b110, KVM MT_S2_FWB_NORMAL = 6): S1 Device, NC, WT -> Normal Write-Back', () => {
    for (const s1 of [DEV_nGnRnE, DEV_nGnRE, N_NC, N_WT]) expect(combineAttributes(s1, ISH, 6, ISH, true).name).toBe('Normal-WB');
  });
  it('row x1/1x: S1 Normal WB -> Normal Write-Back, keeping stage-1 hints (R_THYXB); non-cacheable S1 gets RA/WA (R_TBQKG)', () => {
    const e = combineAttributes(0x7e, ISH, 6, ISH, true);
    expect(e.outer).toMatchObject({ cache: 'WB', transient: true });
    expect(combineAttributes(N_NC, ISH, 6, ISH, true).inner).toEqual({ cache: 'WB', readAllocate: true, writeAllocate: true, transient: false });
  });
  it('row x1/11 (0b111): S1 Device<attr>, NC, WT, WB are used unchanged', () => {
    for (const s1 of [DEV_nGnRE, N_NC, N_WT, N_WB]) expect(combineAttributes(s1, ISH, 7, ISH, true).name).toBe(decodeMair(s1).name);
  });
  it('row x1/00 (0b100) is reserved: treated as Device-nGnRnE', () => {
    expect(combineAttributes(N_WB, ISH, 4, ISH, true).name).toBe('Device-nGnRnE');
  });
});

describe('D8.6.7.1 (J.a D8.5.6) Table "Combining stage 1 and stage 2 Shareability attributes"', () => {
  it.each([
    [OSH, NSH, 'OSH'],
    [OSH, ISH, 'OSH'],
    [OSH, OSH, 'OSH'],
    [ISH, OSH, 'OSH'],
    [ISH, ISH, 'ISH'],
    [ISH, NSH, 'ISH'],
    [NSH, OSH, 'OSH'],
    [NSH, ISH, 'ISH'],
    [NSH, NSH, 'NSH'],
  ])('S1 SH=%i, S2 SH=%i -> %s', (a, b, r) => {
    expect(combineAttributes(N_WB, a, S2_WB, b, false).shareability).toBe(r);
  });
  it('resultant Device or Normal iNC/oNC is Outer Shareable', () => {
    expect(combineAttributes(N_WB, NSH, S2_DEV_nGnRE, NSH, false).shareability).toBe('OSH');
    expect(combineAttributes(N_WB, NSH, S2_NC, NSH, false).shareability).toBe('OSH');
    expect(combineAttributes(N_WB, NSH, S2_NC, NSH, true).shareability).toBe('OSH'); // FWB 0b101
  });
});

describe('stage 1 disabled defaults (D8.2.11 [J.a D5.2.9]) and memoisation', () => {
  it('DC: Normal WB NSH; data: Device-nGnRnE; fetch: WT (I=1) or NC (I=0)', () => {
    expect(stage1DisabledAttr(false, true, false)).toEqual({ attr: 0xff, sh: NSH });
    expect(stage1DisabledAttr(true, true, false)).toEqual({ attr: 0xff, sh: NSH });
    expect(decodeMair(stage1DisabledAttr(false, false, true).attr).name).toBe('Device-nGnRnE');
    expect(decodeMair(stage1DisabledAttr(true, false, true).attr).name).toBe('Normal-WT');
    expect(decodeMair(stage1DisabledAttr(true, false, false).attr).name).toBe('Normal-NC');
  });
  it('effectiveAttributes returns one shared object per combination', () => {
    expect(effectiveAttributes(N_WB, ISH, S2_NC, ISH, false)).toBe(effectiveAttributes(N_WB, ISH, S2_NC, ISH, false));
    expect(effectiveAttributes(N_WB, ISH, -1, 0, false).name).toBe('Normal-WB');
  });
});
