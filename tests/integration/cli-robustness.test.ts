/** Runs that end cleanly whatever the user does (issue 9): signals, bad values, bad output paths, gzip bombs. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CLI, guest, hypemu } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'hypemu-robust-'));

describe('signals end a run at the next slice, with the stats written', () => {
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: exit ${status}, one line naming the instruction count, stats JSON`, async () => {
      const stats = join(tmp(), 's.json');
      const p = spawn('node', [CLI, 'run', guest('bench-loop'), '-q', '--stats-json', stats], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      // Wait for the guest's banner, so the signal arrives while it runs.
      await new Promise<void>((r) => p.stdout.on('data', () => r()));
      p.kill(signal);
      const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
      expect(code).toBe(status);
      const lines = err.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^hypemu: stopped by ${signal} after (\\d+) instructions .*exit status ${status}\\)$`));
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      expect(s.halt).toEqual({ kind: 'signal', signal });
      expect(s.instructions).toBe(Number(/after (\d+) instructions/.exec(lines[0]!)![1]));
      expect(out).toContain('bench-loop');
    });
  }
});

describe('diagnostics through pino', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('node', [CLI, 'run', guest('hello'), '-q', ...args], { encoding: 'utf8', input: '', env: { ...process.env, ...env } });
  it('--log-level / HYPEMU_LOG select the level; JSON lines when stderr is not a terminal', () => {
    expect(run([]).stderr).toBe(''); // default level warn: nothing to say
    const info = run(['--log-level', 'info']);
    const rec = JSON.parse(info.stderr.trim().split('\n')[0]!);
    expect(rec).toMatchObject({ level: 30, name: 'hypemu', msg: 'machine built: virt board, EL2 model attached', mode: 'vhe' });
    expect(info.stdout).toContain('Hello from hypemu guest!'); // the console never goes through the logger
    expect(info.stdout).not.toContain('"level"');
    expect(run([], { HYPEMU_LOG: 'debug' }).stderr).toMatch(/"level":20,.*"msg":"image .*hello.elf laid out"/);
  });
  it('human-readable lines on a terminal (HYPEMU_LOG_FORMAT=pretty forces it here)', () => {
    expect(run(['--log-level', 'info'], { HYPEMU_LOG_FORMAT: 'pretty' }).stderr).toMatch(/^hypemu: info: machine built: virt board, EL2 model attached \(mode=vhe, /);
  });
});

describe('exit reports', () => {
  it('a fault names the instruction the guest stopped on (Capstone)', async () => {
    // ldp x0, x1, [x2] with x2 = the UART: an MMIO pair without a syndrome, which stops the run,
    // or, once such accesses are emulated, a read of two UART registers and then the HVC exit.
    const f = join(tmp(), 'fault.bin');
    const words = [0xd2a12002 /* movz x2, #0x900, lsl #16 */, 0xa9400440 /* ldp x0, x1, [x2] */, 0xd2800000 /* mov x0, #0 */, 0xd4000002 /* hvc #0 (PSCI version) */, 0x14000000 /* b . */];
    writeFileSync(f, Buffer.from(Uint32Array.from(words).buffer));
    const r = await hypemu(['run', f, '--max-insns', '100000']);
    if (r.status === 125) expect(r.stderr).toMatch(/guest stopped: .*\(PC 0x0000000040080004: ldp x0, x1, \[x2\]\) after/);
    else expect(r.status).toBe(124);
  });
});

describe('bad values and paths: one line, status 64, before the guest runs', () => {
  it('an unwritable --stats-json is refused before the guest starts', async () => {
    for (const path of ['/nonexistent-dir/s.json', tmpdir()]) {
      const r = await hypemu(['run', guest('hello'), '--stats-json', path]);
      expect(r.status).toBe(64);
      expect(r.stdout).toBe(''); // the guest never ran
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^hypemu: --stats-json /);
    }
  });
  it('numbers in the forms the README shows', async () => {
    expect((await hypemu(['run', guest('hello'), '-q', '--max-insns', '1e9'])).status).toBe(0);
    expect((await hypemu(['run', guest('hello'), '-q', '--max-insns', '1_000'])).status).toBe(124);
    expect((await hypemu(['run', guest('hello'), '-q', '--max-insns', '0x100'])).status).toBe(124);
  });
  it('bad option values', async () => {
    const cases: [string[], RegExp][] = [
      [['--max-insns', 'lots'], /^hypemu: --max-insns: 'lots' is not a number/],
      [['--load', '0x40080004'], /^hypemu: --load: 0x40080004 is not 4 KiB aligned/],
      [['--mem', '12Q'], /^hypemu: --mem: '12Q' is not a size/],
      [['--mem', '2T'], /^hypemu: --mem: 2048 GiB does not fit the 40-bit IPA space/],
      [['--format', 'exe'], /^hypemu: option '--format <FMT>' argument 'exe' is invalid/],
      [['--bogus'], /^hypemu: unknown option '--bogus'/],
      [['--gdb', '70000'], /^hypemu: --gdb: '70000' is not a TCP port/],
    ];
    for (const [args, re] of cases) {
      const r = await hypemu(['run', guest('hello'), ...args]);
      expect(r.status, args.join(' ')).toBe(64);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });
  it('a gzip that inflates past the RAM size stops at the RAM size', async () => {
    const f = join(tmp(), 'bomb.gz');
    writeFileSync(f, gzipSync(Buffer.alloc(48 << 20), { level: 9 }));
    const r = await hypemu(['run', f, '--mem', '32M']);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/^hypemu: .*decompresses to more than the RAM size \(32 MiB\); decompression stopped there\n$/);
    expect(existsSync(f)).toBe(true);
  });
});

describe('a reader that closes stdout early', () => {
  it('`hypemu run --help | head -1` prints one line, exits 0, no stack trace', () => {
    const r = spawnSync('sh', ['-c', `node ${CLI} run --help | head -1; exit $(( $? ))`], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^Usage: hypemu run/);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|at .*\.js:\d+/);
  });
});
