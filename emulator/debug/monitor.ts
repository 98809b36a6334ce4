/**
 * `monitor ...` commands (GDB qRcmd). A small table: each row parses and validates its own
 * arguments and calls one DebugTarget method that returns text. Validation lives here, not
 * in the target, so every target gets the same error messages and no target ever sees a
 * malformed argument.
 */
import { TRAP_REASONS, type DebugTarget, type TrapReason } from './target.js';

export interface MonitorCommand {
  readonly name: string;
  readonly usage: string;
  readonly help: string;
  /** Returns the text to show; never throws for bad user input (returns a usage message). */
  run(target: DebugTarget, args: readonly string[]): string;
}

const MAX_EXITS = 4096;
const DEFAULT_EXITS = 16;

/**
 * Parse a guest address: 0x-prefixed hex or decimal, as in GDB expressions (`_` separators
 * allowed). Bare hex is refused rather than guessed: `40080000` would silently mean decimal.
 */
export function parseAddress(text: string): bigint | null {
  const s = text.replace(/_/g, '');
  let v: bigint;
  if (/^0x[0-9a-f]{1,16}$/i.test(s)) v = BigInt(s);
  else if (/^[0-9]{1,20}$/.test(s)) v = BigInt(s);
  else return null;
  return v < 1n << 64n ? v : null;
}

function isTrapReason(s: string): s is TrapReason {
  return (TRAP_REASONS as readonly string[]).includes(s);
}

function usage(cmd: MonitorCommand, why: string): string {
  return `${why}\nusage: monitor ${cmd.usage}\n`;
}

export const MONITOR_COMMANDS: readonly MonitorCommand[] = [
  {
    name: 'help',
    usage: 'help [COMMAND]',
    help: 'list monitor commands, or describe one',
    run(_target, args) {
      if (args.length > 0) {
        const cmd = findMonitorCommand(args[0]!);
        if (cmd === undefined) return `unknown monitor command '${args[0]}'; try 'monitor help'\n`;
        return `monitor ${cmd.usage}\n  ${cmd.help}\n`;
      }
      const width = Math.max(...MONITOR_COMMANDS.map((c) => c.usage.length));
      return 'hypemu monitor commands:\n' + MONITOR_COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.help}\n`).join('');
    },
  },
  {
    name: 'trap-break',
    usage: `trap-break on|off [REASON...]`,
    help: `stop when the EL2 model takes an exit of these reasons (default: all): ${TRAP_REASONS.join(', ')}`,
    run(target, args) {
      const mode = args[0];
      if (mode !== 'on' && mode !== 'off') return usage(this, "expected 'on' or 'off'");
      const reasons: TrapReason[] = [];
      for (const r of args.slice(1)) {
        if (r === 'all') continue;
        if (!isTrapReason(r)) return usage(this, `unknown trap reason '${r}' (expected one of: ${TRAP_REASONS.join(', ')}, all)`);
        if (!reasons.includes(r)) reasons.push(r);
      }
      return ensureNewline(target.setTrapBreak(mode === 'on', reasons));
    },
  },
  {
    name: 'exits',
    usage: 'exits [N]',
    help: `show the last N EL2 exits (default ${DEFAULT_EXITS}, at most ${MAX_EXITS})`,
    run(target, args) {
      if (args.length > 1) return usage(this, 'too many arguments');
      let n = DEFAULT_EXITS;
      if (args.length === 1) {
        if (!/^[0-9]{1,9}$/.test(args[0]!)) return usage(this, `'${args[0]}' is not a count`);
        n = Number(args[0]);
        if (n < 1) return usage(this, 'N must be at least 1');
        n = Math.min(n, MAX_EXITS);
      }
      return ensureNewline(target.recentExits(n));
    },
  },
  {
    name: 'walk',
    usage: 'walk VA',
    help: 'translate a virtual address (0x-hex or decimal) in the current regime, showing every stage-1/stage-2 level',
    run(target, args) {
      if (args.length !== 1) return usage(this, 'expected one address');
      const va = parseAddress(args[0]!);
      if (va === null) return usage(this, `'${args[0]}' is not a 64-bit address (use 0x... for hex)`);
      return ensureNewline(target.walk(va));
    },
  },
  {
    name: 'tlb',
    usage: 'tlb',
    help: "show the TLB model's cached translations",
    run(target, args) {
      if (args.length !== 0) return usage(this, 'takes no arguments');
      return ensureNewline(target.tlb());
    },
  },
  {
    name: 'disas',
    usage: 'disas [ADDR|$pc] [N]',
    help: 'disassemble N (default 8, at most 256) A64 instructions from ADDR (default: PC) with Capstone: x/i for clients without an AArch64 disassembler',
    run(target, args) {
      if (target.disassemble === undefined) return 'this target cannot disassemble\n';
      if (args.length > 2) return usage(this, 'too many arguments');
      let addr: bigint | null = null;
      let n = 8;
      if (args.length >= 1 && args[0] !== '$pc' && args[0] !== 'pc') {
        addr = parseAddress(args[0]!);
        if (addr === null) return usage(this, `'${args[0]}' is not a 64-bit address (use 0x... for hex)`);
      }
      if (args.length === 2) {
        if (!/^[0-9]{1,3}$/.test(args[1]!) || Number(args[1]) < 1) return usage(this, `'${args[1]}' is not a count`);
        n = Math.min(256, Number(args[1]));
      }
      // x0..x30, sp, pc: GDB's aarch64 core feature fixes pc at register 32.
      const pc = target.readRegister(32);
      return ensureNewline(target.disassemble(addr ?? pc ?? 0n, n));
    },
  },
  {
    name: 'stats',
    usage: 'stats',
    help: 'show exit/trap counters and instruction counts',
    run(target, args) {
      if (args.length !== 0) return usage(this, 'takes no arguments');
      return ensureNewline(target.stats());
    },
  },
];

export function findMonitorCommand(name: string): MonitorCommand | undefined {
  return MONITOR_COMMANDS.find((c) => c.name === name);
}

function ensureNewline(s: string): string {
  return s.length === 0 || s.endsWith('\n') ? s : s + '\n';
}

/** Run one monitor command line; always returns text (errors included). */
export function runMonitorCommand(target: DebugTarget, line: string): string {
  const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
  if (words.length === 0) return MONITOR_COMMANDS[0]!.run(target, []);
  const cmd = findMonitorCommand(words[0]!);
  if (cmd === undefined) return `unknown monitor command '${words[0]}'; try 'monitor help'\n`;
  return cmd.run(target, words.slice(1));
}
