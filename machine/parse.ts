/**
 * Parsers for user-supplied values (command-line options, or strings in a MachineConfig). Each
 * throws ConfigError with a one-line message naming the option.
 */
import { ConfigError } from './errors.js';

/**
 * A count or address: decimal, 0x-hex, underscores allowed (2_000_000), or decimal scientific
 * notation with an integer value (1e9, 2.5e6). Must be a non-negative safe integer.
 */
export function parseNumber(text: string, what: string): number {
  const t = text.trim().replace(/_/g, '');
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(t) || /^[0-9]+$/.test(t)) v = Number(t);
  else if (/^[0-9]+(\.[0-9]+)?e\+?[0-9]+$/i.test(t)) v = Number(t);
  else throw new ConfigError(`${what}: '${text}' is not a number (use decimal, 0x-hex or 1e9)`);
  if (!Number.isFinite(v)) throw new ConfigError(`${what}: '${text}' is too large`);
  if (!Number.isInteger(v)) throw new ConfigError(`${what}: '${text}' is not a whole number`);
  if (!Number.isSafeInteger(v)) throw new ConfigError(`${what}: '${text}' is too large`);
  return v;
}

/** A memory size: 256M, 1G, 512K, 1GiB, 1T, 0x10000000, or bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^\s*(0x[0-9a-fA-F_]+|[0-9_]+)\s*([kKmMgGtT])?[iI]?[bB]?\s*$/.exec(text);
  if (!m) throw new ConfigError(`${what}: '${text}' is not a size (examples: 256M, 1G, 0x10000000)`);
  const unit = (m[2] ?? '').toUpperCase();
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : unit === 'T' ? 1024 ** 4 : 1;
  const v = parseNumber(m[1]!, what) * mult;
  if (!Number.isSafeInteger(v)) throw new ConfigError(`${what}: '${text}' is too large`);
  return v;
}

/** A number given as a number, a bigint or a string in any form parseNumber takes. */
export function toNumber(v: number | bigint | string, what: string): number {
  if (typeof v === 'string') return parseNumber(v, what);
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${what}: ${String(v)} is not a non-negative whole number`);
  return n;
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(v: string, choices: readonly T[], what: string): T {
  if ((choices as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(`${what}: '${v}' is not one of ${choices.join(', ')}`);
}
