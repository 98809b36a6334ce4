#!/usr/bin/env node
// The tree's structure, as issue 8 asks for it: files over ~450 lines (and whether their first
// comment says why they stay whole), functions over ~80 lines, import cycles (runtime imports,
// and with type-only imports too), and the layering (emulator/ never imports hyp/; hyp/ never
// imports emulator/unicorn/). Reads sources with the TypeScript compiler API; changes nothing.
//
// Usage: node scripts/structure.mjs [--lines N] [--function-lines N]
import ts from 'typescript';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const FILE_LINES = arg('--lines', 450);
const FUNCTION_LINES = arg('--function-lines', 80);
const SKIP = new Set(['node_modules', 'dist', 'vendor', '.git', 'build', '.cache']);

function sources(dir, re) {
  const out = [];
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      if (SKIP.has(n)) continue;
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (re.test(n) && !n.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(dir);
  return out;
}
const rel = (p) => relative(root, p);
const all = sources(root, /\.(ts|mts|mjs|js|c|S|h|inc)$/);
const parsed = new Map();
const parse = (f) => {
  if (!parsed.has(f)) parsed.set(f, ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true));
  return parsed.get(f);
};

// ---------------------------------------------------------------- long files
console.log(`files over ${FILE_LINES} lines:`);
for (const f of all) {
  const text = readFileSync(f, 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines <= FILE_LINES) continue;
  const head = text.slice(0, 4000);
  const said = /stays whole|why it stays|over the ~?450|why this file/i.test(head);
  console.log(`  ${String(lines).padStart(5)}  ${rel(f)}${said ? '  (says why at its top)' : ''}`);
}

// ------------------------------------------------------------ long functions
console.log(`functions over ${FUNCTION_LINES} lines:`);
const longFns = [];
for (const f of all.filter((p) => /\.(ts|mts|mjs|js)$/.test(p))) {
  const sf = parse(f);
  const visit = (node, owner) => {
    let name = owner;
    const fn = ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node);
    if (fn) {
      let n = node.name?.getText(sf);
      if (!n && ts.isConstructorDeclaration(node)) n = 'constructor';
      const p = node.parent;
      if (!n && p && (ts.isVariableDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isPropertyAssignment(p))) n = p.name.getText(sf);
      if (!n && p && ts.isCallExpression(p)) n = `${p.expression.getText(sf).slice(0, 30)}(callback)`;
      name = owner ? `${owner} > ${n ?? '<anonymous>'}` : (n ?? '<anonymous>');
      const a = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const b = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      if (b - a + 1 > FUNCTION_LINES) longFns.push({ len: b - a + 1, where: `${rel(f)}:${a}`, name });
    }
    ts.forEachChild(node, (c) => visit(c, name));
  };
  visit(sf, '');
}
longFns.sort((x, y) => y.len - x.len);
for (const l of longFns) console.log(`  ${String(l.len).padStart(5)}  ${l.where}  ${l.name}`);

// ------------------------------------------------------------- import graph
const modules = ['emulator', 'hyp', 'machine', 'cli'].flatMap((d) => (existsSync(join(root, d)) ? sources(join(root, d), /\.ts$/) : []));
const runtime = new Map();
const withTypes = new Map();
for (const f of modules) {
  const rt = new Set();
  const every = new Set();
  for (const st of parse(f).statements) {
    let spec = null;
    let typeOnly = false;
    if (ts.isImportDeclaration(st)) {
      spec = st.moduleSpecifier.text;
      const c = st.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      typeOnly = c !== undefined && (c.isTypeOnly || (c.name === undefined && named !== null && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier) {
      spec = st.moduleSpecifier.text;
      typeOnly = st.isTypeOnly || (st.exportClause !== undefined && ts.isNamedExports(st.exportClause) && st.exportClause.elements.every((e) => e.isTypeOnly));
    }
    if (spec === null || !spec.startsWith('.')) continue;
    const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
    if (!existsSync(target)) continue;
    every.add(target);
    if (!typeOnly) rt.add(target);
  }
  runtime.set(f, rt);
  withTypes.set(f, every);
}

/** Strongly connected components of more than one module (Tarjan). */
function cycles(g) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const c = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) out.push(c.map(rel).sort());
  };
  for (const v of g.keys()) if (!index.has(v)) strong(v);
  return out;
}
for (const [label, g] of [['runtime imports', runtime], ['runtime and type-only imports', withTypes]]) {
  const cs = cycles(g);
  console.log(`import cycles (${label}): ${cs.length} among ${modules.length} modules`);
  for (const c of cs) console.log(`  ${c.join(' <-> ')}`);
}

// ---------------------------------------------------------------- layering
let bad = 0;
for (const [f, deps] of withTypes) {
  for (const d of deps) {
    const [from, to] = [rel(f), rel(d)];
    if ((from.startsWith('emulator/') && to.startsWith('hyp/')) || (from.startsWith('hyp/') && to.startsWith('emulator/unicorn/'))) {
      console.log(`  layering: ${from} imports ${to}`);
      bad++;
    }
  }
}
console.log(`layering violations (emulator/ -> hyp/, hyp/ -> emulator/unicorn/): ${bad}`);
