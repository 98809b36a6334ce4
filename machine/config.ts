/**
 * The typed configuration of a machine: one field per `hypemu run` option, camelCase
 * (`--max-insns` is `maxInsns`, `--no-fast-path` is `fastPath: false`). Values may be given as
 * the CLI would (strings: '256M', '0x40080000', '1e9') or typed (numbers, bigints). resolveConfig
 * validates everything before anything is built, with one-line ConfigErrors naming the option.
 *
 * To add an option: a field here, its check in resolveConfig, its flag in cli/program.ts.
 * (Several vCPUs, `--smp`, will make `vcpus` an array in ResolvedConfig; nothing here assumes one.)
 */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { DEFAULT_RAM_SIZE, VIRT } from '../emulator/platform/memmap.js';
import { parseAddress } from '../emulator/types.js';
import { DEFAULT_HYP_CONFIG, type HypervisorConfig } from '../hyp/hypervisor.js';
import { costModelWith } from '../hyp/cost.js';
import { parseGdbPort } from '../emulator/debug/gdbstub.js';
import { LOG_LEVELS, type LogLevel } from '../emulator/log.js';
import { ConfigError } from './errors.js';
import { parseTraceFilter, type TraceFilter } from './trace.js';
import { S2_POOL_BASE } from '../hyp/stage2.js';
import { DEFAULT_SEED } from '../emulator/devices/rng.js';
import { PMU_COUNTERS } from '../emulator/devices/pmu.js';

/** 256 MiB, 16 GiB, 1536 KiB: a size in the largest binary unit that divides it. */
export function sizeText(bytes: number): string {
  for (const [unit, n] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (bytes % n === 0) return `${bytes / n} ${unit}`;
  }
  return `${bytes} bytes`;
}
import { oneOf, parseSize, toNumber } from './parse.js';
import { DEFAULT_GUEST, defaultGuestPath } from './paths.js';

export type ImageFormatOption = 'auto' | 'raw' | 'elf' | 'linux';
export type Numeric = number | bigint | string;

export interface MachineConfig {
  /** Guest image: ELF64 AArch64, arm64 Linux Image (optionally gzip'd) or raw binary. Default: the demo guest. */
  image?: string;
  /** --format */
  format?: ImageFormatOption;
  /** --load: load address of a raw binary (default 0x40080000); must be 4 KiB aligned. */
  load?: Numeric;
  /** --entry: entry point (default: ELF entry, or the load address). */
  entry?: Numeric;
  /** --mem: RAM size in bytes, or '256M', '1G'. */
  mem?: Numeric;
  /** --initrd: initramfs for a Linux Image. */
  initrd?: string;
  /** --append: kernel command line. */
  append?: string;
  /** --max-insns: the run ends with exit status 124 after this many instructions. */
  maxInsns?: Numeric;
  /** --stats-json: file the statistics are written to when the run ends. */
  statsJson?: string;
  /** --hyp-mode */
  hypMode?: 'vhe' | 'nvhe';
  /** --mair-mangle (seed 000) */
  mairMangle?: boolean;
  /** --default-cacheable (seed 002) */
  defaultCacheable?: boolean;
  /** --device-s2 (seed 001) */
  deviceS2?: 'normal-nc' | 'device-ngnre';
  /** --stage2-map */
  stage2Map?: 'block' | 'page';
  /** --gic: interrupt controller of the virt board (default v3). */
  gic?: 'v2' | 'v3';
  /** --smp: number of vCPUs, 1 to 8 (default 1). */
  smp?: Numeric;
  /** --no-fast-path is fastPath: false. */
  fastPath?: boolean;
  /** --nested (seed 003): the guest starts at virtual EL2h. */
  nested?: boolean;
  /** --pauth: pointer authentication (FEAT_PAuth) advertised to the guest. */
  pauth?: boolean;
  /** --unknown-sysreg: an encoding the model does not know is UNDEFINED ('undef', default, as KVM) or read-as-zero/write-ignored ('raz'). */
  unknownSysreg?: 'undef' | 'raz';
  /** --trap-debug: MDCR_EL2.TDE, the guest's debug exceptions are EL2 exits ('debug'). */
  trapDebug?: boolean;
  /** --pmu-counters N: event counters the guest gets (MDCR_EL2.HPMN), 0 to 6 (default: all 6). */
  pmuCounters?: Numeric;
  /** --cost KEY=CYCLES (repeatable), or an object { 'worldSwitch.vhe': 800 }. */
  cost?: readonly string[] | Readonly<Record<string, number>>;
  /** --walk VA (repeatable): walks reported when the run ends (stderr unless quiet, and stats.walks). */
  walk?: readonly Numeric[];
  /** --quiet: no progress lines on stderr. */
  quiet?: boolean;
  /** --gdb [PORT]: serve the GDB remote protocol on 127.0.0.1 (true: port 1234). */
  gdb?: boolean | Numeric;
  /** --gdb-wait: halt before the first instruction until a debugger continues (implies gdb). */
  gdbWait?: boolean;
  /** --trace FILE: every EL2 exit, interrupt and console line as JSON lines (machine/trace.ts). */
  trace?: string;
  /** --trace-filter: exit reasons, `interrupt`, `console` or register names to keep (comma-separated or a list). */
  traceFilter?: string | readonly string[];
  /** --trace-format: 'jsonl' (default) or 'perfetto' (Chrome trace-event JSON, machine/trace-perfetto.ts). */
  traceFormat?: 'jsonl' | 'perfetto';
  /** --log-level: diagnostics at or above this level reach stderr (default $HYPEMU_LOG or 'warn'). Process-wide. */
  logLevel?: LogLevel;
  /** --snapshot-at: after exactly this many instructions (counted from the start of the original run), save the machine to `snapshot` and continue. */
  snapshotAt?: Numeric;
  /** --snapshot: the file --snapshot-at writes (emulator/snapshot/README.md). */
  snapshot?: string;
  /** --seed: seeds FEAT_RNG (RNDR/RNDRRS) and the device tree's rng-seed/kaslr-seed; 0 to 2^64-1, default 0. */
  seed?: Numeric;
}

export interface ResolvedConfig {
  readonly imagePath: string;
  /** The image as the user named it (stats.image). */
  readonly imageName: string;
  readonly format: ImageFormatOption;
  readonly load: number | undefined;
  readonly entry: number | undefined;
  readonly ram: { readonly base: number; readonly size: number };
  readonly initrdPath: string | undefined;
  readonly append: string | undefined;
  readonly maxInsns: number;
  readonly statsJson: string | undefined;
  readonly hyp: HypervisorConfig;
  readonly gic: 'v2' | 'v3';
  /** vCPUs (1-8). */
  readonly smp: number;
  readonly walk: readonly bigint[];
  readonly quiet: boolean;
  /** The GDB port, or undefined when no debugger is served. */
  readonly gdbPort: number | undefined;
  readonly gdbWait: boolean;
  readonly logLevel: LogLevel | undefined;
  readonly trace: string | undefined;
  readonly traceFilter: TraceFilter | null;
  readonly traceFormat: 'jsonl' | 'perfetto';
  /** Save a snapshot to `snapshotFile` when the instruction count reaches this. */
  readonly snapshotAt: number | undefined;
  readonly snapshotFile: string | undefined;
  /** --seed (default DEFAULT_SEED): the one source of the guest's randomness. */
  readonly seed: bigint;
}

const KNOWN = new Set<string>([
  'image', 'format', 'load', 'entry', 'mem', 'initrd', 'append', 'maxInsns', 'statsJson', 'hypMode', 'mairMangle',
  'defaultCacheable', 'deviceS2', 'stage2Map', 'gic', 'smp', 'fastPath', 'nested', 'pauth', 'cost', 'walk', 'quiet', 'gdb', 'gdbWait', 'logLevel', 'trace', 'traceFilter', 'traceFormat',
  'snapshotAt', 'snapshot', 'seed', 'unknownSysreg', 'pmuCounters', 'trapDebug',
]);

/** --seed: an integer 0..2^64-1 (decimal, 0x-hex, `_` separators). */
export function parseSeed(v: Numeric | undefined): bigint {
  if (v === undefined) return DEFAULT_SEED;
  let n: bigint | null = null;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number') n = Number.isSafeInteger(v) ? BigInt(v) : null;
  else if (/^(0x[0-9a-f_]+|[0-9][0-9_]*)$/i.test(v.trim())) n = BigInt(v.trim().replace(/_/g, ''));
  if (n === null || n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new ConfigError(`--seed: '${String(v)}' is not an integer from 0 to 2^64-1 (decimal or 0x-hex)`);
  return n;
}

/** Raw binaries are placed by page: an unaligned --load would silently shift the image. */
const LOAD_ALIGN = 0x1000;

export function resolveConfig(c: MachineConfig): ResolvedConfig {
  for (const k of Object.keys(c)) {
    if (!KNOWN.has(k) && (c as Record<string, unknown>)[k] !== undefined) throw new ConfigError(`unknown machine option '${k}'`);
  }
  const { imagePath, format, load, entry } = resolveImage(c);
  const size = resolveRamSize(c.mem);
  const maxInsns = c.maxInsns === undefined ? Number.MAX_SAFE_INTEGER : toNumber(c.maxInsns, '--max-insns');
  const hyp = resolveHyp(c);
  const walk = (c.walk ?? []).map((v) => {
    const a = typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : parseAddress(v);
    if (a === null || a < 0n || a > 0xffff_ffff_ffff_ffffn) throw new ConfigError(`--walk: '${String(v)}' is not an address (decimal or 0x-hex)`);
    return a;
  });
  const gdbPort = resolveGdbPort(c);
  const snapshotAt = c.snapshotAt === undefined ? undefined : toNumber(c.snapshotAt, '--snapshot-at');
  if ((snapshotAt === undefined) !== (c.snapshot === undefined)) throw new ConfigError('--snapshot-at N and --snapshot FILE go together');
  if (snapshotAt !== undefined && gdbPort !== undefined) throw new ConfigError('--snapshot-at cannot be combined with --gdb');
  const smp = resolveSmp(c.smp);
  if (smp > 1) {
    // Not SMP-aware yet: refused rather than run on one vCPU or misbehave.
    const alone = hyp.nested ? '--nested' : null;
    if (alone !== null) throw new ConfigError(`--smp ${smp}: ${alone} supports one vCPU only for now (use --smp 1)`);
  }
  return {
    imagePath,
    imageName: c.image ?? DEFAULT_GUEST,
    format,
    load,
    entry,
    ram: { base: VIRT.RAM.base, size },
    initrdPath: c.initrd === undefined ? undefined : resolve(c.initrd),
    append: c.append,
    maxInsns,
    statsJson: c.statsJson,
    hyp,
    gic: oneOf(c.gic ?? 'v3', ['v2', 'v3'] as const, '--gic'),
    smp,
    walk,
    quiet: c.quiet === true,
    gdbPort,
    gdbWait: c.gdbWait === true,
    logLevel: c.logLevel === undefined ? undefined : oneOf(c.logLevel, LOG_LEVELS, '--log-level'),
    trace: c.trace,
    traceFilter: c.traceFilter === undefined ? null : parseTraceFilter(typeof c.traceFilter === 'string' ? [c.traceFilter] : c.traceFilter),
    traceFormat: oneOf(c.traceFormat ?? 'jsonl', ['jsonl', 'perfetto'] as const, '--trace-format'),
    snapshotAt,
    snapshotFile: c.snapshot,
    seed: parseSeed(c.seed),
  };
}

/** --pmu-counters: 0 to PMCR_EL0.N (6, emulator/devices/pmu.ts), or null (all). */
function resolvePmuCounters(v: Numeric | undefined): number | null {
  if (v === undefined) return null;
  let n: number;
  try {
    n = toNumber(v, '--pmu-counters');
  } catch {
    n = NaN;
  }
  if (!Number.isInteger(n) || n < 0 || n > PMU_COUNTERS) throw new ConfigError(`--pmu-counters: '${String(v)}' is not a number of event counters from 0 to ${PMU_COUNTERS}`);
  return n;
}

/** The image and where it goes: --image (or the default guest), --format, --load, --entry. */
function resolveImage(c: MachineConfig): Pick<ResolvedConfig, 'imagePath' | 'format' | 'load' | 'entry'> {
  const imagePath = resolve(c.image ?? defaultGuestPath());
  if (c.image === undefined && !existsSync(imagePath)) {
    throw new ConfigError(`the default guest ${DEFAULT_GUEST} is not built; run \`npm run setup\` first`);
  }
  const format = oneOf(c.format ?? 'auto', ['auto', 'raw', 'elf', 'linux'] as const, '--format');
  const load = c.load === undefined ? undefined : toNumber(c.load, '--load');
  if (load !== undefined && load % LOAD_ALIGN !== 0) {
    throw new ConfigError(`--load: 0x${load.toString(16)} is not 4 KiB aligned (raw images load at a page boundary, e.g. 0x40080000)`);
  }
  const entry = c.entry === undefined ? undefined : toNumber(c.entry, '--entry');
  if (entry !== undefined && entry % 4 !== 0) throw new ConfigError(`--entry: 0x${entry.toString(16)} is not 4-byte aligned (A64 instructions are)`);
  return { imagePath, format, load, entry };
}

/** --mem: at least 1M, a multiple of 4K, and below the hypervisor's stage-2 pool. */
function resolveRamSize(mem: MachineConfig['mem']): number {
  const size = mem === undefined ? DEFAULT_RAM_SIZE : typeof mem === 'string' ? parseSize(mem, '--mem') : toNumber(mem, '--mem');
  if (size < 0x10_0000 || size % 0x1000 !== 0) throw new ConfigError(`--mem: must be at least 1M and a multiple of 4K`);
  // The 40-bit IPA space (the board's PARange) ends at 1 TiB; its last 4 GiB
  // hold the hypervisor's stage-2 tables (hyp/stage2.ts): RAM ends below them.
  if (VIRT.RAM.base + size > S2_POOL_BASE) {
    throw new ConfigError(`--mem: ${sizeText(size)} does not fit the 40-bit IPA space: RAM at 0x${VIRT.RAM.base.toString(16)} may be at most ${sizeText(S2_POOL_BASE - VIRT.RAM.base)}`);
  }
  return size;
}

/** The EL2 model's configuration: --hyp-mode, the policies (seeds 000-002), --cost, --nested... */
function resolveHyp(c: MachineConfig): HypervisorConfig {
  let cost = DEFAULT_HYP_CONFIG.cost;
  if (c.cost !== undefined) {
    const list = Array.isArray(c.cost) ? (c.cost as readonly string[]) : Object.entries(c.cost).map(([k, v]) => `${k}=${v}`);
    try {
      cost = costModelWith(list);
    } catch (e) {
      throw new ConfigError(`--cost: ${(e as Error).message}`);
    }
  }
  return {
    ...DEFAULT_HYP_CONFIG,
    mode: oneOf(c.hypMode ?? 'vhe', ['vhe', 'nvhe'] as const, '--hyp-mode'),
    mairMangle: c.mairMangle === true,
    defaultCacheable: c.defaultCacheable === true,
    deviceS2: oneOf(c.deviceS2 ?? 'device-ngnre', ['normal-nc', 'device-ngnre'] as const, '--device-s2'),
    stage2Mapping: oneOf(c.stage2Map ?? 'block', ['block', 'page'] as const, '--stage2-map'),
    fastPath: c.fastPath !== false,
    cost,
    nested: c.nested === true,
    pauth: c.pauth === true,
    unknownSysreg: oneOf(c.unknownSysreg ?? 'undef', ['undef', 'raz'] as const, '--unknown-sysreg'),
    pmuCounters: resolvePmuCounters(c.pmuCounters),
    trapDebug: c.trapDebug === true,
  };
}

/** --gdb [PORT] (or a library caller's number; 0 picks an ephemeral port), --gdb-wait alone implies the default port. */
function resolveGdbPort(c: MachineConfig): number | undefined {
  if (c.gdb !== undefined && c.gdb !== false) {
    if (typeof c.gdb === 'string' || c.gdb === true) {
      try {
        return parseGdbPort(c.gdb);
      } catch (e) {
        throw new ConfigError((e as Error).message);
      }
    } else {
      // A number from a library caller; 0 picks an ephemeral port (machine.gdbPort tells which).
      const port = toNumber(c.gdb, '--gdb');
      if (port > 65535) throw new ConfigError(`--gdb: '${port}' is not a TCP port (1-65535)`);
      return port;
    }
  } else if (c.gdbWait) return parseGdbPort(undefined);
  return undefined;
}

/** --smp: an integer from 1 to 8 (QEMU virt's GICv2 limit; the GICv3 board takes as many). */
function resolveSmp(v: Numeric | undefined): number {
  if (v === undefined) return 1;
  let n: number;
  try {
    n = toNumber(v, '--smp');
  } catch {
    n = NaN;
  }
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new ConfigError(`--smp: '${String(v)}' is not a number of vCPUs from 1 to 8`);
  return n;
}
