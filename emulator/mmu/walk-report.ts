/**
 * The walk behind an address, as a user reads it: for each stage the tables,
 * descriptors and decisions level by level, the IPA and PA, and the
 * effective memory attributes with the rule that produced them; or the fault
 * the access would take. Shared by `hypemu run --walk` and the debugger.
 */
import type { TranslateOutcome } from './translate.js';
import type { WalkRecord } from './faults.js';
import { fsc } from './faults.js';

const hex = (n: number) => '0x' + n.toString(16);

export interface WalkLevel {
  level: number;
  table: string;
  descriptorAddress: string;
  descriptor: string;
  decision: string;
  /** A stage-2 step made for a stage-1 table access (S1PTW). */
  forStage1Table?: boolean;
}

export interface WalkReport {
  va: string;
  ipa?: string;
  pa?: string;
  stage1: { enabled: boolean; levels: WalkLevel[]; attributes?: string };
  stage2: { enabled: boolean; levels: WalkLevel[]; memAttr?: string | null };
  effective?: { name: string; type: string; shareability: string; inner: string | null; outer: string | null; rule: string };
  permissions?: { el1: string; el0: string };
  fault?: { stage: number; type: string; level: number; s1ptw: boolean; fsc: string; ipa?: string; detail: string };
}

const perm = (p: number) => `${p & 1 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 4 ? 'x' : '-'}`;

function levels(records: WalkRecord[] | null, stage: 1 | 2): WalkLevel[] {
  return (records ?? [])
    .filter((r) => r.stage === stage)
    .map((r) => ({
      level: r.level,
      table: hex(r.table),
      descriptorAddress: hex(r.descAddr),
      descriptor: r.descriptor,
      decision: r.decision,
      ...(r.forS1Walk ? { forStage1Table: true } : {}),
    }));
}

export function walkReport(va: string, out: TranslateOutcome, stage1Enabled: boolean, stage2Enabled: boolean): WalkReport {
  const report: WalkReport = {
    va,
    stage1: { enabled: stage1Enabled, levels: levels(out.walk, 1) },
    stage2: { enabled: stage2Enabled, levels: levels(out.walk, 2) },
  };
  if (out.ok) {
    report.ipa = hex(out.ipa);
    report.pa = hex(out.pa);
    const a = out.attrs;
    report.stage1.attributes = a.s1.name;
    report.stage2.memAttr = a.s2Name;
    report.effective = {
      name: a.name,
      type: a.type,
      shareability: a.shareability,
      inner: a.inner ? a.inner.cache : null,
      outer: a.outer ? a.outer.cache : null,
      rule: a.rule,
    };
    report.permissions = { el1: perm(out.permsEl1), el0: perm(out.permsEl0) };
  } else {
    report.fault = {
      stage: out.stage,
      type: out.type,
      level: out.level,
      s1ptw: out.s1ptw,
      fsc: '0x' + fsc(out).toString(16).padStart(2, '0'),
      ...(out.stage === 2 ? { ipa: hex(out.ipa) } : {}),
      detail: out.detail,
    };
  }
  return report;
}

/** Multi-line human form (stderr, gdb monitor). */
export function formatWalk(r: WalkReport): string {
  const lines = [`walk ${r.va}:`];
  const stage = (name: string, s: { enabled: boolean; levels: WalkLevel[] }) => {
    if (!s.enabled) {
      lines.push(`  ${name}: disabled`);
      return;
    }
    for (const l of s.levels) {
      lines.push(`  ${name}${l.forStage1Table ? ' (for S1 table)' : ''} L${l.level} table ${l.table} [${l.descriptorAddress}] = ${l.descriptor}: ${l.decision}`);
    }
  };
  stage('S1', r.stage1);
  stage('S2', r.stage2);
  if (r.fault) {
    const f = r.fault;
    lines.push(`  fault: stage ${f.stage} ${f.type} level ${f.level}${f.s1ptw ? ' (on the stage-1 walk, S1PTW)' : ''}, FSC ${f.fsc}${f.ipa ? `, IPA ${f.ipa}` : ''}: ${f.detail}`);
  } else {
    lines.push(`  => IPA ${r.ipa} PA ${r.pa}, ${r.effective!.name} (S1 ${r.stage1.attributes}, S2 ${r.stage2.memAttr ?? 'off'}; ${r.effective!.rule}), EL1 ${r.permissions!.el1} EL0 ${r.permissions!.el0}`);
  }
  return lines.join('\n');
}
