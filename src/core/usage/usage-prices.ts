import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import { formatFixed, parseFixed } from './fixed-point.js';

/** Prices are kept exactly, in billionths of the currency per unit-hour. */
export const PRICE_DECIMALS = 9;

/** The prices a report is made with: per vCPU-hour, per GiB-hour of memory and of disk. */
export interface UsagePrices {
  readonly currency: string;
  /** Places a cost is rounded to (2: cents). */
  readonly decimals: number;
  /** Billionths of the currency per vCPU-hour. */
  readonly vcpuHour: bigint;
  readonly memoryGibHour: bigint;
  readonly diskGibHour: bigint;
}

/** The keys of the `--prices` flag and of a prices JSON file. */
export const PRICE_KEYS = ['vcpu-hour', 'memory-gib-hour', 'disk-gib-hour', 'currency', 'decimals'] as const;
export type UsagePricesInput = Partial<Record<(typeof PRICE_KEYS)[number], string | number>>;

/** Nothing configured: every figure costs 0 of `XXX` (ISO 4217's "no currency"). */
export const DEFAULT_USAGE_PRICES: UsagePrices = Object.freeze({ currency: 'XXX', decimals: 2, vcpuHour: 0n, memoryGibHour: 0n, diskGibHour: 0n });

/**
 * Checks prices as configured (a JSON file's object, or the parsed flag) and
 * freezes them. Every bad key is named; nothing is rounded: a price with more
 * than 9 decimals is refused.
 * @throws ValidationError
 */
export function compileUsagePrices(input: UsagePricesInput, what = 'prices'): UsagePrices {
  const issues: FieldIssue[] = [];
  for (const key of Object.keys(input)) {
    if (!(PRICE_KEYS as readonly string[]).includes(key)) issues.push({ field: key, message: `unknown key (expected ${PRICE_KEYS.join(', ')})` });
  }
  const price = (key: 'vcpu-hour' | 'memory-gib-hour' | 'disk-gib-hour'): bigint => {
    const v = input[key];
    if (v === undefined) return 0n;
    const n = parseFixed(String(v), PRICE_DECIMALS);
    if (n === undefined) issues.push({ field: key, message: `expected a non-negative decimal with at most ${PRICE_DECIMALS} places, not ${JSON.stringify(v)}` });
    return n ?? 0n;
  };
  const prices = { vcpuHour: price('vcpu-hour'), memoryGibHour: price('memory-gib-hour'), diskGibHour: price('disk-gib-hour') };
  const currency = String(input.currency ?? DEFAULT_USAGE_PRICES.currency);
  if (!/^[^\s,=]{1,16}$/u.test(currency)) issues.push({ field: 'currency', message: `expected 1–16 characters without spaces, commas or =, not ${JSON.stringify(input.currency)}` });
  const decimals = input.decimals === undefined ? DEFAULT_USAGE_PRICES.decimals : Number(input.decimals);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > PRICE_DECIMALS || !/^\d+$/.test(String(input.decimals ?? '2'))) {
    issues.push({ field: 'decimals', message: `expected an integer from 0 to ${PRICE_DECIMALS}, not ${JSON.stringify(input.decimals)}` });
  }
  if (issues.length > 0) throw new ValidationError(what, issues);
  return Object.freeze({ currency, decimals, ...prices });
}

/**
 * `vcpu-hour=0.01,memory-gib-hour=0.005,disk-gib-hour=0.0001,currency=EUR,decimals=4`
 * (any subset; a missing price is 0).
 * @throws ValidationError naming each bad key
 */
export function parseUsagePrices(spec: string, what = '--prices'): UsagePrices {
  const input: Record<string, string> = {};
  const issues: FieldIssue[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) issues.push({ field: part, message: 'expected key=value' });
    else if (part.slice(0, eq) in input) issues.push({ field: part.slice(0, eq), message: 'given twice' });
    else input[part.slice(0, eq)] = part.slice(eq + 1);
  }
  if (issues.length > 0) throw new ValidationError(what, issues);
  return compileUsagePrices(input, what);
}

/** Prices as the report shows them: decimal strings per unit-hour, trailing zeros trimmed. */
export function usagePricesView(p: UsagePrices): { currency: string; decimals: number; vcpuHour: string; memoryGibHour: string; diskGibHour: string } {
  const show = (n: bigint): string => formatFixed(n, PRICE_DECIMALS).replace(/\.?0+$/, '');
  return { currency: p.currency, decimals: p.decimals, vcpuHour: show(p.vcpuHour), memoryGibHour: show(p.memoryGibHour), diskGibHour: show(p.diskGibHour) };
}
