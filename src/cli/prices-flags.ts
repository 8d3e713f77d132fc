import { readFile } from 'node:fs/promises';
import { compileUsagePrices, parseUsagePrices, type UsagePrices } from '../core/usage/usage-prices.js';
import { UsageError } from './usage-error.js';

/** The flags that configure the showback's prices, as `nubo controller` and `nubo up` take them. */
export interface PricesFlags {
  readonly prices?: string | undefined;
  readonly pricesFile?: string | undefined;
}

export const PRICES_HELP = 'showback prices per unit-hour: vcpu-hour=0.01,memory-gib-hour=0.005,disk-gib-hour=0.0001[,currency=EUR][,decimals=2] (a missing price is 0; default currency XXX, 2 decimals)';
export const PRICES_FILE_HELP = 'the showback prices as a JSON object with the keys of --prices, e.g. {"vcpu-hour": "0.01", "currency": "EUR"}';

/**
 * The prices the flags give, checked before the daemon starts; undefined when
 * neither is given (everything costs 0).
 * @throws UsageError (both flags, an unreadable file), ValidationError naming each bad key
 */
export async function pricesFromFlags(o: PricesFlags): Promise<UsagePrices | undefined> {
  if (o.prices !== undefined && o.pricesFile !== undefined) throw new UsageError('BAD_FLAGS', 'give --prices or --prices-file, not both');
  if (o.prices !== undefined) return parseUsagePrices(o.prices);
  if (o.pricesFile === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(o.pricesFile, 'utf8'));
  } catch (err) {
    throw new UsageError('BAD_FLAG', `--prices-file ${o.pricesFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('BAD_FLAG', `--prices-file ${o.pricesFile}: expected a JSON object`);
  return compileUsagePrices(parsed, `--prices-file ${o.pricesFile}`);
}
