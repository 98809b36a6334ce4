/**
 * A machine: the virt board (emulator/platform/virt.ts), the EL2 model (hyp/) and its statistics,
 * assembled from a typed configuration (machine/config.ts). The CLI (`hypemu run`), the debugger
 * (--gdb) and library users (`import { Machine } from 'hypemu'`) all build runs through it, run
 * them through its one run loop, and map their end to an exit status with machine/exit-status.ts.
 *
 * Nothing here writes to the process's stdout or stderr: the guest's console goes to `console`
 * listeners and to `io.console`, progress lines to `io.log`; the CLI connects those.
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { VirtMachine } from '../emulator/platform/virt.js';
import { loadImage, ImageError, type LoadedImage } from '../emulator/platform/loader.js';
import { buildVirtDtb, dtRandomness } from '../emulator/platform/virt-dt.js';
import { SeededRandom } from '../emulator/devices/rng.js';
import { VIRT } from '../emulator/platform/memmap.js';
import { translate } from '../emulator/cpu/mmu-translator.js';
import { formatWalk, type WalkReport } from '../emulator/mmu/walk-report.js';
import { formatNestedWalk, type NestedWalkReport } from '../hyp/nested/walk.js';
import { hexPa, hexVa, vaFromBigint, vaToBigint } from '../emulator/types.js';
import { logger, setLogLevel } from '../emulator/log.js';
import { Reg } from '../emulator/unicorn/uc.js';
import { VcpuTarget } from '../emulator/debug/vcpu-target.js';
import { disassemble, loadDisassembler } from '../emulator/debug/disasm.js';
import { Hypervisor } from '../hyp/hypervisor.js';
import { resolveConfig, sizeText, type MachineConfig, type ResolvedConfig } from './config.js';
import { ConsoleSink } from './console.js';
import { ConfigError } from './errors.js';
import { HostMemoryError } from '../emulator/unicorn/uc.js';
import { ExitObserver, type ExitEvent, type InterruptEvent, type MachineEventMap, type MachineEventName } from './events.js';
import { SR } from '../emulator/cpu/sysregs.js';
import { describeEnd, exitCodeFor, type RunEnd } from './exit-status.js';
import { collectStats, type MachineStats } from './stats.js';
import { serveGdb } from './gdb.js';
import { checkWritable } from './output-files.js';
import { TraceWriter } from './trace.js';
import { PerfettoTraceWriter } from './trace-perfetto.js';
import { parseSnapshot, restoreSnapshot, takeSnapshot, type ParsedSnapshot } from './snapshot.js';
import { SnapshotFormatError } from '../emulator/snapshot/state.js';
import { SmpVm } from './smp.js';

/** Options a restored run may take: they limit or record the run, they do not change the machine. */
const RESTORE_OPTIONS = new Set<string>(['maxInsns', 'statsJson', 'quiet', 'walk', 'logLevel', 'snapshotAt', 'snapshot', 'trace', 'traceFilter', 'traceFormat']);

/** Where a Machine's output goes. The library default is nowhere (use the events); the CLI connects stdout and stderr. */
export interface MachineIo {
  /** Raw guest console bytes, in order (the CLI: stdout). */
  console?: (chunk: Uint8Array) => void;
  /** Human progress lines without a trailing newline (the CLI: stderr unless --quiet). */
  log?: (line: string) => void;
  /** Diagnostics that must reach the user even under --quiet (the GDB port being waited on). */
  notice?: (line: string) => void;
  /**
   * 'open': console input may still come (sendConsole) until endConsoleInput(), so a guest idle in
   * WFI with nothing else to wake it waits for it (the CLI with stdin). 'closed' (the default):
   * all input is whatever sendConsole() gave before, and such a guest can never wake: the run ends
   * as a fault.
   */
  consoleInput?: 'open' | 'closed';
  /**
   * The console is read as it comes, line by line (the CLI: stdout is a terminal): each line
   * is handed on when complete. Otherwise (a pipe, a file, the library without console
   * listeners or `until: { console }`) output goes in large chunks, at least at every turn of
   * the run loop: the same bytes in the same order, much faster (issue 10: 10 MB/s).
   */
  consoleInteractive?: boolean;
}

/** When run() returns before the guest ends. */
export type Until = 'exit' | { readonly console: RegExp } | { readonly instructions: number } | { readonly pc: bigint | number };

export interface RunResult {
  /** The process exit status this end maps to (README table), or null when run() paused on an `until` condition. */
  readonly status: number | null;
  /** How the run ended (a RunEnd kind), or which `until` condition paused it ('console' | 'instructions' | 'pc'). */
  readonly reason: RunEnd['kind'] | 'console' | 'instructions' | 'pc';
  /** Retired instructions so far. */
  readonly instructions: number;
  /** The full end record when the run ended (e.g. { kind: 'fault', message }), else null. */
  readonly end: RunEnd | null;
}

export interface Registers {
  /** x0..x30 */
  readonly x: readonly bigint[];
  readonly sp: bigint;
  readonly pc: bigint;
  readonly pstate: number;
  /** Current exception level (0 or 1). */
  readonly el: number;
}

/**
 * Instructions per run-loop turn: between turns the event loop runs (stdin, signals, timers).
 * Bounds how late a SIGINT or Ctrl-A x is acted on (tens of ms at tens of MIPS).
 */
const TURN = 4_000_000;
/** Console text kept for `until: { console }` matching. */
const CONSOLE_TAIL = 64 * 1024;

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export class Machine {
  readonly config: ResolvedConfig;
  readonly board: VirtMachine;
  /** vCPU 0's EL2 model (the only one unless --smp). */
  readonly hyp: Hypervisor;
  /** Every vCPU's EL2 model, by vCPU index (one VM: they share the stage 2). */
  readonly hyps: Hypervisor[];
  /** --smp > 1: the PSCI power model and the scheduler over the vCPUs. */
  readonly smp: SmpVm | null;
  /** The image the machine booted, or null for a machine restored from a snapshot. */
  readonly image: LoadedImage | null;
  /** Set when the run has ended: no more guest instructions will run. */
  private ended: RunEnd | null = null;
  private finalResult: RunResult | null = null;
  private stopRequest: RunEnd | null = null;
  private onStopRequest: (() => void) | null = null;
  private readonly sink: ConsoleSink;
  private readonly decoder = new TextDecoder();
  private consoleTail = '';
  /** Bytes at the start of the console sink that a run before the snapshot point printed (see consoleOut). */
  private consolePrinted = 0;
  /** run({ until: { console } }): the pattern, and whether the output matched it. */
  private consoleUntil: RegExp | null = null;
  private consoleMatched = false;
  private readonly t0 = process.hrtime.bigint();
  private readonly listeners: { [K in MachineEventName]: Array<MachineEventMap[K]> } = { exit: [], console: [], interrupt: [] };
  private interruptObserver = false;
  private exitObserver: ExitObserver | null = null;
  private debugTarget: VcpuTarget | null = null;
  private disposed = false;
  private trace: TraceWriter | PerfettoTraceWriter | null = null;
  private inputOpen: boolean;
  private inputWaiter: (() => void) | null = null;
  /** Input came during the last slice (from a console listener): an idle guest must run again, not wait. */
  private inputArrived = false;
  /** --snapshot-at is configured and not reached yet. */
  private snapshotPending: boolean;
  /** The TCP port the GDB stub listens on once run() started it (useful with gdb: 0). */
  gdbPort: number | null = null;

  private constructor(
    config: ResolvedConfig,
    image: LoadedImage | null,
    private readonly io: MachineIo,
  ) {
    this.config = config;
    this.image = image;
    this.inputOpen = io.consoleInput === 'open';
    this.snapshotPending = config.snapshotAt !== undefined;
    this.sink = new ConsoleSink((chunk) => this.consoleOut(chunk));
    try {
      this.board = new VirtMachine({ ramSize: config.ram.size, uartOut: this.sink.put, gic: config.gic, seed: config.seed, cpus: config.smp });
    } catch (e) {
      if (e instanceof HostMemoryError) throw new ConfigError(`--mem ${sizeText(config.ram.size)}: ${e.message}`);
      throw e;
    }
    // One EL2 model per vCPU (KVM's kvm_vcpu), the first one's stage 2 shared by all (struct kvm).
    this.hyp = new Hypervisor(config.hyp);
    this.hyps = [this.hyp];
    for (let i = 1; i < config.smp; i++) this.hyps.push(new Hypervisor(config.hyp, { stage2: this.hyp.stage2 }));
    this.board.vcpus.forEach((v, i) => {
      const hyp = this.hyps[i]!;
      hyp.attach(v, { ram: config.ram, passthrough: VIRT.PASSTHROUGH, console: i === 0 ? this.board.uartWindow : null });
      // MDCR_EL2.HPMN = PMCR_EL0.N: all event counters belong to the guest, as KVM sets it
      // (kvm_arm_setup_mdcr_el2 keeps the host's HPMN); TPM/TPMCR clear.
      hyp.el2.set('MDCR_EL2', (hyp.el2.get('MDCR_EL2') & ~0x1fn) | BigInt(this.board.cpus[i]!.pmu.n));
      // A WFI with no interrupt pending and no timer armed returns from runFor (vcpu.idleWaiting):
      // only console input can wake the guest, and the run loop waits for it without spinning.
      v.returnWhenIdle = true;
    });
    this.board.virtualOffset = (i) => this.hyps[i]!.el2.get('CNTVOFF_EL2');
    this.board.debugControl = (i) => this.hyps[i]!.el2.get('MDCR_EL2');
    this.smp = config.smp > 1 ? new SmpVm(this.board, this.hyps) : null;
    if (image !== null) this.board.boot(image);
  }

  /**
   * Validate the configuration, read and load the image, build the board and the hypervisor.
   * Bad input (an option value, a missing or malformed image) is a ConfigError with one line.
   */
  static async create(config: MachineConfig = {}, io: MachineIo = {}): Promise<Machine> {
    const c = resolveConfig(config);
    if (c.logLevel !== undefined) setLogLevel(c.logLevel);
    if (c.statsJson !== undefined) checkWritable(c.statsJson, '--stats-json');
    if (c.trace !== undefined) checkWritable(c.trace, '--trace');
    if (c.snapshotFile !== undefined) checkWritable(c.snapshotFile, '--snapshot');
    const bytes = await readInput(c.imagePath, 'image');
    const initrd = c.initrdPath !== undefined ? await readInput(c.initrdPath, 'initrd') : undefined;
    let image: LoadedImage;
    // /chosen kaslr-seed and rng-seed: a stream of --seed of their own (RNDR draws from another).
    const dtSeeds = new SeededRandom(c.seed, 'dt');
    try {
      image = loadImage(c.imagePath, bytes, {
        ram: c.ram,
        format: c.format,
        ...(c.load !== undefined ? { loadAddr: c.load } : {}),
        ...(c.entry !== undefined ? { entry: c.entry } : {}),
        ...(initrd ? { initrd } : {}),
        dtb: (layout) =>
          buildVirtDtb({
            ramBase: c.ram.base,
            ramSize: c.ram.size,
            cpus: c.smp,
            gic: c.gic,
            ...(c.append !== undefined ? { bootargs: c.append } : {}),
            ...(layout.initrd ? { initrd: layout.initrd } : {}),
            randomness: dtRandomness(() => dtSeeds.next64(), (n) => dtSeeds.bytes(n)),
          }),
      });
    } catch (e) {
      if (e instanceof ImageError) throw new ConfigError(e.message);
      throw e;
    }
    logger.debug(
      { format: image.format, entry: hexVa(image.entry), segments: image.segments.map((g) => `${hexPa(g.addr)}+0x${g.data.length.toString(16)}`), dtb: image.dtbAddr !== undefined ? hexPa(image.dtbAddr) : null },
      `image ${c.imageName} laid out`,
    );
    const m = new Machine(c, image, io);
    logger.info(
      { mode: c.hyp.mode, mairMangle: c.hyp.mairMangle, defaultCacheable: c.hyp.defaultCacheable, deviceS2: c.hyp.deviceS2, stage2: c.hyp.stage2Mapping, fastPath: c.hyp.fastPath, ram: `${c.ram.size >> 20} MiB` },
      'machine built: virt board, EL2 model attached',
    );
    m.log(`${image.format} image ${c.imageName}, entry 0x${image.entry.toString(16)}, RAM ${sizeText(c.ram.size)} at 0x${c.ram.base.toString(16)}`);
    await m.attachTrace();
    return m;
  }

  /** --trace: the trace writer listens to the machine's events. */
  private async attachTrace(): Promise<void> {
    const c = this.config;
    if (c.trace === undefined) return;
    await loadDisassembler(); // the trace names each trapping instruction
    const t = c.traceFormat === 'perfetto' ? new PerfettoTraceWriter(c.trace, c.traceFilter, () => this.counters()) : new TraceWriter(c.trace, this.board.vcpus, c.traceFilter);
    this.trace = t;
    this.on('exit', t.exit).on('interrupt', t.interrupt).on('console', t.console);
  }

  /**
   * A machine continuing from a snapshot file (`hypemu run --restore FILE`): built from the
   * configuration the snapshot recorded, every component's state put back. `config` may hold only
   * options that do not change the machine (RESTORE_OPTIONS: limits, outputs, a further
   * snapshot); anything else, or a corrupt or foreign file, is a one-line ConfigError.
   */
  static async restore(file: string, config: MachineConfig = {}, io: MachineIo = {}): Promise<Machine> {
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    for (const [k, v] of Object.entries(config)) {
      if (v !== undefined && !RESTORE_OPTIONS.has(k)) {
        throw new ConfigError(`--restore: ${k === 'image' ? 'an image' : `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`} would change the machine; a restored run takes it from the snapshot`);
      }
    }
    let parsed: ParsedSnapshot;
    try {
      // Header and JSON only: the pages are mapped from the file by restoreSnapshot.
      parsed = parseSnapshot(file);
    } catch (e) {
      if (e instanceof SnapshotFormatError) throw new ConfigError(`snapshot ${file}: ${e.message}`);
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== undefined) throw new ConfigError(`snapshot ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
      throw e;
    }
    let m: Machine;
    try {
      const c: ResolvedConfig = { ...resolveConfig({ ...config, image: parsed.shape.imagePath }), ...parsed.shape };
      if (c.logLevel !== undefined) setLogLevel(c.logLevel);
      if (c.snapshotAt !== undefined && c.snapshotAt <= parsed.instructions) {
        throw new ConfigError(`--snapshot-at ${c.snapshotAt}: the snapshot is already at instruction ${parsed.instructions}`);
      }
      if (c.statsJson !== undefined) checkWritable(c.statsJson, '--stats-json');
      if (c.snapshotFile !== undefined) checkWritable(c.snapshotFile, '--snapshot');
      if (c.trace !== undefined) checkWritable(c.trace, '--trace');
      m = new Machine(c, null, io);
    } catch (e) {
      parsed.file.close();
      throw e;
    }
    try {
      restoreSnapshot(m.board, m.hyp, parsed);
      m.sink.preload(parsed.console);
      m.consolePrinted = parsed.console.length;
    } catch (e) {
      await m.dispose();
      throw new ConfigError(`snapshot ${file}: ${(e as Error).message}`);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    m.log(`restored ${file} (hypemu ${parsed.hypemu}, image ${m.config.imageName}, at instruction ${m.instructions}) in ${ms.toFixed(1)} ms (${((cpu.user + cpu.system) / 1000).toFixed(1)} ms CPU)`);
    await m.attachTrace();
    return m;
  }

  /**
   * Save the whole machine to `file` now, between two instructions (after run() paused, e.g. on
   * `until: { instructions: n }`). The machine's translation caches are dropped, as a restore
   * starts with them cold, so this run and a restored one continue identically.
   */
  async snapshot(file: string): Promise<void> {
    if (this.disposed) throw new Error('machine disposed');
    if (this.ended !== null) throw new ConfigError('--snapshot: the run has ended; nothing to continue from');
    // RAM pages are views: the file is written before the guest runs on.
    const bytes = Buffer.concat(takeSnapshot(this.board, this.hyp, this.config, { instructions: this.instructions, console: this.sink.pending() }));
    this.board.vcpu.dropCachedTranslations();
    // A new file, renamed over the old one: a run restored from the old file maps its pages and
    // must not see them change under it.
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw new ConfigError(`--snapshot ${file}: ${(e as Error).message}`);
    }
    this.log(`snapshot at instruction ${this.instructions} written to ${file} (${(bytes.byteLength / 1048576).toFixed(1)} MiB)`);
  }

  // ------------------------------------------------------------------ events

  on<K extends MachineEventName>(event: K, listener: MachineEventMap[K]): this {
    (this.listeners[event] as Array<MachineEventMap[K]>).push(listener);
    if (event === 'exit') this.updateExitObserver();
    if (event === 'interrupt') this.observeInterrupts();
    if (event === 'console') this.updateConsoleMode();
    return this;
  }

  off<K extends MachineEventName>(event: K, listener: MachineEventMap[K]): this {
    const list = this.listeners[event] as Array<MachineEventMap[K]>;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (event === 'exit') this.updateExitObserver();
    if (event === 'console') this.updateConsoleMode();
    return this;
  }

  /** The exit observers stand between the vCPUs and their models only while someone listens. */
  private updateExitObserver(): void {
    const vcpus = this.board.vcpus;
    if (this.listeners.exit.length > 0 && this.exitObserver === null) {
      vcpus.forEach((v, i) => {
        const o = new ExitObserver(this.hyps[i]!, (e) => this.emitExit(e), i);
        if (i === 0) this.exitObserver = o;
        v.el2 = o;
      });
    } else if (this.listeners.exit.length === 0 && this.exitObserver !== null) {
      this.exitObserver = null;
      vcpus.forEach((v, i) => (v.el2 = this.hyps[i]!));
    }
  }

  /** Chained onto the vCPU's exception observer once (the debugger chains onto it too); idle without listeners. */
  private observeInterrupts(): void {
    if (this.interruptObserver) return;
    this.interruptObserver = true;
    this.board.vcpus.forEach((v, i) => this.observeInterruptsOf(v, i));
  }

  private observeInterruptsOf(v: VirtMachine['vcpu'], index: number): void {
    const previous = v.onException;
    v.onException = (kind, esr, targetEl) => {
      previous?.(kind, esr, targetEl);
      if (kind === 'sync' || this.listeners.interrupt.length === 0) return;
      const e: InterruptEvent = {
        type: 'interrupt', vcpu: index, kind, instructions: v.currentInstructions, virtualTimeNs: v.virtualTimeNs, pc: v.sysreg(SR.ELR_EL1),
      };
      for (const l of this.listeners.interrupt) l(e);
    };
  }

  /** Line by line while someone reads the console that way (see MachineIo.consoleInteractive). */
  private updateConsoleMode(): void {
    const line = this.io.consoleInteractive === true || this.consoleUntil !== null || this.listeners.console.length > 0;
    this.sink.lineMode = line;
    this.board.uartWindow?.setLineMode(line);
  }

  private emitExit(e: ExitEvent): void {
    for (const l of this.listeners.exit) l(e);
  }

  private consoleOut(chunk: Uint8Array): void {
    // A restored run's first chunk may start with the line in progress at the snapshot point:
    // printed by the run before it, so not printed again, but its console event (and trace
    // record) is the whole chunk, as in the uninterrupted run.
    const fresh = this.consolePrinted > 0 ? chunk.subarray(Math.min(this.consolePrinted, chunk.length)) : chunk;
    this.consolePrinted = 0;
    this.io.console?.(fresh);
    // Text only for whoever reads it (an `until: { console }` pattern, console listeners): at
    // console speed (issue 10, 10 MB/s) decoding and keeping a 64 KiB tail per line dominated.
    if (this.consoleUntil === null && this.listeners.console.length === 0) return;
    const text = this.decoder.decode(chunk, { stream: true });
    if (this.consoleUntil !== null) {
      this.consoleTail = this.consoleTail.length + text.length > 2 * CONSOLE_TAIL ? (this.consoleTail + text).slice(-CONSOLE_TAIL) : this.consoleTail + text;
      if (this.consoleUntil.test(this.consoleTail)) {
        this.consoleMatched = true;
        for (const v of this.board.vcpus) v.pauseRequested = true;
      }
    }
    if (this.listeners.console.length > 0) {
      const e = { type: 'console' as const, text };
      for (const l of this.listeners.console) l(text, e);
    }
  }

  private log(line: string): void {
    this.io.log?.(line);
  }

  // --------------------------------------------------------------- the run

  /** Bytes for the guest's UART receive FIFO (what a user types). */
  sendConsole(data: string | Uint8Array): void {
    this.board.uart.pushInput(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    this.inputArrived = true;
    this.wakeInput();
  }

  /** No more console input will come (stdin reached its end). */
  endConsoleInput(): void {
    this.inputOpen = false;
    this.wakeInput();
  }

  private wakeInput(): void {
    const w = this.inputWaiter;
    this.inputWaiter = null;
    w?.();
  }

  /** Retired instructions so far (one vCPU: virtual time, 1 ns each; --smp: all vCPUs together). */
  get instructions(): number {
    return this.smp?.instructions ?? this.board.vcpu.instructions;
  }

  /** Cheap running totals (a progress display polls them): retired instructions, EL2 exits, virtual time. */
  counters(): { instructions: number; exits: number; virtualTimeNs: number } {
    let exits = 0;
    for (const h of this.hyps) exits += h.stats.exits.total;
    return { instructions: this.instructions, exits, virtualTimeNs: this.smp?.virtualTimeNs ?? this.board.vcpu.virtualTimeNs };
  }

  /** How the run ended, or null while it can go on. */
  get end(): RunEnd | null {
    return this.ended;
  }

  /**
   * End the run at the next turn of the run loop (a signal, the Ctrl-A x escape): the guest stops
   * between two instructions, run() resolves with this end, the stats are final.
   */
  requestStop(end: RunEnd): void {
    if (this.ended !== null || this.stopRequest !== null) return;
    this.stopRequest = end;
    this.onStopRequest?.();
    this.wakeInput();
  }

  /**
   * Run the guest until it ends ('exit', the default) or until a condition: console output
   * matching a RegExp, an instruction count, or PC reaching an address (before that instruction
   * runs). When the run ends, the stats JSON is written (statsJson) and walks are reported.
   * With `gdb` configured, the GDB stub drives the guest and run() resolves when the session ends.
   */
  async run(opts: { until?: Until } = {}): Promise<RunResult> {
    if (this.disposed) throw new Error('machine disposed');
    if (this.finalResult !== null) return this.finalResult;
    if (this.config.gdbPort !== undefined) {
      const end = await serveGdb(this.gdbTarget(), {
        port: this.config.gdbPort,
        wait: this.config.gdbWait,
        notice: (l) => (this.io.notice ?? this.io.log)?.(l),
        onPort: (p) => (this.gdbPort = p),
        setStopHook: (hook) => (this.onStopRequest = hook),
      });
      return this.finish(this.stopRequest ?? end);
    }
    const until = opts.until ?? 'exit';
    if (typeof until === 'object' && 'pc' in until) return this.runToPc(until.pc);
    this.consoleTail = '';
    this.consoleMatched = false;
    this.consoleUntil = typeof until === 'object' && 'console' in until ? until.console : null;
    this.updateConsoleMode();
    try {
      return await this.runLoop(typeof until === 'object' && 'instructions' in until ? until.instructions : Number.MAX_SAFE_INTEGER);
    } finally {
      this.consoleUntil = null;
      for (const v of this.board.vcpus) v.pauseRequested = false;
    }
  }

  private async runLoop(target: number): Promise<RunResult> {
    const maxInsns = this.config.maxInsns;
    for (;;) {
      if (this.stopRequest !== null) return this.finish(this.stopRequest);
      const done = this.instructions;
      const snapAt = this.snapshotPending ? this.config.snapshotAt! : Number.MAX_SAFE_INTEGER;
      if (done >= snapAt) {
        this.snapshotPending = false;
        await this.snapshot(this.config.snapshotFile!);
        continue;
      }
      const left = maxInsns - done;
      if (left <= 0) return this.finish({ kind: 'insn-limit' });
      if (done >= target) return this.paused('instructions');
      // Turns end at multiples of TURN (absolute instruction counts), so a run restored from a
      // snapshot takes its turns at the same counts as the run that saved it.
      const budget = Math.min(TURN - (done % TURN), left, target - done, snapAt - done);
      this.inputArrived = false;
      const step = this.step(budget);
      // Console chunks end at turn ends (absolute counts); a turn cut short for --snapshot-at is no
      // turn end, so the run that saves a snapshot prints (and traces) the same chunks as one that does not.
      if (step.halt !== null || this.instructions !== snapAt) this.sink.flush();
      if (step.halt !== null) return this.finish(step.halt);
      if (this.consoleMatched) return this.paused('console');
      if (step.idle && !this.inputArrived) {
        // WFI with no timer armed and no interrupt pending: only console input can wake the
        // guest. Sleep until some arrives (no host core spins); virtual time stands still
        // meanwhile. With the input ended, nothing ever will.
        if (!this.inputOpen) {
          return this.finish({ kind: 'fault', message: 'guest waits in WFI with no timer armed and the console input has ended: it can never wake' });
        }
        await new Promise<void>((r) => (this.inputWaiter = r));
      } else await yieldToEventLoop();
    }
  }

  /** Run up to `budget` instructions: one vCPU directly, several through the SMP scheduler. */
  private step(budget: number): { halt: RunEnd | null; idle: boolean } {
    const smp = this.smp;
    if (smp === null) {
      const vcpu = this.board.vcpu;
      return { halt: vcpu.runFor(budget), idle: vcpu.idleWaiting };
    }
    const r = smp.run(budget);
    // Every vCPU off (PSCI CPU_OFF on the last one on): nothing can run again.
    if (r === 'off') return { halt: { kind: 'system-off' }, idle: false };
    return { halt: r === 'halt' ? smp.halt() : null, idle: r === 'idle' };
  }

  /** Run until PC = addr, through the debugger's exact breakpoints (the instruction count stays exact). */
  private async runToPc(pcAddr: bigint | number): Promise<RunResult> {
    const t = this.gdbTarget();
    const addr = BigInt.asUintN(64, BigInt(pcAddr));
    t.addBreakpoint('hw', addr, 4);
    try {
      for (;;) {
        const stop = await new Promise<import('../emulator/debug/target.js').StopReason>((resolve) => {
          t.setStopHandler(resolve);
          this.onStopRequest = () => t.interrupt();
          if (this.stopRequest !== null) t.interrupt();
          t.resume('continue');
        });
        this.onStopRequest = null;
        this.sink.flush();
        if (stop.kind === 'exited') return this.finish(this.stopRequest ?? t.halt ?? { kind: 'insn-limit' });
        if (this.stopRequest !== null) return this.finish(this.stopRequest);
        if (stop.kind === 'breakpoint') return this.paused('pc');
        // Anything else (a trap-break nobody set, a watchpoint): keep going.
      }
    } finally {
      t.removeBreakpoint('hw', addr, 4);
    }
  }

  /** The debug engine (breakpoints with exact instruction counts), shared by until-pc and --gdb. */
  private gdbTarget(): VcpuTarget {
    this.debugTarget ??= new VcpuTarget(
      { machine: this.board, hyp: this.hyp, flushConsole: () => this.sink.flush() },
      { exitCodeFor, maxInstructions: this.config.maxInsns },
    );
    return this.debugTarget;
  }

  private paused(reason: 'console' | 'instructions' | 'pc'): RunResult {
    return { status: null, reason, instructions: this.instructions, end: null };
  }

  /** The run is over: final statistics, the stats JSON, walks, the closing progress line. */
  private async finish(end: RunEnd): Promise<RunResult> {
    this.sink.flush();
    this.ended = end;
    const status = exitCodeFor(end);
    this.wakeInput();
    const hostNs = Number(process.hrtime.bigint() - this.t0);
    for (const va of this.config.walk) {
      const r = this.walk(va);
      this.log('nested' in r ? formatNestedWalk(r as NestedWalkReport) : formatWalk(r));
    }
    if (this.snapshotPending) (this.io.notice ?? this.io.log)?.(`the run ended before --snapshot-at ${this.config.snapshotAt}: no snapshot written`);
    const line = `${describeEnd(end)}${end.kind === 'fault' ? await this.faultingInsn() : ''} after ${this.instructions} instructions (${(hostNs / 1e6).toFixed(1)} ms host, exit status ${status})`;
    // A run the user stopped says so even under --quiet: one line, with the instruction count.
    if (end.kind === 'signal' || end.kind === 'quit') (this.io.notice ?? this.io.log)?.(line);
    else this.log(line);
    this.trace?.close();
    this.trace = null;
    if (this.config.statsJson !== undefined) {
      try {
        await writeFile(this.config.statsJson, JSON.stringify(this.stats(), null, 2) + '\n');
      } catch (e) {
        throw new ConfigError(`--stats-json ${this.config.statsJson}: ${(e as Error).message}`);
      }
    }
    this.finalResult = { status, reason: end.kind, instructions: this.instructions, end };
    return this.finalResult;
  }

  /** For a fault report: ` (PC 0x...: ldp x0, x1, [x2])`, the instruction the guest stopped on. */
  private async faultingInsn(): Promise<string> {
    const v = this.board.vcpu;
    const w = v.readInsn(v.pc);
    if (w === null || !(await loadDisassembler())) return '';
    return ` (PC ${hexVa(v.pc)}: ${disassemble(w, vaToBigint(v.pc))})`;
  }

  // ------------------------------------------------------------- inspection

  /** The statistics object, as --stats-json writes it (host fields measured now). */
  stats(): MachineStats {
    let walks: Record<string, WalkReport> | null = null;
    if (this.config.walk.length > 0) {
      walks = {};
      for (const va of this.config.walk) walks[hexVa(vaFromBigint(va))] = this.walk(va);
    }
    const smp = this.smp;
    return collectStats(
      this.board,
      this.hyps,
      { imageName: this.config.imageName, halt: this.ended, hostNs: Number(process.hrtime.bigint() - this.t0), walks },
      smp === null ? null : { virtualTimeNs: smp.virtualTimeNs, quanta: smp.sched.quanta, power: this.board.vcpus.map((_, i) => smp.power.state(i)) },
    );
  }

  /** The stage-1 and stage-2 walk of a VA in the vCPU's current regime (side-effect free). */
  walk(va: bigint | number, opts: { el?: 0 | 1; access?: 'read' | 'write' | 'fetch' } = {}): WalkReport {
    // A guest hypervisor (--nested): the three stages of an L2 address (hyp/nested/walk.ts)
    if (this.hyp.nested !== null) return this.hyp.nested.walk(Number(BigInt.asUintN(64, BigInt(va))));
    return translate(this.board.vcpu, typeof va === 'number' ? BigInt(va) : va, opts);
  }

  /** `n` bytes of guest RAM at an intermediate physical address (a copy). Throws RangeError outside RAM. */
  readMemory(ipa: number | bigint, n: number): Uint8Array {
    const ram = this.board.vcpu.ram;
    const a = Number(ipa);
    if (!ram.contains(a, n)) throw new RangeError(`IPA 0x${a.toString(16)}+${n} is not in guest RAM (0x${ram.base.toString(16)}..0x${ram.end.toString(16)})`);
    return ram.slice(a, n).slice();
  }

  /** Write guest RAM at an IPA (tests, loaders). */
  writeMemory(ipa: number | bigint, data: Uint8Array): void {
    this.board.vcpu.ram.load(Number(ipa), data);
    for (const v of this.board.vcpus) v.uc.flushTb();
  }

  regs(): Registers {
    const v = this.board.vcpu;
    const x: bigint[] = [];
    for (let i = 0; i < 31; i++) x.push(v.x(i));
    return { x, sp: v.uc.regRead(Reg.SP), pc: vaToBigint(v.pc), pstate: v.pstate >>> 0, el: v.el };
  }

  /** Release Unicorn and host memory. The machine cannot run afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.sink.flush();
    this.trace?.close();
    this.trace = null;
    this.board.close();
  }
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new ConfigError(`${what} ${path}: ${why}`);
  }
}
