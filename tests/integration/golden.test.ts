/**
 * Golden runs (issue 11): `hypemu record` / `hypemu check`. A one-instruction change in the boot
 * path of a recorded guest is reported at the instruction where the runs part (instruction count,
 * PC, both disassembled, the registers it leaves different), also when it traps nowhere and shows
 * in no output (register-state checkpoints, then both images stepped in lockstep); re-recording
 * an unchanged run rewrites the same bytes; --ignore; bad input is one line with status 64; the
 * library's checkGolden gives the same verdict.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Machine, checkGolden } from 'hypemu';
import { ROOT, guest, hypemu } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'hypemu-golden-'));

/** The file offset of a virtual address in an ELF64 image (its PT_LOAD segment). */
function elfOffset(elf: Buffer, va: number): number {
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * 56;
    const [type, off, vaddr, filesz] = [elf.readUInt32LE(o), Number(elf.readBigUInt64LE(o + 8)), Number(elf.readBigUInt64LE(o + 16)), Number(elf.readBigUInt64LE(o + 32))];
    if (type === 1 && va >= vaddr && va < vaddr + filesz) return off + va - vaddr;
  }
  throw new Error(`0x${va.toString(16)} is in no PT_LOAD segment`);
}

/** The address of the first line of the guest's listing (objdump -d) matching `re` (in function `fn`, when given). */
function listingAddress(name: string, re: RegExp, fn?: string): number {
  const lines = readFileSync(join(ROOT, 'guest-images/build', `${name}.lst`), 'utf8').split('\n');
  const from = fn === undefined ? 0 : lines.findIndex((l) => l.endsWith(` <${fn}>:`));
  const line = from < 0 ? undefined : lines.slice(from).find((l) => re.test(l));
  if (line === undefined) throw new Error(`${re} not in ${name}.lst${fn === undefined ? '' : ` <${fn}>`}`);
  return parseInt(line.trim().split(':')[0]!, 16);
}

/**
 * The one-instruction changes the cases make: a guest's instruction (found by its listing line)
 * replaced by another, both as `hypemu check` disassembles them.
 */
const PATCHES = {
  // demo's boot path writes MAIR_EL1 from x21 (trapped: --mair-mangle); make it write x20 instead.
  demoMair: { guest: 'demo', at: /\tmsr\tmair_el1, x21$/, golden: [0xd518a215, 'msr mair_el1, x21'], actual: [0xd518a214, 'msr mair_el1, x20'] },
  // bench-loop counts x1 up to 600M: a change that traps nowhere and shows in no output.
  benchAdd: { guest: 'bench-loop', at: /\tadd\tx1, x1, #0x1$/, golden: [0x91000421, 'add x1, x1, #1'], actual: [0x91000821, 'add x1, x1, #2'] },
  // hello's exit() (HVC to the exit hypercall) made `b .`: the guest spins for ever (check
  // disassembles the branch with its target: `b #PC`).
  helloSpins: { guest: 'hello', at: /^[0-9a-f]+ <exit>:$/, golden: [0xaa0003e1, 'mov x1, x0'], actual: [0x14000000, 'b .'] },
  // smp-ipi --smp 2: a secondary's stack is the top of smp_stacks[MPIDR_EL1.Aff0] (src/smp.c:
  // add x3, x3, #1); make it #2. Its stack moves 8 KiB for good; the console and exit reasons stay the same.
  smpStack: { guest: 'smp-ipi', fn: 'secondary_entry', at: /\tadd\tx3, x3, #0x1$/, golden: [0x91000463, 'add x3, x3, #1'], actual: [0x91000863, 'add x3, x3, #2'] },
} as const satisfies Record<string, Patch>;
type Patch = { readonly guest: string; readonly fn?: string; readonly at: RegExp; readonly golden: readonly [number, string]; readonly actual: readonly [number, string] };

/** The patched image written to `dir` (named after the guest and `suffix`) and the patched instruction's address. */
function patched(p: Patch, dir: string, suffix = 'patched'): { pc: number; file: string } {
  const pc = listingAddress(p.guest, p.at, p.fn);
  const elf = readFileSync(guest(p.guest));
  const off = elfOffset(elf, pc);
  expect(elf.readUInt32LE(off)).toBe(p.golden[0]);
  elf.writeUInt32LE(p.actual[0], off);
  const file = join(dir, `${p.guest}-${suffix}.elf`);
  writeFileSync(file, elf);
  return { pc, file };
}

const pcHex = (pc: number): string => `0x${pc.toString(16).padStart(16, '0')}`;

/**
 * What `hypemu check` says about the first instruction that differs, found by stepping both
 * images in lockstep from the 4096-instruction chunk it lies in: `total` instructions before it
 * (with several vCPUs, `own` of them the vCPU's), the patch's two instructions, the registers.
 */
function firstDifference(p: Patch, o: { pc: number; total: number; vcpu?: { index: number; own: number }; registers: string }): string {
  const chunk = Math.floor(o.total / 4096) * 4096;
  const who = o.vcpu === undefined ? '' : `vCPU ${o.vcpu.index} (its instruction ${o.vcpu.own}), `;
  const hex = (w: number): string => `0x${w.toString(16).padStart(8, '0')}`;
  return [
    `first instruction that differs: after ${o.total} instructions, ${who}PC ${pcHex(o.pc)} (EL1)`,
    `  found by running both images from the start in chunks of 4096, then stepping from instruction ${chunk} (${o.total - chunk} steps)`,
    `  golden:   ${p.golden[1]} (${hex(p.golden[0])})`,
    `  this run: ${p.actual[1]} (${hex(p.actual[0])})`,
    '  the instruction itself differs',
    `  registers it leaves different (golden -> this run): ${o.registers}`,
  ].join('\n');
}

const traceRecords = (dir: string): Record<string, any>[] => gunzipSync(readFileSync(join(dir, 'trace.jsonl.gz'))).toString().trim().split('\n').map((l) => JSON.parse(l));

// Each test runs a few guests, some twice more side by side (the lockstep): minutes at load 35.
describe('hypemu record / check', { timeout: 300_000 }, () => {
  const dir = tmp();
  const golden = join(dir, 'demo');

  it('records a run; check of the same image matches (exit 0); re-recording writes the same bytes', async () => {
    const r = await hypemu(['record', guest('demo'), '--golden', golden, '--mair-mangle']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^hypemu: recorded .*demo: \d+ instructions, \d+ trace records, exit status 0 \(guest-exit\)\n$/);
    const meta = JSON.parse(readFileSync(join(golden, 'golden.json'), 'utf8'));
    expect(meta).toMatchObject({ format: 2, options: { mairMangle: true }, status: 0, end: { kind: 'guest-exit' }, checkpoints: { every: 4_000_000, count: 0, file: 'checkpoints.bin', end: { instructions: meta.instructions } } });
    expect(meta.checkpoints.end.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(readFileSync(join(golden, 'checkpoints.bin')).length).toBe(0); // 145k instructions: only the end's fingerprint
    expect(readFileSync(join(golden, 'console.txt'), 'utf8')).toContain('[5] bye');
    const files = ['console.txt', 'trace.jsonl.gz', 'stats.json', 'golden.json', 'checkpoints.bin'].map((f) => readFileSync(join(golden, f)));
    expect(gunzipSync(files[1]!).toString()).not.toContain('hostNs'); // host time is never stored
    expect(Object.keys(JSON.parse(files[2]!.toString()))).not.toContain('host');
    const ok = await hypemu(['check', '--golden', golden]);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/the run matches the golden run \(\d+ trace records, \d+ console bytes, \d+ instructions, exit status 0\)/);
    // Updating a golden directory: `record --golden DIR` alone reruns what it holds.
    expect((await hypemu(['record', '--golden', golden, '-q'])).status).toBe(0);
    ['console.txt', 'trace.jsonl.gz', 'stats.json', 'golden.json', 'checkpoints.bin'].forEach((f, i) => expect(readFileSync(join(golden, f)).equals(files[i]!), f).toBe(true));
  });

  it('a one-instruction change in the boot path is reported at that instruction: count, PC, both instructions', async () => {
    const { pc, file } = patched(PATCHES.demoMair, dir);
    // Where the golden run executed that instruction: its exit record.
    const at = traceRecords(golden).find((r) => r.pc === pcHex(pc));
    expect(at).toMatchObject({ reason: 'sysreg', sysreg: { name: 'MAIR_EL1', write: true } });

    const r = await hypemu(['check', file, '--golden', golden]);
    expect(r.status, r.stderr).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/the run DIFFERS from the golden run$/);
    // Stepped in lockstep: the instruction itself, before it traps, and what it leaves different.
    const mair = /^  registers it leaves different \(golden -> this run\): (mair_el1 0x[0-9a-f]+ -> 0x[0-9a-f]+)$/.exec(lines[6]!);
    expect(mair, lines[6]).not.toBeNull();
    expect(lines.slice(1, 7).join('\n')).toBe(firstDifference(PATCHES.demoMair, { pc, total: at!.insn, registers: mair![1]! }));
    lines.splice(1, 6);
    const all = traceRecords(golden);
    const index = all.findIndex((x) => x.pc === at!.pc) + 1;
    expect(lines[1]).toMatch(
      new RegExp(`^first divergence at instruction ${at!.insn}, PC ${at!.pc} \\(golden: msr mair_el1, x21; this run: msr mair_el1, x20\\): trace record ${index} \\(golden: ${all.length} records, this run: \\d+\\)$`),
    );
    expect(lines[2]).toMatch(/^  expected: \{"type":"exit","insn":\d+.*Rt=21".*"insnText":"msr mair_el1, x21"/);
    expect(lines[3]).toMatch(/^  actual:   \{"type":"exit","insn":\d+.*Rt=20".*"insnText":"msr mair_el1, x20"/);
    expect(lines[4]).toBe('the 3 record(s) before it, the same in both runs:');
    expect(r.stdout).toMatch(/^exit status: 0 in both runs$/m);
    const kept = /^this run's files \(console.txt, trace.jsonl, stats.json\): (\S+)$/m.exec(r.stdout)?.[1];
    expect(kept).toBeDefined();
    expect(readFileSync(join(kept!, 'trace.jsonl'), 'utf8')).toContain('msr mair_el1, x20');
    expect(r.stdout).toMatch(/\(the image .*demo-patched.elf is not the one recorded: sha256 [0-9a-f]{12}, recorded [0-9a-f]{12}\)/);
  });

  it('a change that traps nowhere and shows in no output (bench-loop: add x1, x1, #1 -> #2) is reported at that instruction', async () => {
    // Under --max-insns 1e7 both runs end at the limit with the same trace, console and stats:
    // only the register state tells them apart.
    const { pc, file } = patched(PATCHES.benchAdd, dir);
    const g = join(dir, 'bench-loop');
    expect((await hypemu(['record', guest('bench-loop'), '--golden', g, '--max-insns', '1e7', '-q'])).status).toBe(0);
    // Where the add first runs: the library's exact run to a PC.
    const m = await Machine.create({ image: guest('bench-loop'), quiet: true });
    const first = (await m.run({ until: { pc } })).instructions;
    await m.dispose();
    expect(first).toBeGreaterThan(1000); // after the greeting's printf (its UART exits)

    const r = await hypemu(['check', file, '--golden', g]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain([
      firstDifference(PATCHES.benchAdd, { pc, total: first, registers: 'x1 0x1 -> 0x2' }),
      'trace: the same in both runs',
      'console: the same in both runs',
      'stats: the same in both runs',
      'exit status: 124 in both runs',
    ].join('\n'));
    // The library: the same as data.
    const lib = await checkGolden(g, { image: file });
    expect(lib).toMatchObject({ ok: false, divergence: null, stateWindow: { from: 0, to: 4_000_000 }, instruction: { instructions: first, pc: pcHex(pc), kind: 'instruction' } });
    expect(lib.instruction!.registers).toEqual([{ name: 'x1', golden: '0x1', actual: '0x2' }]);
  });

  it('the reference image: kept in the directory (--keep-image), or --recorded-image; without it, the window', async () => {
    const pc = listingAddress(PATCHES.benchAdd.guest, PATCHES.benchAdd.at);
    const patchedFile = join(dir, 'bench-loop-patched.elf');
    // Recorded from a file that is then rebuilt (here: overwritten with the patched image).
    const build = join(dir, 'build.elf');
    copyFileSync(guest('bench-loop'), build);
    const g = join(dir, 'rebuilt');
    expect((await hypemu(['record', build, '--golden', g, '--max-insns', '1e7', '-q'])).status).toBe(0);
    copyFileSync(patchedFile, build);
    const gone = await hypemu(['check', '--golden', g]);
    expect(gone.status).toBe(1);
    expect(gone.stdout).toMatch(/^register state: the register state agreed at instruction 0 and differed by instruction 4000000; the recorded image is not available to step through .*record with --keep-image, or pass it to check with --recorded-image FILE$/m);
    const given = await hypemu(['check', '--golden', g, '--recorded-image', guest('bench-loop')]);
    expect(given.stdout).toContain(`PC ${pcHex(pc)} (EL1)`);
    expect(given.stdout).toContain('  this run: add x1, x1, #2 (0x91000821)');

    const kept = join(dir, 'kept');
    copyFileSync(guest('bench-loop'), build);
    expect((await hypemu(['record', build, '--golden', kept, '--max-insns', '1e7', '--keep-image', '-q'])).status).toBe(0);
    const meta = JSON.parse(readFileSync(join(kept, 'golden.json'), 'utf8'));
    expect(meta).toMatchObject({ image: 'image.elf', source: '../build.elf' });
    expect(readFileSync(join(kept, 'image.elf')).equals(readFileSync(guest('bench-loop')))).toBe(true);
    copyFileSync(patchedFile, build);
    expect((await hypemu(['check', '--golden', kept, '-q'])).status).toBe(0); // it runs its own copy
    const vsBuild = await hypemu(['check', build, '--golden', kept]);
    expect(vsBuild.stdout).toContain('  this run: add x1, x1, #2 (0x91000821)');
  });

  it('the same image, another state (what changed is hypemu): the window, not stepped; --ignore checkpoints', async () => {
    const g = join(dir, 'bench-loop');
    const file = join(g, 'checkpoints.bin');
    const cp = readFileSync(file);
    const bad = Buffer.from(cp);
    expect(cp.length).toBe(2 * 8); // at 4M and 8M of the 10M instructions
    bad[8] ^= 1; // the second fingerprint
    writeFileSync(file, bad);
    const r = await hypemu(['check', '--golden', g]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('register state: the register state agreed at instruction 4000000 and differed by instruction 8000000; the image is the one recorded, so what changed is hypemu (or the host), not the guest: not stepped');
    expect((await hypemu(['check', '--golden', g, '--ignore', 'checkpoints', '-q'])).status).toBe(0);
    writeFileSync(file, cp);
  });

  it('a console change is a unified diff; stats fields that differ are named; --ignore drops fields', async () => {
    const g2 = join(dir, 'hello');
    expect((await hypemu(['record', guest('hello'), '--golden', g2, '-q'])).status).toBe(0);
    // Make the golden say something else: one console line, the records' cycles and a stats field.
    const consoleFile = join(g2, 'console.txt');
    const text = readFileSync(consoleFile, 'utf8');
    const firstLine = text.split('\n')[0]!;
    writeFileSync(consoleFile, text.replace(firstLine, 'a line the guest never printed'));
    const r = await hypemu(['check', '--golden', g2]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('trace: the same in both runs');
    expect(r.stdout).toContain('console: differs (unified diff below)');
    expect(r.stdout).toContain(`--- ${g2}/console.txt\n+++ actual console\n@@ -1`);
    expect(r.stdout).toContain(`-a line the guest never printed\n+${firstLine}\n`);
    writeFileSync(consoleFile, text);

    const traceFile = join(g2, 'trace.jsonl.gz');
    const trace = gunzipSync(readFileSync(traceFile)).toString();
    writeFileSync(traceFile, gzipSync(trace.replace(/"cycles":(\d+)/g, (_m, c) => `"cycles":${Number(c) + 1}`)));
    const statsFile = join(g2, 'stats.json');
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    stats.cost.modelCycles += 7;
    writeFileSync(statsFile, JSON.stringify(stats, null, 2) + '\n');
    const d = await hypemu(['check', '--golden', g2]);
    expect(d.status).toBe(1);
    expect(d.stdout).toMatch(/^first divergence at instruction \d+, PC 0x[0-9a-f]{16} \(.+\): trace record \d+/m);
    expect(d.stdout).toMatch(/^stats: 1 field\(s\) differ: cost\.modelCycles: (\d+) -> \d+$/m);
    const ign = await hypemu(['check', '--golden', g2, '--ignore', 'cycles', '--ignore', 'cost.modelCycles']);
    expect(ign.status, ign.stdout).toBe(0);
  });

  it('a changed image that never ends is stopped near the golden\'s count and reported (exit 1), not run forever', async () => {
    const { pc, file: spinning } = patched(PATCHES.helloSpins, dir, 'spins');
    const g = join(dir, 'hello-ends');
    expect((await hypemu(['record', guest('hello'), '--golden', g, '-q'])).status).toBe(0);
    const meta = JSON.parse(readFileSync(join(g, 'golden.json'), 'utf8'));
    expect(meta).toMatchObject({ status: 0, end: { kind: 'guest-exit' } });
    const limit = meta.instructions + Math.max(1_000_000, Math.ceil(meta.instructions / 8));

    const r = await hypemu(['check', spinning, '--golden', g]);
    expect(r.status, r.stderr).toBe(1);
    const pcText = pcHex(pc);
    expect(r.stdout).toMatch(new RegExp(`^first instruction that differs: after \\d+ instructions, PC ${pcText} \\(EL1\\)$`, 'm'));
    expect(r.stdout).toContain('  golden:   mov x1, x0 (0xaa0003e1)\n  this run: b #' + pcText.replace(/^0x0+/, '0x') + ' (0x14000000)\n  the instruction itself differs');
    expect(r.stdout).toContain(`this run did not end: stopped after ${limit} instructions (the golden run ended after ${meta.instructions}, exit status 0; a check runs at most an eighth more, at least 1,000,000)`);
    expect(r.stdout).toMatch(/^exit status: expected 0, actual 124$/m);
    // The library: the same verdict as data.
    const lib = await checkGolden(g, { image: spinning });
    expect(lib).toMatchObject({ ok: false, stoppedAt: limit, status: { expected: 0, actual: 124 }, instruction: { pc: pcText, kind: 'instruction' } });
    expect((await checkGolden(g)).stoppedAt).toBeNull();
  });

  it('--smp: a one-instruction change run by a secondary vCPU is reported at that instruction and vCPU', async () => {
    const { pc, file } = patched(PATCHES.smpStack, dir);
    const g = join(dir, 'smp-ipi');
    expect((await hypemu(['record', guest('smp-ipi'), '--golden', g, '--smp', '2', '-q'])).status).toBe(0);
    // Where vCPU 1 runs it, in both counts: the library's exact run to the PC.
    const m = await Machine.create({ image: guest('smp-ipi'), smp: 2, quiet: true });
    const total = (await m.run({ until: { pc } })).instructions;
    const own = m.board.vcpus[1]!.instructions;
    expect(m.board.vcpus[1]!.pc).toBe(pc);
    await m.dispose();
    expect(own).toBeGreaterThan(0);
    expect(total).toBeGreaterThan(own);

    const r = await hypemu(['check', file, '--golden', g]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain(firstDifference(PATCHES.smpStack, { pc, total, vcpu: { index: 1, own }, registers: 'vCPU 1 x3 0x2 -> 0x3' }));
    const lib = await checkGolden(g, { image: file });
    expect(lib.instruction).toMatchObject({ instructions: total, vcpu: 1, vcpuInstructions: own, smp: true, pc: pcHex(pc), kind: 'instruction' });
  });

  it('the library: checkGolden(dir) gives the verdict and the divergence as data', async () => {
    const patchedFile = join(dir, 'demo-patched.elf');
    const same = await checkGolden(golden);
    expect(same).toMatchObject({ ok: true, divergence: null, consoleDiff: '', statsDiffs: [], actualDir: null });
    const diff = await checkGolden(golden, { image: patchedFile });
    expect(diff.ok).toBe(false);
    expect(diff.divergence).toMatchObject({ insnText: 'golden: msr mair_el1, x21; this run: msr mair_el1, x20' });
    expect(diff.divergence!.pc).toBe(pcHex(listingAddress(PATCHES.demoMair.guest, PATCHES.demoMair.at)));
  });

  it('bad input: one line, status 64', async () => {
    const none = await hypemu(['check', '--golden', join(dir, 'missing')]);
    expect(none.status).toBe(64);
    expect(none.stderr).toBe(`hypemu: --golden ${join(dir, 'missing')}: no golden.json (record one with \`hypemu record IMAGE --golden DIR\`)\n`);
    const noImage = await hypemu(['record', '--golden', join(dir, 'new'), '--mair-mangle']);
    expect(noImage.status).toBe(64);
    expect(noImage.stderr).toMatch(/^hypemu: record: an IMAGE is required/);
    const outOpt = await hypemu(['record', guest('demo'), '--golden', join(dir, 'x'), '--trace', 't.jsonl']);
    expect(outOpt.status).toBe(64);
    expect(outOpt.stderr).toMatch(/^hypemu: unknown option '--trace'/);
  });
});
