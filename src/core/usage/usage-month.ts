import { ValidationError } from '../../errors/validation-error.js';

/** A calendar month in UTC: [start, end) in epoch milliseconds. */
export interface UsageMonth {
  /** `YYYY-MM`. */
  readonly month: string;
  readonly start: number;
  readonly end: number;
}

/**
 * `2026-12` → December 2026, UTC. Months are UTC on purpose: an interval is
 * split at the same instant wherever the controller or the reader is.
 * @throws ValidationError naming `field` for anything but `YYYY-MM` with a month 01–12
 */
export function parseUsageMonth(text: string, field = 'month'): UsageMonth {
  const m = /^(\d{4})-(\d{2})$/.exec(text);
  const year = m ? Number(m[1]) : NaN;
  const month = m ? Number(m[2]) : NaN;
  if (!m || year < 1970 || month < 1 || month > 12) {
    throw new ValidationError('usage month', [{ field, message: `expected a month as YYYY-MM (01–12, UTC), not ${JSON.stringify(text)}` }]);
  }
  return { month: text, start: Date.UTC(year, month - 1, 1), end: Date.UTC(year, month, 1) };
}

/** The UTC month `at` falls in, as `YYYY-MM`. */
export function usageMonthOf(at: number): string {
  return new Date(at).toISOString().slice(0, 7);
}
