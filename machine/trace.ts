/**
 * `--trace FILE`: every EL2 exit as one JSON line, built on the machine's events (so a run
 * without --trace pays nothing), plus the interrupts the guest took and its console lines.
 *
 *   {"type":"exit","insn":181024,"vtimeNs":181024,"vcpu":0,"pc":"0x0000000040080174","el":1,
 *    "reason":"sysreg","esr":"0x62302a64","ec":"sys64","il":1,"iss":"0x302a64",
 *    "syndrome":"sys64 write op0=3 op1=0 CRn=10 CRm=2 op2=0 Rt=19","insnText":"msr mair_el1, x19",
 *    "sysreg":{"name":"MAIR_EL1","value":"0xbb004404ff","write":true},
 *    "path":"fastPath","action":"resume","hostNs":2310,"cycles":100}
 *   {"type":"interrupt","insn":...,"vtimeNs":...,"vcpu":0,"kind":"irq","pc":"0x..."}
 *   {"type":"console","insn":...,"vtimeNs":...,"vcpu":0,"text":"hello\n"}
 *
 * Everything but hostNs is deterministic: two runs of the same image and options write the same
 * lines apart from that field. `--trace-filter` keeps only some records (traceFilter below).
 */
import { EC_NAMES, describeEsr, esrEc, esrIss } from '../emulator/cpu/esr.js';
import { disassemble } from '../emulator/debug/disasm.js';
import { hexVa, vaFromBigint } from '../emulator/types.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import { ConfigError } from './errors.js';
import { TraceFile } from './trace-file.js';
import type { ConsoleEvent, ExitEvent, InterruptEvent } from './events.js';

const REASONS = ['sysreg', 'hvc', 'smc', 'dabt_s2', 'iabt_s2', 'wfx', 'irq', 'debug'] as const;
const KINDS = ['interrupt', 'console'] as const;

/**
 * What --trace-filter keeps. Items (comma-separated, repeatable): an exit reason (sysreg, hvc,
 * smc, dabt_s2, iabt_s2, wfx, irq), `interrupt` or `console` for those records, or a system
 * register name (MAIR_EL1, case-insensitive) for the sysreg exits on that register. No filter:
 * everything.
 */
export interface TraceFilter {
  readonly reasons: ReadonlySet<string>;
  readonly registers: ReadonlySet<string>;
  readonly kinds: ReadonlySet<string>;
}

export function parseTraceFilter(items: readonly string[]): TraceFilter | null {
  const words = items.flatMap((i) => i.split(',')).map((w) => w.trim()).filter((w) => w !== '');
  if (words.length === 0) return null;
  const reasons = new Set<string>();
  const registers = new Set<string>();
  const kinds = new Set<string>();
  for (const w of words) {
    if ((REASONS as readonly string[]).includes(w)) reasons.add(w);
    else if ((KINDS as readonly string[]).includes(w)) kinds.add(w);
    else if (/^[A-Za-z][A-Za-z0-9_]*$/.test(w)) registers.add(w.toUpperCase());
    else throw new ConfigError(`--trace-filter: '${w}' is not an exit reason (${REASONS.join(', ')}), interrupt, console or a register name`);
  }
  return { reasons, registers, kinds };
}

const hex = (v: bigint | number): string => '0x' + v.toString(16);

/** Whether --trace-filter keeps this exit (no filter: every exit). */
export function keepsExit(f: TraceFilter | null, e: ExitEvent): boolean {
  return f === null || f.reasons.has(e.reason) || (e.reason === 'sysreg' && f.registers.has(e.sysreg.name.toUpperCase()));
}

export class TraceWriter {
  private readonly file: TraceFile;

  constructor(
    path: string,
    /** The vCPUs (each exit's instruction is read in its own vCPU's regime; a console line takes its writer's clock). */
    private readonly vcpus: readonly Vcpu[],
    private readonly filter: TraceFilter | null,
    /** hostNs: false leaves the host-time field out (golden runs: never compared, so never stored). */
    private readonly opts: { readonly hostNs?: boolean } = {},
  ) {
    this.file = new TraceFile(path);
  }

  private put(rec: object): void {
    this.file.add(JSON.stringify(rec) + '\n');
  }

  readonly exit = (e: ExitEvent): void => {
    if (!keepsExit(this.filter, e)) return;
    const ec = esrEc(e.esr);
    const pc = vaFromBigint(e.pc);
    const word = (this.vcpus[e.vcpu] ?? this.vcpus[0]!).readInsn(pc);
    const rec: Record<string, unknown> = {
      type: 'exit', insn: e.instructions, vtimeNs: e.virtualTimeNs, vcpu: e.vcpu, pc: hexVa(pc), el: e.el, reason: e.reason,
      esr: hex(e.esr), ec: EC_NAMES[ec] ?? hex(ec), il: (e.esr >>> 25) & 1, iss: hex(esrIss(e.esr)), syndrome: describeEsr(e.esr),
      insnText: word === null ? null : disassemble(word, e.pc),
    };
    switch (e.reason) {
      case 'sysreg':
        rec.sysreg = { name: e.sysreg.name, value: hex(e.sysreg.value), write: e.sysreg.write };
        break;
      case 'dabt_s2':
      case 'iabt_s2':
        rec.ipa = hex(e.ipa);
        if (e.mmio) rec.mmio = { ipa: hex(e.mmio.ipa), size: e.mmio.size, write: e.mmio.write, value: hex(e.mmio.value) };
        break;
      case 'hvc':
      case 'smc':
        rec.imm = e.imm;
        rec.function = hex(e.function);
        break;
      case 'wfx':
        rec.wfe = e.wfe;
        break;
      case 'debug':
        rec.far = hex(e.far);
        rec.reflected = e.reflected;
        break;
    }
    rec.path = e.path;
    rec.action = e.action;
    if (this.opts.hostNs !== false) rec.hostNs = e.hostNs;
    rec.cycles = e.cycles;
    this.put(rec);
  };

  readonly interrupt = (e: InterruptEvent): void => {
    if (this.filter !== null && !this.filter.kinds.has('interrupt')) return;
    this.put({ type: 'interrupt', insn: e.instructions, vtimeNs: e.virtualTimeNs, vcpu: e.vcpu, kind: e.kind, pc: hex(e.pc) });
  };

  /** A console chunk (a line, or the part of one a vCPU wrote), with the vCPU that wrote it and its clock. */
  readonly console = (text: string, e?: ConsoleEvent): void => {
    if (this.filter !== null && !this.filter.kinds.has('console')) return;
    const vcpu = e?.vcpu ?? 0;
    const v = this.vcpus[vcpu] ?? this.vcpus[0]!;
    this.put({ type: 'console', insn: v.currentInstructions, vtimeNs: v.virtualTimeNs, vcpu, text });
  };

  flush(): void {
    this.file.flush();
  }

  close(): void {
    this.file.close();
  }
}
