/**
 * Target description (target.xml) generated from the register table, so that GDB's
 * register numbering and the stub's `g`/`p` handling can never disagree.
 */
import type { RegisterDescriptor } from './target.js';

/**
 * Type definitions that some table types need. They are emitted inside each feature that uses
 * the type (GDB scopes custom types per feature). Shapes follow gdb/features/aarch64-*.xml.
 */
const TYPE_DEFS: Readonly<Record<string, string>> = {
  cpsr_flags: `<flags id="cpsr_flags" size="4">
  <field name="SP" start="0" end="0"/>
  <field name="EL" start="2" end="3"/>
  <field name="nRW" start="4" end="4"/>
  <field name="F" start="6" end="6"/>
  <field name="I" start="7" end="7"/>
  <field name="A" start="8" end="8"/>
  <field name="D" start="9" end="9"/>
  <field name="BTYPE" start="10" end="11"/>
  <field name="SSBS" start="12" end="12"/>
  <field name="IL" start="20" end="20"/>
  <field name="SS" start="21" end="21"/>
  <field name="PAN" start="22" end="22"/>
  <field name="UAO" start="23" end="23"/>
  <field name="DIT" start="24" end="24"/>
  <field name="TCO" start="25" end="25"/>
  <field name="V" start="28" end="28"/>
  <field name="C" start="29" end="29"/>
  <field name="Z" start="30" end="30"/>
  <field name="N" start="31" end="31"/>
</flags>`,
  aarch64v: `<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v2u" type="uint64" count="2"/>
<vector id="v2i" type="int64" count="2"/>
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v4u" type="uint32" count="4"/>
<vector id="v4i" type="int32" count="4"/>
<vector id="v8f" type="ieee_half" count="8"/>
<vector id="v8u" type="uint16" count="8"/>
<vector id="v8i" type="int16" count="8"/>
<vector id="v16u" type="uint8" count="16"/>
<vector id="v16i" type="int8" count="16"/>
<vector id="v1u" type="uint128" count="1"/>
<vector id="v1i" type="int128" count="1"/>
<union id="vnd"><field name="f" type="v2d"/><field name="u" type="v2u"/><field name="s" type="v2i"/></union>
<union id="vns"><field name="f" type="v4f"/><field name="u" type="v4u"/><field name="s" type="v4i"/></union>
<union id="vnh"><field name="f" type="v8f"/><field name="u" type="v8u"/><field name="s" type="v8i"/></union>
<union id="vnb"><field name="u" type="v16u"/><field name="s" type="v16i"/></union>
<union id="vnq"><field name="u" type="v1u"/><field name="s" type="v1i"/></union>
<union id="aarch64v"><field name="d" type="vnd"/><field name="s" type="vns"/><field name="h" type="vnh"/><field name="b" type="vnb"/><field name="q" type="vnq"/></union>`,
};

function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Build target.xml. Features appear in first-use order; regnums are explicit table indices. */
export function buildTargetXml(table: readonly RegisterDescriptor[], architecture = 'aarch64'): string {
  const features: string[] = [];
  const byFeature = new Map<string, { index: number; reg: RegisterDescriptor }[]>();
  table.forEach((reg, index) => {
    let list = byFeature.get(reg.feature);
    if (!list) {
      list = [];
      byFeature.set(reg.feature, list);
      features.push(reg.feature);
    }
    list.push({ index, reg });
  });
  const parts: string[] = [
    '<?xml version="1.0"?>',
    '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
    '<target version="1.0">',
    `<architecture>${xmlAttr(architecture)}</architecture>`,
  ];
  for (const feature of features) {
    parts.push(`<feature name="${xmlAttr(feature)}">`);
    const regs = byFeature.get(feature) ?? [];
    const emittedTypes = new Set<string>();
    for (const { reg } of regs) {
      const def = TYPE_DEFS[reg.type];
      if (def !== undefined && !emittedTypes.has(reg.type)) {
        emittedTypes.add(reg.type);
        parts.push(def);
      }
    }
    for (const { index, reg } of regs) {
      const group = reg.group !== undefined ? ` group="${xmlAttr(reg.group)}"` : '';
      parts.push(`<reg name="${xmlAttr(reg.name)}" bitsize="${reg.bitsize}" type="${xmlAttr(reg.type)}" regnum="${index}"${group}/>`);
    }
    parts.push('</feature>');
  }
  parts.push('</target>');
  return parts.join('\n') + '\n';
}
