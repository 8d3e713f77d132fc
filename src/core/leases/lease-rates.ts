import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';

/**
 * The rates from which the scheduler predicts how long each enactment step
 * takes (memory and disk sizes in MiB, rates in MiB/s, times in seconds).
 * The controller will carry them out with a real clock; the simulator takes
 * the predictions as what happened.
 */
export interface LeaseRates {
  /** Saving a VM's memory to its host's disk. */
  readonly suspendMiBps: number;
  /** Reading it back. */
  readonly resumeMiBps: number;
  /** Moving a suspended VM's memory (and disk, see migrateDisk) to another host. */
  readonly migrateMiBps: number;
  /** Fetching a lease's image to a host that has not cached it. */
  readonly imageTransferMiBps: number;
  /** From QEMU started to the guest up. */
  readonly bootS: number;
  readonly shutdownS: number;
  /** A best-effort lease started in a gap before an advance reservation must run at least this long, or it is not worth its boot and suspend. */
  readonly minRunS: number;
  /** Whether a migration moves the image's size in disk besides the memory (no shared storage). */
  readonly migrateDisk: boolean;
  /** Whether an image fetched to a host stays there for the next lease (Haizea's image reuse). */
  readonly reuseImages: boolean;
}

/**
 * nubo's own numbers. Suspend and resume from `node dist/bench/suspend.js
 * --reps 2 --mem 256` (2026-12-05 14:36 UTC, bench/results/suspend-1796481402243.json,
 * on the shared 2-core machine): a 256 MiB guest with 128 MiB filled saved in
 * 0.83 s and 12.33 s, restored in 1.02 s and 0.49 s — per MiB of configured
 * memory (what the scheduler divides) 307 and 21 MiB/s saving, 251 and 525
 * MiB/s restoring. The scheduler takes the slower of each: a suspension
 * predicted too short makes an AR start late, one predicted too long only
 * starts the suspension early. Boot 5 s: the tiny guest boots in about 3 s
 * under TCG (FACTS.md) plus QMP and agent round trips (bench/boot.ts was not
 * re-run for this). Migration and image transfer 100 MiB/s: a 1 Gbit/s link
 * moves ~110 MiB/s (bench/migrate.ts needs the lab and was not re-run).
 */
export const DEFAULT_LEASE_RATES: LeaseRates = Object.freeze({
  suspendMiBps: 20,
  resumeMiBps: 250,
  migrateMiBps: 100,
  imageTransferMiBps: 100,
  bootS: 5,
  shutdownS: 2,
  minRunS: 60,
  migrateDisk: true,
  reuseImages: true,
});

/** Defaults overlaid with `raw`, checked once and frozen; a bad field is a ValidationError naming it. */
export function compileLeaseRates(raw: Partial<Record<keyof LeaseRates, unknown>> = {}): LeaseRates {
  const issues: FieldIssue[] = [];
  const out: Record<string, number | boolean> = { ...DEFAULT_LEASE_RATES };
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (!Object.hasOwn(DEFAULT_LEASE_RATES, k)) {
      issues.push({ field: `rates.${k}`, message: `unknown rate (known: ${Object.keys(DEFAULT_LEASE_RATES).join(', ')})` });
      continue;
    }
    const def = DEFAULT_LEASE_RATES[k as keyof LeaseRates];
    if (typeof def === 'boolean') {
      if (typeof v !== 'boolean') issues.push({ field: `rates.${k}`, message: `must be true or false (got ${JSON.stringify(v)})` });
      else out[k] = v;
    } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k.endsWith('MiBps') && v === 0)) {
      issues.push({ field: `rates.${k}`, message: `must be a finite number ${k.endsWith('MiBps') ? 'above' : 'of at least'} 0 (got ${JSON.stringify(v)})` });
    } else {
      out[k] = v;
    }
  }
  if (issues.length > 0) throw new ValidationError('lease rates', issues);
  return Object.freeze(out) as unknown as LeaseRates;
}
