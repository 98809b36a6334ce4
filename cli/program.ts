/**
 * hypemu command line (loaded by cli/main.ts once it holds early signals). Human progress goes to stderr, guest console and data
 * to stdout; bad input gets one line and a distinct exit status.
 */
import { Command, CommanderError, Option } from 'commander';
import { dumpDtbCommand, runCommand, type CliOnly } from './run.js';
import { checkCommand, recordCommand } from './golden.js';
import { COST_KEYS } from '../hyp/cost.js';
import { ConfigError, EXIT_CODES, type MachineConfig } from '../machine/index.js';
import { DEFAULT_GUEST } from '../machine/paths.js';
import { parseNumber } from '../machine/parse.js';
import { LOG_LEVELS } from '../emulator/log.js';
import { releaseSignals } from './early-signals.js';

// `hypemu --help | head`: a reader that closes stdout early is not an error (no stack trace).
// `run` adds its own listener that also stops writing the guest console (cli/run.ts).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

const program = new Command();
program
  .name('hypemu')
  .description('Instruction-level AArch64 hypervisor emulator: Unicorn runs the guest at EL1/EL0, a TypeScript EL2 model takes every trap.')
  .version('0.1.0')
  .exitOverride()
  // Commander's own errors (unknown option, missing value, bad choice) read like ours: `hypemu: ...`.
  .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, 'hypemu: ')) });

/**
 * Options that make the machine and its run: `run` takes them, and so does `record`, which stores
 * them in the golden directory so `check` reruns the same thing. (A new machine option goes here,
 * with its field in machine/config.ts.)
 */
function machineOptions(cmd: Command): Command {
  return cmd
    .argument('[IMAGE]', 'ELF64 AArch64, arm64 Linux Image (optionally gzip\'d) or raw binary')
    .option('--load <ADDR>', 'load address of a raw binary, 4 KiB aligned (default 0x40080000)')
    .option('--entry <ADDR>', 'entry point (default: ELF entry, or the load address)')
    .option('--mem <SIZE>', 'guest RAM size at 0x40000000, e.g. 256M, 1G, 16G (default 256M; at most 1019G: the 40-bit IPA space)')
    .option('--max-insns <N>', 'stop after N instructions (exit status 124); decimal, 0x-hex, 1e9 or 1_000_000')
    .addOption(new Option('--format <FMT>', 'image format').choices(['auto', 'raw', 'elf', 'linux']).default('auto'))
    .option('--append <ARGS>', 'kernel command line (/chosen/bootargs) for a Linux Image')
    .option('--initrd <FILE>', 'initramfs for a Linux Image')
    .addOption(new Option('--hyp-mode <MODE>', 'EL2 model: vhe keeps EL1 registers loaded across exits (saved at vcpu_put), nvhe saves and restores them on every exit').choices(['vhe', 'nvhe']).default('vhe'))
    .option('--mair-mangle', 'seed 000: trap MAIR_EL1 (TVM/TRVM) and make uncached attributes cacheable in the value the MMU uses; the guest reads back what it wrote')
    .option('--default-cacheable', 'seed 002: set HCR_EL2.DC and TVM while the guest MMU is off, clear both when it sets SCTLR_EL1.M')
    .addOption(new Option('--device-s2 <TYPE>', 'seed 001: stage-2 memory type of passthrough device mappings').choices(['normal-nc', 'device-ngnre']).default('device-ngnre'))
    .addOption(new Option('--stage2-map <HOW>', 'how the hypervisor maps guest RAM at stage 2 on a fault: 2 MiB blocks where they fit, or 4 KB pages').choices(['block', 'page']).default('block'))
    .addOption(new Option('--gic <VERSION>', 'interrupt controller: v3 (GICv3, system-register CPU interface) or v2 (GICv2, memory-mapped CPU interface), at QEMU virt\'s addresses').choices(['v2', 'v3']).default('v3'))
    .option('--smp <N>', 'number of vCPUs, 1 to 8 (default 1): one CPU core each, secondaries start powered off (PSCI CPU_ON), scheduled round robin in fixed instruction quanta; not yet with --nested')
    .option('--nested', 'seed 003: the guest is a hypervisor: it starts at virtual EL2h (ID_AA64PFR0_EL1.EL2 = 1), its guests run on shadow stage 2s')
    .option('--pauth', 'advertise pointer authentication (FEAT_PAuth, QARMA) to the guest; off by default: a kernel then signs every return address, and QARMA in software doubles a Linux boot\'s time')
    .option('--trap-debug', 'MDCR_EL2.TDE: the guest\'s debug exceptions (breakpoint, watchpoint, software step, BRK) become EL2 exits (reason debug, EC 0x30/0x32/0x34/0x3C; trace, stats, trap-break) and are enabled from EL1 whatever MDSCR_EL1.KDE and PSTATE.D say; the model reflects those the guest enabled itself to its EL1 vector')
    .option('--pmu-counters <N>', 'PMU event counters the guest gets, 0 to 6 (MDCR_EL2.HPMN: PMCR_EL0.N reads N, the other counters are reserved for EL2 and UNDEFINED to the guest, as KVM does for a VMM that limits them); default all 6')
    .addOption(new Option('--unknown-sysreg <HOW>', 'a system-register encoding the model does not know: undef injects an Undefined Instruction exception (EC 0x00) as KVM does; raz reads it as zero and ignores writes (bring-up). Reported once on stderr and counted in stats unknownSysregs').choices(['undef', 'raz']).default('undef'))
    .option('--seed <N>', 'seed of the guest\'s randomness: FEAT_RNG (RNDR/RNDRRS) and the device tree\'s /chosen rng-seed and kaslr-seed; 0 to 2^64-1 (default 0: every run the same)')
    .option('--no-fast-path', 'send every trap through the full world switch (compare with the EL2 fast path, seed 000)')
    .option('--cost <KEY=CYCLES>', `override the cycle-cost model (repeatable); keys: ${COST_KEYS.join(', ')}`, collect)
    .option('--walk <VA>', 'at the end of the run, report the stage-1/stage-2 walk of VA (repeatable): stderr, and walks["0x..."] in --stats-json', collect)
    .option('--trace-filter <LIST>', 'with --trace (or a golden run\'s trace): keep only these exit reasons (sysreg, hvc, smc, dabt_s2, iabt_s2, wfx, irq), interrupt, console, or register names (MAIR_EL1); comma-separated, repeatable', collect);
}

/** Options about this process rather than the machine: every command takes them. */
function processOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--log-level <LEVEL>', 'diagnostics on stderr at or above LEVEL (default $HYPEMU_LOG or warn); human-readable on a terminal, JSON lines otherwise').choices([...LOG_LEVELS]))
    .option('-q, --quiet', 'no progress lines on stderr (guest output still goes to stdout)')
    .option('--no-progress', 'no refreshing progress line on stderr (it is shown only when stderr is a terminal, never in CI)');
}

/** The options the user typed (not commander's defaults): what a golden directory stores. */
const typedOptions = (o: Record<string, unknown>, cmd: Command): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([k]) => cmd.getOptionValueSource(k) === 'cli'));

processOptions(machineOptions(program.command('run').description(`run a guest image on the virt board (default guest: ${DEFAULT_GUEST})`)))
  .option('--stats-json <FILE>', 'write run statistics as JSON to FILE')
  .option('--trace <FILE>', 'write every EL2 exit (instruction count, virtual time, PC, EL, reason, ESR decoded, the trapping instruction disassembled, sysreg or MMIO access, handling path, host ns, modelled cycles), every interrupt and console line to FILE as JSON lines')
  .addOption(new Option('--trace-format <FMT>', 'jsonl: one JSON object per line; perfetto: Chrome trace-event JSON for ui.perfetto.dev (a track per vCPU with guest/EL2 slices, interrupts, exits per second; virtual time)').choices(['jsonl', 'perfetto']).default('jsonl'))
  .option('--gdb [PORT]', 'serve the GDB remote protocol on 127.0.0.1:PORT (default 1234)')
  .option('--gdb-wait', 'with --gdb (implied): halt before the first instruction until a debugger continues')
  .option('--snapshot-at <N>', 'after exactly N instructions, save the whole machine to --snapshot FILE and continue running')
  .option('--snapshot <FILE>', 'the snapshot file --snapshot-at writes (format: emulator/snapshot/README.md)')
  .option('--restore <FILE>', 'continue from a snapshot: image and machine options come from it (only --max-insns, --stats-json, --trace, --walk, --quiet, --log-level, --snapshot-at/--snapshot may be given)')
  .option('--dump-dtb <FILE>', 'write the device tree blob the guest would get (for these options) to FILE and exit 0 without running, as QEMU\'s -machine dumpdtb=FILE (read it with dtc -I dtb)')
  .addHelpText(
    'after',
    `
Exit status:
  N     the guest's status, passed in X1 to HVC with X0 = 0xC6000001
  0     the guest called PSCI SYSTEM_OFF or SYSTEM_RESET
  ${EXIT_CODES.insnLimit}   the --max-insns limit was reached
  ${EXIT_CODES.guestFault}   the guest stopped on an exception or fault nothing could handle
  ${EXIT_CODES.badInput}    bad input: unreadable or malformed image, bad option value
  ${EXIT_CODES.internal}    internal error in hypemu (a bug: please report it)
  ${EXIT_CODES.sigint}   SIGINT (${EXIT_CODES.sigterm}: SIGTERM): the run was stopped; --stats-json is still written

The guest's UART (PL011 at 0x09000000) is stdout; its input is stdin (a terminal, a pipe or a
file; once the guest has written UARTCR, input waits until it raises RTS, as a tty's open does).
On a terminal, Ctrl-C goes to the guest; Ctrl-A x quits, Ctrl-A h lists the escapes. A guest idle
in WFI while it listens for input (receive interrupt on, stdin open) waits on the host clock and
costs no CPU; input arriving then makes the run depend on host timing.
Numbers: decimal, 0x-hex, 1_000_000 or 1e9.`,
  )
  .action(async (image: string | undefined, o: Omit<MachineConfig, 'image'> & CliOnly & { restore?: string }, cmd: Command) => {
    const { progress, dumpDtb, ...rest } = o;
    if (dumpDtb !== undefined) {
      process.exitCode = await dumpDtbCommand({ ...rest, ...(image !== undefined ? { image } : {}) }, dumpDtb);
      return;
    }
    if (o.restore !== undefined) {
      // A restored machine is the snapshot's: only options the user typed are checked against
      // what a restore allows (defaults such as --gic v3 are not the user's choice).
      const { progress: _p, ...typed } = typedOptions(rest as Record<string, unknown>, cmd);
      delete typed.restore;
      process.exitCode = await runCommand({ ...typed, ...(image !== undefined ? { image } : {}) }, { restore: o.restore, progress });
      return;
    }
    process.exitCode = await runCommand({ ...rest, ...(image !== undefined ? { image } : {}) }, { progress });
  });

processOptions(machineOptions(program.command('record').description('run a guest and store its console output, exit trace and stats in a golden directory (with the run options), for `hypemu check`')))
  .requiredOption('--golden <DIR>', 'the golden directory (created; its golden.json, console.txt, trace.jsonl.gz, stats.json and checkpoints.bin are overwritten)')
  .option('--checkpoint-every <N>', 'fingerprint the register state every N instructions, a multiple of 4000000 (the run loop\'s turn, where every run stops anyway; 0: never), so that check can name the instruction where a run parts from this one (default 4000000)')
  .option('--keep-image', 'copy the image into DIR (image.elf, ...): the golden then runs its own copy, and check steps it beside a changed image')
  .addHelpText(
    'after',
    `
With no IMAGE and no run options, DIR is recorded again with the image, options and checkpoint
interval it holds (how committed goldens are updated after an intended change). Exit status 0 when recorded,
whatever the guest's own status (it is stored and checked); 64 on bad input.`,
  )
  .action(async (image: string | undefined, o: Record<string, unknown>, cmd: Command) => {
    const { golden, quiet, logLevel, progress, checkpointEvery, keepImage, ...run } = typedOptions(o, cmd);
    void golden;
    const every = checkpointEvery !== undefined ? parseNumber(checkpointEvery as string, '--checkpoint-every') : undefined;
    process.exitCode = await recordCommand(o.golden as string, image, run as MachineConfig, {
      quiet: quiet === true, progress: o.progress !== false, logLevel: logLevel as MachineConfig['logLevel'],
      ...(every !== undefined ? { checkpointEvery: every } : {}), ...(keepImage === true ? { keepImage: true } : {}),
    });
  });

processOptions(program.command('check').description('run a golden directory\'s guest again (the same options) and compare with what it holds: exit status 0 when the console, the exit trace, the stats, the register state at every checkpoint and the exit status match, 1 with a report of the first divergence and a diff of the console'))
  .argument('[IMAGE]', 'the image to check (default: the one the golden directory was recorded from)')
  .requiredOption('--golden <DIR>', 'the golden directory `hypemu record` wrote')
  .option('--ignore <FIELDS>', 'also ignore these fields (dotted paths into trace records and stats.json: cycles, sysreg.value, exits.byReason.irq; checkpoints: the register state); comma-separated, repeatable (host-time fields are never compared)', collect)
  .addHelpText(
    'after',
    `
Exit status: 0 the run matches; 1 it differs (the report is on stdout: the first instruction
that differs, found from the register-state checkpoints by stepping the recorded image beside
this one (instruction count, PC, both instructions disassembled, the registers it leaves
different); the first trace record that differs with its instruction count, PC and
disassembled instruction, and the ones before it; stats fields and the exit status that differ;
a unified diff of the console; this run's files are kept for diff -r); 64 bad input (no golden
directory). When the golden run ended by itself, a run that has not ended an eighth past its
instruction count (at least 1,000,000 more) is stopped there and reported (status 1).`,
  )
  .option('--result-json <FILE>', 'also write the result as JSON to FILE (what the library\'s checkGolden returns)')
  .option('--recorded-image <FILE>', 'the image the golden was recorded from, when it is neither kept in DIR nor at its recorded path any more (its SHA-256 must match): stepped beside IMAGE to name the instruction where they part')
  .action(async (image: string | undefined, o: { golden: string; ignore?: string[]; quiet?: boolean; progress?: boolean; logLevel?: MachineConfig['logLevel']; resultJson?: string; recordedImage?: string }) => {
    const ignore = (o.ignore ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
    process.exitCode = await checkCommand(o.golden, image, {
      ignore, quiet: o.quiet === true, progress: o.progress !== false, logLevel: o.logLevel,
      ...(o.resultJson !== undefined ? { resultJson: o.resultJson } : {}), ...(o.recordedImage !== undefined ? { recordedImage: o.recordedImage } : {}),
    });
  });

// Only `run` handles signals itself (cli/run.ts takes a held one): every other command gives the
// default action back, and a signal held while the modules loaded takes effect now.
program.hook('preAction', (_program, action) => {
  if (action.name() === 'run') return;
  const s = releaseSignals();
  if (s !== null) process.kill(process.pid, s);
});

/** Parses the command line and runs the command; cli/main.ts calls it. */
export async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; parse errors were already printed.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_CODES.badInput;
      return;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`hypemu: ${e.message}\n`);
      process.exitCode = EXIT_CODES.badInput;
      return;
    }
    const err = e as Error;
    if (err.name === 'UnicornLoadError') {
      process.stderr.write(`hypemu: ${err.message}\n`);
      process.exitCode = EXIT_CODES.badInput;
      return;
    }
    process.stderr.write(`hypemu: internal error: ${err.stack ?? err.message}\n`);
    process.exitCode = EXIT_CODES.internal;
  }
}

