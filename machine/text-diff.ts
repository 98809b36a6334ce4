/**
 * A unified diff of two texts, line by line (`hypemu check`'s console report). Myers' O(ND)
 * shortest edit script ("An O(ND) Difference Algorithm and Its Variations", 1986), hunks with
 * three lines of context as `diff -u` prints them. Console logs are thousands of lines at most
 * and differ in a few places, so D stays small.
 */

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

/** The shortest edit script from a to b, as a list of kept, removed and added lines. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  trace.push(v.slice());
  // Walk the saved frontiers back from (n, m) to (0, 0).
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 2; d >= 0 && (x > 0 || y > 0); d--) {
    const vd = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && vd[off + k - 1]! < vd[off + k + 1]!) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : vd[off + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) ops.push({ kind: ' ', line: a[--x]! }), y--;
    if (d === 0) break;
    if (x === prevX) ops.push({ kind: '+', line: b[--y]! });
    else ops.push({ kind: '-', line: a[--x]! });
  }
  while (x > 0 && y > 0) ops.push({ kind: ' ', line: a[--x]! }), y--;
  return ops.reverse();
}

/** Split a text into lines as diff sees them (a final newline ends the last line, it does not add one). */
export function textLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * `diff -u` output of two texts, or '' when they are equal. `context` lines around each change;
 * hunks closer than twice that are merged.
 */
export function unifiedDiff(a: string, b: string, names: { a: string; b: string }, context = 3): string {
  if (a === b) return '';
  const ops = editScript(textLines(a), textLines(b));
  const out = [`--- ${names.a}`, `+++ ${names.b}`];
  let i = 0;
  while (i < ops.length) {
    while (i < ops.length && ops[i]!.kind === ' ') i++;
    if (i >= ops.length) break;
    // A hunk: from `context` lines before this change to `context` after the last change that
    // is within 2 * context kept lines of the previous one.
    const start = Math.max(0, i - context);
    let end = i;
    for (let j = i, kept = 0; j < ops.length; j++) {
      if (ops[j]!.kind === ' ') {
        if (++kept > 2 * context) break;
      } else {
        kept = 0;
        end = j;
      }
    }
    const stop = Math.min(ops.length, end + 1 + context);
    let aLine = 1;
    let bLine = 1;
    for (let j = 0; j < start; j++) {
      if (ops[j]!.kind !== '+') aLine++;
      if (ops[j]!.kind !== '-') bLine++;
    }
    const hunk = ops.slice(start, stop);
    const aCount = hunk.filter((o) => o.kind !== '+').length;
    const bCount = hunk.filter((o) => o.kind !== '-').length;
    const range = (line: number, count: number): string => (count === 1 ? `${line}` : `${count === 0 ? line - 1 : line},${count}`);
    out.push(`@@ -${range(aLine, aCount)} +${range(bLine, bCount)} @@`);
    for (const o of hunk) out.push(o.kind + o.line);
    i = stop;
  }
  const eol = (t: string): boolean => t === '' || t.endsWith('\n');
  if (!eol(a) || !eol(b)) out.push('\\ (a text does not end with a newline)');
  return out.join('\n') + '\n';
}
