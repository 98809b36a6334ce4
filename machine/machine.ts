/**
 * A machine: the virt board (emulator/platform/virt.ts), the EL2 model (hyp/) and its statistics,
 * assembled from a typed configuration (machine/config.ts). The CLI (`hypemu run`), the debugger
 * (--gdb) and library users (`import { Machine } from 'hypemu'`) all build runs through it, run
 * them through its one run loop, and map their end to an exit status with machine/exit-status.ts.
 *
 * Nothing here writes to the process's stdout or stderr: the guest's console goes to `console`
 * listeners and to `io.console`, progress lines to `io.log`; the CLI connects those.
 *
 * Its parts, by what they model: vm.ts (the board and one EL2 model per vCPU; one run-loop step),
 * boot-image.ts (image, initrd, device tree), restore-options.ts (what --restore accepts),
 * machine-events.ts (library events), console-watch.ts (console chunks to their readers),
 * end-report.ts (the closing line), output-files.ts, machine-types.ts (public types), inspect.ts
 * (walks, guest RAM and registers of a machine that is not running), gdb.ts (the debug engine).
 */
import type { VirtMachine } from '../emulator/platform/virt.js';
import type { LoadedImage } from '../emulator/platform/loader.js';
import { formatWalk, type WalkReport } from '../emulator/mmu/walk-report.js';
import { formatNestedWalk, type NestedWalkReport } from '../hyp/nested/walk.js';
import { logger, setLogLevel } from '../emulator/log.js';
import type { VcpuTarget } from '../emulator/debug/vcpu-target.js';
import { loadDisassembler } from '../emulator/debug/disasm.js';
import type { Hypervisor } from '../hyp/hypervisor.js';
import { resolveConfig, sizeText, type MachineConfig, type ResolvedConfig } from './config.js';
import { ConsoleSink } from './console.js';
import { ConsoleWatch } from './console-watch.js';
import { ConfigError } from './errors.js';
import type { MachineEventMap, MachineEventName } from './events.js';
import { MachineEvents } from './machine-events.js';
import { exitCodeFor, type RunEnd } from './exit-status.js';
import { endLine } from './end-report.js';
import { collectStats, type MachineStats } from './stats.js';
import { debugEngine, runToPc, serveGdb } from './gdb.js';
import { checkWritable, replaceOutput, writeOutput } from './output-files.js';
import { TraceWriter } from './trace.js';
import { PerfettoTraceWriter } from './trace-perfetto.js';
import { restoreSnapshot, takeSnapshot, type ParsedSnapshot } from './snapshot.js';
import type { SmpVm } from './smp.js';
import { assembleVm, idleClock, stepVm, type Vm } from './vm.js';
import { HostWait, betweenTurns, type TurnWait } from './idle-wait.js';
import { loadBootImage, whileImageOpen } from './boot-image.js';
import { readRam, registers, walkReports, walkVa, writeRam } from './inspect.js';
import { checkRestoreOptions, parseSnapshotFile, restoredConfig } from './restore-options.js';
import type { MachineIo, Registers, RunResult, Until } from './machine-types.js';

export type { MachineIo, Registers, RunResult, Until };

/**
 * Instructions per run-loop turn: between turns the event loop runs (stdin, signals, timers).
 * Bounds how late a SIGINT or Ctrl-A x is acted on (tens of ms at tens of MIPS).
 */
export const TURN = 4_000_000;

export class Machine {
  readonly config: ResolvedConfig;
  readonly board: VirtMachine;
  /** vCPU 0's EL2 model (the only one unless --smp). */
  readonly hyp: Hypervisor;
  /** Every vCPU's EL2 model, by vCPU index (one VM: they share the stage 2). */
  readonly hyps: Hypervisor[];
  /** --smp > 1: the PSCI power model and the scheduler over the vCPUs. */
  readonly smp: SmpVm | null;
  private readonly vm: Vm;
  /** The image the machine booted, or null for a machine restored from a snapshot. */
  readonly image: LoadedImage | null;
  /** Set when the run has ended: no more guest instructions will run. */
  private ended: RunEnd | null = null;
  private finalResult: RunResult | null = null;
  private stopRequest: RunEnd | null = null;
  private onStopRequest: (() => void) | null = null;
  private readonly sink: ConsoleSink;
  /** The console chunks' readers: io.console, `until: { console }`, the `console` listeners. */
  private readonly consoleWatch: ConsoleWatch;
  private readonly t0 = process.hrtime.bigint();
  private readonly events: MachineEvents;
  private debugTarget: VcpuTarget | null = null;
  private disposed = false;
  private trace: TraceWriter | PerfettoTraceWriter | null = null;
  private inputOpen: boolean;
  /** The run loop's host-side sleep while the guest idles (machine/idle-wait.ts). */
  private readonly idleWait = new HostWait();
  /** Input came during the last slice (from a console listener): an idle guest must run again, not wait. */
  private inputArrived = false;
  /** What the run loop's wait between two turns asks of the machine (machine/idle-wait.ts betweenTurns). */
  private readonly turnWait: TurnWait = {
    wait: this.idleWait,
    inputArrived: () => this.inputArrived,
    inputOpen: () => this.inputOpen,
    stopRequested: () => this.stopRequest !== null,
    consoleBacklog: () => this.io.consoleBacklog?.() ?? null,
  };
  /** --snapshot-at is configured and not reached yet. */
  private snapshotPending: boolean;
  /** setMarks: the interval and the callback (golden checkpoints), or 0. */
  private markEvery = 0;
  private onMark: ((instructions: number) => void) | null = null;
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
    this.sink = new ConsoleSink((chunk, writer) => this.consoleWatch.out(chunk, writer));
    const vm = assembleVm(config, this.sink.put);
    this.vm = vm;
    this.board = vm.board;
    this.hyps = vm.hyps;
    this.hyp = vm.hyps[0]!;
    this.smp = vm.smp;
    for (const v of this.board.vcpus) v.paceIdle = this.paceIdle;
    if (this.smp !== null) this.smp.sched.paceIdle = this.paceIdle;
    // Console output carries the vCPU whose UART writes it is (the one the scheduler runs).
    if (this.smp !== null) this.smp.onRun = (i) => (this.sink.writer = i);
    this.events = new MachineEvents(this.board, this.hyps);
    this.consoleWatch = new ConsoleWatch((chunk) => this.io.console?.(chunk), this.events, () => {
      for (const v of this.board.vcpus) v.pauseRequested = true;
    });
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
    const image = await loadBootImage(c);
    const m = whileImageOpen(image, () => new Machine(c, image, io));
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
    const t = c.traceFormat === 'perfetto' ? new PerfettoTraceWriter(c.trace, c.traceFilter, () => this.counters(), this.board.vcpus) : new TraceWriter(c.trace, this.board.vcpus, c.traceFilter);
    this.trace = t;
    this.on('exit', t.exit).on('interrupt', t.interrupt).on('console', t.console);
  }

  /**
   * A machine continuing from a snapshot file (`hypemu run --restore FILE`): built from the
   * configuration the snapshot recorded, every component's state put back. `config` may hold only
   * options that do not change the machine (restore-options.ts: limits, outputs, a further
   * snapshot); anything else, or a corrupt or foreign file, is a one-line ConfigError.
   */
  static async restore(file: string, config: MachineConfig = {}, io: MachineIo = {}): Promise<Machine> {
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    checkRestoreOptions(config);
    const parsed: ParsedSnapshot = parseSnapshotFile(file);
    let m: Machine;
    try {
      const c = restoredConfig(config, parsed);
      m = new Machine(c, null, io);
    } catch (e) {
      parsed.file.close();
      throw e;
    }
    try {
      restoreSnapshot(m, parsed);
      m.sink.preload(parsed.console);
      m.consoleWatch.printed = parsed.console.length;
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
    const bytes = Buffer.concat(takeSnapshot(this, this.config, { instructions: this.instructions, console: this.sink.pending() }));
    for (const v of this.board.vcpus) v.dropCachedTranslations();
    // A new file, renamed over the old one: a run restored from the old file maps its pages and
    // must not see them change under it.
    await replaceOutput(file, '--snapshot', bytes);
    this.log(`snapshot at instruction ${this.instructions} written to ${file} (${(bytes.byteLength / 1048576).toFixed(1)} MiB)`);
  }

  // ------------------------------------------------------------------ events

  on<K extends MachineEventName>(event: K, listener: MachineEventMap[K]): this {
    this.events.on(event, listener);
    if (event === 'console') this.updateConsoleMode();
    return this;
  }

  off<K extends MachineEventName>(event: K, listener: MachineEventMap[K]): this {
    this.events.off(event, listener);
    if (event === 'console') this.updateConsoleMode();
    return this;
  }

  /** Line by line while someone reads the console that way (see MachineIo.consoleInteractive). */
  private updateConsoleMode(): void {
    const line = this.io.consoleInteractive === true || this.consoleWatch.watching || this.events.hasConsoleListeners;
    this.sink.lineMode = line;
    this.board.uartWindow?.setLineMode(line);
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
    this.idleWait.wake();
  }

  /**
   * A WFI that a timer will end passes on the host clock (machine/idle-wait.ts) while the guest
   * listens for console input that may still come: the UART's receive interrupt unmasked and
   * the input open (the CLI's stdin before its end).
   */
  private readonly paceIdle = (): boolean => this.inputOpen && this.board.uart.listening();

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
    this.consoleWatch.watch(typeof until === 'object' && 'console' in until ? until.console : null);
    this.updateConsoleMode();
    try {
      return await this.runLoop(typeof until === 'object' && 'instructions' in until ? until.instructions : Number.MAX_SAFE_INTEGER);
    } finally {
      this.consoleWatch.watch(null);
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
      const markAt = this.markEvery > 0 ? done - (done % this.markEvery) + this.markEvery : Number.MAX_SAFE_INTEGER;
      // Turns end at multiples of TURN (absolute instruction counts), so a run restored from a
      // snapshot takes its turns at the same counts as the run that saved it.
      const budget = Math.min(TURN - (done % TURN), left, target - done, snapAt - done, markAt - done);
      this.inputArrived = false;
      const step = stepVm(this.vm, budget);
      const marked = step.halt === null && this.instructions === markAt;
      if (marked) this.onMark!(markAt);
      // Console chunks end at turn ends (absolute counts); a turn cut short for --snapshot-at or a
      // mark is no turn end, so such a run prints (and traces) the same chunks as one without.
      if (step.halt !== null || (this.instructions !== snapAt && (!marked || markAt % TURN === 0))) this.sink.flush();
      if (step.halt !== null) return this.finish(step.halt);
      if (this.consoleWatch.matched) return this.paused('console');
      const never = await betweenTurns(step.idle ? idleClock(this.vm) : null, step.idle, this.turnWait);
      if (never !== null) return this.finish({ kind: 'fault', message: never });
    }
  }

  /**
   * Call `onMark(n)` whenever the run reaches n = every, 2 x every, ... retired instructions, between
   * two instructions (golden checkpoints). At multiples of TURN that adds no stop; elsewhere it adds
   * one, with no console flush, which can move a pending interrupt (golden-checkpoints.ts).
   */
  setMarks(every: number, onMark: (instructions: number) => void): void {
    if (!Number.isSafeInteger(every) || every < 1) throw new RangeError(`mark interval ${every}`);
    this.markEvery = every;
    this.onMark = onMark;
  }

  /** Run until PC = addr, through the debugger's exact breakpoints (machine/gdb.ts runToPc). */
  private runToPc(pcAddr: bigint | number): Promise<RunResult> {
    return runToPc(this.gdbTarget(), pcAddr, {
      stopRequest: () => this.stopRequest,
      setStopHook: (hook) => (this.onStopRequest = hook),
      flushConsole: () => this.sink.flush(),
      finish: (end) => this.finish(end),
      reached: () => this.paused('pc'),
    });
  }

  /** The debug engine (machine/gdb.ts debugEngine), shared by until-pc and --gdb. */
  private gdbTarget(): VcpuTarget {
    this.debugTarget ??= debugEngine(this.vm, () => this.sink.flush(), this.config.maxInsns);
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
    const line = await endLine(end, status, this.board.vcpu, this.instructions, hostNs);
    // A run the user stopped says so even under --quiet: one line, with the instruction count.
    if (end.kind === 'signal' || end.kind === 'quit') (this.io.notice ?? this.io.log)?.(line);
    else this.log(line);
    this.trace?.close();
    this.trace = null;
    if (this.config.statsJson !== undefined) await writeOutput(this.config.statsJson, '--stats-json', JSON.stringify(this.stats(), null, 2) + '\n');
    this.finalResult = { status, reason: end.kind, instructions: this.instructions, end };
    return this.finalResult;
  }

  // ------------------------------------------------------------- inspection

  /** The statistics object, as --stats-json writes it (host fields measured now). */
  stats(): MachineStats {
    const walks = walkReports(this.config.walk, (va) => this.walk(va));
    const smp = this.smp;
    return collectStats(
      this.board,
      this.hyps,
      { imageName: this.config.imageName, halt: this.ended, hostNs: Number(process.hrtime.bigint() - this.t0), walks },
      smp === null ? null : { virtualTimeNs: smp.virtualTimeNs, quanta: smp.sched.quanta, power: this.board.vcpus.map((_, i) => smp.power.state(i)), sched: smp.sched },
    );
  }

  /** The stage-1 and stage-2 walk of a VA in the vCPU's current regime (side-effect free; machine/inspect.ts). */
  walk(va: bigint | number, opts: { el?: 0 | 1; access?: 'read' | 'write' | 'fetch' } = {}): WalkReport {
    return walkVa(this.board.vcpu, this.hyp, va, opts);
  }

  /** `n` bytes of guest RAM at an intermediate physical address (a copy). Throws RangeError outside RAM. */
  readMemory(ipa: number | bigint, n: number): Uint8Array {
    return readRam(this.board, ipa, n);
  }

  /** Write guest RAM at an IPA (tests, loaders). */
  writeMemory(ipa: number | bigint, data: Uint8Array): void {
    writeRam(this.board, ipa, data);
  }

  regs(): Registers {
    return registers(this.board.vcpu);
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
