/**
 * `hypemu run`: build the board, plug in the hypervisor model, load an image,
 * run it to the end, report. Exit codes are documented in EXIT_CODES.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtMachine } from '../emulator/platform/virt.js';
import { loadImage, ImageError, type LoadedImage } from '../emulator/platform/loader.js';
import { buildVirtDtb } from '../emulator/platform/virt-dt.js';
import { DEFAULT_RAM_SIZE, VIRT } from '../emulator/platform/memmap.js';
import type { HaltReason } from '../emulator/cpu/exits.js';
import { NS_PER_INSN } from '../emulator/cpu/vcpu.js';
import { Hypervisor, type HypervisorConfig } from '../hyp/hypervisor.js';
import { UsageError } from './parse.js';
import { formatWalk, type WalkReport } from '../emulator/mmu/walk-report.js';
import { translate } from '../emulator/cpu/mmu-translator.js';
import { hexVa, vaFromBigint } from '../emulator/types.js';

/** Process exit status for each way a run can end (also in `hypemu run --help` and the README). */
export const EXIT_CODES = {
  /** PSCI SYSTEM_OFF / SYSTEM_RESET, or the guest's own status through HVC 0xC600_0001. */
  ok: 0,
  badInput: 64,
  insnLimit: 124,
  guestFault: 125,
  internal: 70,
} as const;

export interface RunOptions {
  image?: string;
  load?: number;
  entry?: number;
  mem?: number;
  maxInsns?: number;
  statsJson?: string;
  quiet?: boolean;
  format?: 'auto' | 'raw' | 'elf' | 'linux';
  append?: string;
  initrd?: string;
  /** Virtual addresses whose translation is reported at the end of the run (--walk). */
  walk?: bigint[];
  /** EL2 model configuration (--hyp-mode, --mair-mangle, --default-cacheable, --device-s2, --cost). */
  hyp?: Partial<HypervisorConfig>;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'guest-images'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export const DEFAULT_GUEST = 'guest-images/build/demo.elf';

export function defaultGuestPath(): string {
  return join(packageRoot(), DEFAULT_GUEST);
}

function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new UsageError(`${what} ${path}: ${why}`);
  }
}

/**
 * stdout closed by the reader (`hypemu run ... | head`): stop writing the
 * console, keep running, no stack trace.
 */
let stdoutClosed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') stdoutClosed = true;
  else throw e;
});

/** Collects UART bytes and writes them to stdout in chunks (one write per byte is slow). */
class ConsoleSink {
  private buf = new Uint8Array(4096);
  private len = 0;
  readonly all: number[] = [];
  constructor(private readonly out: (b: Uint8Array) => void) {}
  put = (byte: number): void => {
    this.buf[this.len++] = byte;
    if (this.len === this.buf.length || byte === 0x0a) this.flush();
  };
  flush(): void {
    if (this.len === 0) return;
    this.out(this.buf.slice(0, this.len));
    this.len = 0;
  }
}

export interface RunResult {
  halt: HaltReason;
  exitCode: number;
  stats: Record<string, unknown>;
}

function describeHalt(h: HaltReason): string {
  switch (h.kind) {
    case 'guest-exit':
      return `guest exited with status ${h.status}`;
    case 'system-off':
      return 'guest powered off (PSCI SYSTEM_OFF)';
    case 'system-reset':
      return 'guest requested a reset (PSCI SYSTEM_RESET); ending the run';
    case 'insn-limit':
      return 'instruction limit reached';
    case 'fault':
      return `guest stopped: ${h.message}`;
    case 'debugger-kill':
      return 'killed from the debugger';
  }
}

export function exitCodeFor(h: HaltReason): number {
  switch (h.kind) {
    case 'guest-exit':
      return h.status;
    case 'system-off':
    case 'system-reset':
    case 'debugger-kill':
      return EXIT_CODES.ok;
    case 'insn-limit':
      return EXIT_CODES.insnLimit;
    case 'fault':
      return EXIT_CODES.guestFault;
  }
}

/** Instructions run between returns to the event loop (stdin, signals, the debugger). */
const CHUNK = 50_000_000;

/** Everything a run needs, built from the options: shared by `run` and the debugger (cli/gdb.ts). */
export interface Session {
  readonly opts: RunOptions;
  readonly machine: VirtMachine;
  readonly hyp: Hypervisor;
  readonly image: LoadedImage;
  readonly imageName: string;
  /** Progress line on stderr unless --quiet. */
  readonly log: (line: string) => void;
  /** Flush buffered guest console output to stdout. */
  readonly flushConsole: () => void;
  /** Host time when the session was created. */
  readonly t0: bigint;
}

export function createSession(opts: RunOptions): Session {
  const imagePath = resolve(opts.image ?? defaultGuestPath());
  if (!opts.image && !existsSync(imagePath)) {
    throw new UsageError(`the default guest ${DEFAULT_GUEST} is not built; run \`npm run setup\` first`);
  }
  const bytes = readInput(imagePath, 'image');
  const initrd = opts.initrd ? readInput(resolve(opts.initrd), 'initrd') : undefined;
  const ramSize = opts.mem ?? DEFAULT_RAM_SIZE;
  if (ramSize < 0x10_0000 || ramSize % 0x1000 !== 0) throw new UsageError(`--mem: must be at least 1M and a multiple of 4K`);
  if (VIRT.RAM.base + ramSize > 2 ** 40) throw new UsageError(`--mem: ${ramSize} bytes does not fit the 40-bit physical address space`);
  const ram = { base: VIRT.RAM.base, size: ramSize };

  let image: LoadedImage;
  try {
    image = loadImage(imagePath, bytes, {
      ram,
      format: opts.format ?? 'auto',
      ...(opts.load !== undefined ? { loadAddr: opts.load } : {}),
      ...(opts.entry !== undefined ? { entry: opts.entry } : {}),
      ...(initrd ? { initrd } : {}),
      dtb: (layout) =>
        buildVirtDtb({
          ramBase: ram.base,
          ramSize: ram.size,
          cpus: 1,
          ...(opts.append ? { bootargs: opts.append } : {}),
          ...(layout.initrd ? { initrd: layout.initrd } : {}),
        }),
    });
  } catch (e) {
    if (e instanceof ImageError) throw new UsageError(e.message);
    throw e;
  }

  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`hypemu: ${s}\n`);
  };
  const sink = new ConsoleSink((b) => {
    if (!stdoutClosed) process.stdout.write(b);
  });
  const machine = new VirtMachine({ ramSize, uartOut: sink.put });
  const hyp = new Hypervisor(opts.hyp ?? {});
  hyp.attach(machine.vcpu, { ram, passthrough: VIRT.PASSTHROUGH });
  machine.virtualOffset = () => hyp.el2.get('CNTVOFF_EL2');
  machine.boot(image);
  const imageName = opts.image ?? DEFAULT_GUEST;
  log(`${image.format} image ${imageName}, entry 0x${image.entry.toString(16)}, RAM ${ramSize >> 20} MiB at 0x${ram.base.toString(16)}`);
  return { opts, machine, hyp, image, imageName, log, flushConsole: () => sink.flush(), t0: process.hrtime.bigint() };
}

/** Report the end of a run: statistics, the stats JSON file, the exit status. Closes the machine. */
export function finishSession(session: Session, halt: HaltReason): RunResult {
  const { machine, hyp, opts } = session;
  session.flushConsole();
  const vcpu = machine.vcpu;
  const hostNs = Number(process.hrtime.bigint() - session.t0);
  const stats = {
    image: session.imageName,
    halt,
    instructions: vcpu.instructions,
    // Instructions plus the time skipped while idle in WFI (see README: virtual time).
    virtualTimeNs: vcpu.instructions * NS_PER_INSN + vcpu.idleNs,
    idleNs: vcpu.idleNs,
    exceptions: vcpu.exceptions,
    ...hyp.toJSON(),
    tlb: {
      fills: vcpu.fills,
      refused: vcpu.refusedFills,
      modelFills: vcpu.translator.tlb.stats.fills,
      modelHits: vcpu.translator.tlb.stats.hits,
      flushes: vcpu.tlbFlushes,
      guestTlbi: vcpu.tlbiCount,
      faults: vcpu.translator.tlb.stats.faults,
      faultsByStage: { stage1: vcpu.translator.tlb.stats.faultsByStage[1], stage2: vcpu.translator.tlb.stats.faultsByStage[2] },
    },
    host: { wallNs: hostNs, mips: hostNs > 0 ? Math.round((vcpu.instructions / hostNs) * 1000 * 10) / 10 : 0 },
  };
  const walks: Record<string, WalkReport> = {};
  for (const va of opts.walk ?? []) {
    const key = hexVa(vaFromBigint(va));
    const r = translate(vcpu, va);
    walks[key] = r;
    if (!opts.quiet) process.stderr.write(formatWalk(r) + '\n');
  }
  if (opts.walk?.length) (stats as Record<string, unknown>).walks = walks;
  const exitCode = exitCodeFor(halt);
  session.log(`${describeHalt(halt)} after ${vcpu.instructions} instructions (${(hostNs / 1e6).toFixed(1)} ms host, exit status ${exitCode})`);
  if (opts.statsJson) {
    try {
      writeFileSync(opts.statsJson, JSON.stringify(stats, null, 2) + '\n');
    } catch (e) {
      throw new UsageError(`--stats-json ${opts.statsJson}: ${(e as Error).message}`);
    }
  }
  machine.close();
  return { halt, exitCode, stats };
}

export async function runCommand(opts: RunOptions): Promise<RunResult> {
  const session = createSession(opts);
  const { machine } = session;
  const input = new ConsoleInput((bytes) => machine.uart.pushInput(bytes));
  const vcpu = machine.vcpu;
  vcpu.returnWhenIdle = true;
  const limit = opts.maxInsns ?? Number.MAX_SAFE_INTEGER;
  let halt: HaltReason | null = null;
  try {
    while (halt === null) {
      const left = limit - vcpu.instructions;
      if (left <= 0) {
        halt = { kind: 'insn-limit' };
        break;
      }
      halt = vcpu.runFor(Math.min(CHUNK, left));
      session.flushConsole();
      if (halt !== null) break;
      if (vcpu.idleWaiting) {
        // WFI with no timer armed and no interrupt pending: only console input
        // can wake the guest. Sleep until some arrives (no host core spins);
        // virtual time stands still meanwhile. With the input ended, nothing
        // ever will.
        if (!(await input.waitForData())) {
          halt = { kind: 'fault', message: 'guest waits in WFI with no timer armed and the console input has ended: it can never wake' };
        }
      } else if (input.live) {
        await new Promise((r) => setImmediate(r));
      }
    }
  } finally {
    session.flushConsole();
    input.close();
  }
  return finishSession(session, halt);
}

/**
 * The UART's receive side fed from stdin: a terminal (raw mode) or a pipe or
 * file. Bytes reach the guest when the run loop next yields to the event loop,
 * so the virtual time at which input arrives depends on the host: a run with
 * input that comes while the guest runs is not deterministic (input queued
 * before the guest reads it, as from a file, is seen at the guest's next read).
 */
class ConsoleInput {
  private ended = false;
  private wake: ((gotData: boolean) => void) | null = null;
  private readonly tty = process.stdin.isTTY === true;
  private readonly onData = (d: Buffer): void => {
    this.push(new Uint8Array(d));
    this.resolve(true);
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.resolve(false);
  };

  constructor(private readonly push: (bytes: Uint8Array) => void) {
    if (this.tty) process.stdin.setRawMode(true);
    process.stdin.on('data', this.onData);
    process.stdin.on('end', this.onEnd);
    process.stdin.on('error', this.onEnd);
  }

  /** Input may still arrive. */
  get live(): boolean {
    return !this.ended;
  }

  /** Resolves true when input arrived, false when it has ended. */
  waitForData(): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    return new Promise((r) => (this.wake = r));
  }

  private resolve(v: boolean): void {
    const w = this.wake;
    this.wake = null;
    w?.(v);
  }

  close(): void {
    process.stdin.off('data', this.onData);
    process.stdin.off('end', this.onEnd);
    process.stdin.off('error', this.onEnd);
    if (this.tty) process.stdin.setRawMode(false);
    process.stdin.pause();
  }
}
