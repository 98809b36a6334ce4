/** Parsers for command-line values. Each throws UsageError with a one-line message. */

export class UsageError extends Error {
  override name = 'UsageError';
}

/** An address or count: decimal or 0x-hex, underscores allowed. Must be an exact double. */
export function parseNumber(text: string, what: string): number {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(t)) throw new UsageError(`${what}: '${text}' is not a number (use decimal or 0x-hex)`);
  const v = Number(t);
  if (!Number.isSafeInteger(v)) throw new UsageError(`${what}: '${text}' is too large`);
  return v;
}

/** A memory size: 256M, 1G, 512K, 0x10000000, or bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^\s*(0x[0-9a-fA-F_]+|[0-9_]+)\s*([kKmMgG])?[iI]?[bB]?\s*$/.exec(text);
  if (!m) throw new UsageError(`${what}: '${text}' is not a size (examples: 256M, 1G, 0x10000000)`);
  const unit = (m[2] ?? '').toUpperCase();
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  const v = parseNumber(m[1]!, what) * mult;
  if (!Number.isSafeInteger(v)) throw new UsageError(`${what}: '${text}' is too large`);
  return v;
}
