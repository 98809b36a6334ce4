// Every guest image, run through the CLI as a user would: console output and exit status.
import { describe, expect, it } from 'vitest';
import { guest, hypemu } from './helpers.js';

describe('hello', () => {
  it('prints its greeting over the PL011 and exits 0', async () => {
    const r = await hypemu(['run', guest('hello')]);
    expect(r.stdout).toContain('Hello from hypemu guest!');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/guest exited with status 0 after \d+ instructions/);
  });
});

describe('exceptions (Arm ARM D1.10: SVC/BRK/UDF at EL1, SVC/UDF from EL0)', () => {
  it('every check passes and the exit status is the failure count (0)', async () => {
    const r = await hypemu(['run', guest('exceptions'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('RESULT exceptions: 0 failures');
    expect(r.stdout.match(/^PASS /gm)?.length).toBeGreaterThanOrEqual(30);
    expect(r.status).toBe(0);
    // Exceptions are counted by target EL and class.
    const el1 = r.stats!.exceptions.byTarget.EL1;
    expect(el1.svc64).toBeGreaterThanOrEqual(2);
    expect(el1.brk64).toBeGreaterThanOrEqual(1);
    expect(el1.unknown).toBeGreaterThanOrEqual(2);
  });
});

describe('demo (the default guest)', () => {
  it('runs with no IMAGE argument and exits 0', async () => {
    const r = await hypemu(['run']);
    expect(r.stdout).toContain('hypemu demo guest');
    expect(r.stdout).toContain('bye');
    expect(r.status).toBe(0);
  });
});

describe('determinism', () => {
  it('two runs give byte-identical console output and identical statistics', async () => {
    const a = await hypemu(['run', guest('exceptions'), '-q'], { stats: true });
    const b = await hypemu(['run', guest('exceptions'), '-q'], { stats: true });
    expect(a.stdout).toBe(b.stdout);
    // Only the host's own timings may differ: measured wall time and the host ns spent in exits.
    const strip = (s: Record<string, any>) => ({ ...s, host: undefined, cost: { ...s.cost, hostNs: undefined } });
    expect(strip(a.stats!)).toEqual(strip(b.stats!));
  });
});

describe('boot-dtb (raw image: x0 = DTB address, as QEMU -kernel boots a raw arm64 binary)', () => {
  it('finds an FDT at x0 whose /chosen/bootargs is the --append line', async () => {
    const bin = guest('boot-dtb').replace(/\.elf$/, '.bin');
    const r = await hypemu(['run', bin, '--append', 'hypemu boot-dtb', '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('PASS FDT magic');
    expect(r.stdout).toContain('PASS /chosen/bootargs is the command line');
    expect(r.status).toBe(0);
  });
  it('an ELF image still starts with x0 = 0 (QEMU passes no DTB to a bare ELF)', async () => {
    const r = await hypemu(['run', guest('boot-dtb'), '--append', 'hypemu boot-dtb', '-q']);
    expect(r.stdout).toContain('x0 at entry: 0x0');
    expect(r.status).toBe(2);
  });
});

describe('counter-poll (D11.1.2: a busy-wait on CNTVCT_EL0)', () => {
  it('waits 100 ms of virtual time in a few hundred reads (the polling warp), deterministically', async () => {
    const a = await hypemu(['run', guest('counter-poll'), '-q'], { stats: true });
    const b = await hypemu(['run', guest('counter-poll'), '-q'], { stats: true });
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toContain('PASS counter-poll');
    const reads = Number(/in (\d+) counter reads/.exec(a.stdout)![1]);
    expect(reads).toBeLessThan(1000);
    expect(a.stats!.virtualTimeNs).toBeGreaterThanOrEqual(100_000_000);
    expect(a.stats!.counterWarp.ns).toBeGreaterThan(99_000_000);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stats!.instructions).toBe(a.stats!.instructions);
    expect(b.stats!.virtualTimeNs).toBe(a.stats!.virtualTimeNs);
  });
});

describe('pmu (PMUv3, Arm ARM D13; validated under QEMU 7.2)', () => {
  it('cycle counter, SW_INCR with a 32-bit wrap, PMXEV*, and INST_RETIRED exact', async () => {
    const r = await hypemu(['run', guest('pmu'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('PASS INST_RETIRED counts the block exactly');
    expect(r.stdout).toContain('RESULT pmu: 0 failures');
    expect(r.status).toBe(0);
  });
});

describe('pmu-hpmn (MDCR_EL2.HPMN, Arm ARM D13.3: --pmu-counters 4)', () => {
  it('N reads 4, counters 4 and 5 are EL2\'s: UNDEFINED at EL1/EL0 and their bits RAZ/WI', async () => {
    const r = await hypemu(['run', guest('pmu-hpmn'), '-q', '--pmu-counters', '4']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(45);
    expect(r.stdout).toContain('RESULT pmu-hpmn: 0 failures');
    expect(r.status).toBe(0);
  });
  it('without the option all 6 counters are the guest\'s: the same guest fails its HPMN checks', async () => {
    const r = await hypemu(['run', guest('pmu-hpmn'), '-q']);
    expect(r.stdout).toContain('FAIL PMCR_EL0.N reads as HPMN got=0x6 want=0x4');
    expect(r.stdout).toContain('PASS mrs PMEVCNTR6_EL0 (not implemented): one exception');
    expect(r.status).toBe(30);
  });
  it('--pmu-counters must be 0 to 6', async () => {
    const r = await hypemu(['run', guest('pmu'), '-q', '--pmu-counters', '7']);
    expect(r.status).toBe(64);
    expect(r.stderr).toContain("--pmu-counters: '7' is not a number of event counters from 0 to 6");
  });
});

describe('debug-events (Arm ARM D2 breakpoints and watchpoints; validated under QEMU 7.2)', () => {
  it('both taken to EL1 with QEMU\'s syndromes, ELR and FAR; PSTATE.D masks them; no crash on DBGBCR.E', async () => {
    const r = await hypemu(['run', guest('debug-events'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(9);
    expect(r.status).toBe(0);
  });
});

describe('trap-rules (WFI/WFE/SMC/HVC at EL0; validated under QEMU 7.2)', () => {
  it('EL0 WFI under SCTLR_EL1.nTWI = 0 traps to EL1 (EC 0x01) before HCR_EL2.TWI; SMC/HVC at EL0 are UNDEFINED', async () => {
    const r = await hypemu(['run', guest('trap-rules'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toContain('PASS wfi-el0 ESR_EL1 (EC 0x01, TI 00)');
    expect(r.stdout).toContain('RESULT trap-rules: 0 failures');
    expect(r.status).toBe(0);
    // None of them reached the EL2 model: no wfx, smc or hvc exit besides the final exit call.
    expect(r.stats!.exits.byReason.wfx).toBe(0);
    expect(r.stats!.exits.byReason.smc).toBe(0);
    expect(r.stats!.exits.byReason.hvc).toBe(1);
  });
});

describe('unknown-sysreg (UNDEFINED encodings and EL0 PMU access; validated under QEMU 7.2)', () => {
  it('unknown encodings and EL2/EL3 registers are UNDEFINED, reported once and counted; EL0 PMU access follows PMUSERENR_EL0', async () => {
    const r = await hypemu(['run', guest('unknown-sysreg'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(28);
    expect(r.status).toBe(0);
    expect(r.stats!.unknownSysregs).toEqual({ S3_0_C15_C15_7: 2 });
    // One warning per encoding, not per access.
    expect(r.stderr.match(/unknown system register S3_0_C15_C15_7/g)?.length).toBe(1);
  });
  it('--unknown-sysreg raz reads them as zero instead (the guest sees no exception)', async () => {
    const r = await hypemu(['run', guest('unknown-sysreg'), '-q', '--unknown-sysreg', 'raz'], { stats: true });
    expect(r.stdout).toContain('FAIL el1 exceptions got=0x3 want=0x5'); // the two accesses to S3_0_C15_C15_7 raised nothing
    expect(r.stats!.unknownSysregs).toEqual({ S3_0_C15_C15_7: 2 });
  });
});

describe('cache-id (HCR_EL2.TID4: the cache geometry registers; validated under QEMU 7.2)', () => {
  // The guest checks every value against QEMU 7.2 max: CTR_EL0 is read from the core untrapped
  // (TID4 leaves it alone), so its PASS line is what proves the core's CTR_EL0 is the feature set's.
  it('CTR_EL0, CLIDR_EL1 and CCSIDR_EL1 read the feature set\'s values (QEMU 7.2 max); CLIDR/CCSIDR/CSSELR trapped by TID4, CTR_EL0 not', async () => {
    const r = await hypemu(['run', guest('cache-id'), '-q'], { stats: true });
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(7);
    expect(r.status).toBe(0);
    const t = r.stats!.sysregTraps;
    expect(t['CTR_EL0']).toBeUndefined(); // read at EL1 and EL0, natively
    expect(t['CLIDR_EL1']!.reads).toBe(1);
    expect(t['CCSIDR_EL1']!.reads).toBe(3);
    expect(t['CSSELR_EL1']!.writes).toBe(4);
  });
});

describe('sstep (software step, Arm ARM D2.12; validated under QEMU 7.2)', () => {
  it('active-pending after DAIFClr (ISV 0), then one instruction per step (ISV 1), EC 0x33, ELR = the next instruction', async () => {
    const r = await hypemu(['run', guest('sstep'), '-q']);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout.match(/^PASS /gm)?.length).toBe(9);
    expect(r.status).toBe(0);
  });
});
