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
  /**
   * Where a suspended VM's saved memory (and its disk) lives. `local`: on the
   * hosts it ran on — it resumes there, or on others only after a `migrate`
   * step moves it (migration policy `yes`). `shared`: on a datastore every
   * host reads (NFS) — it resumes on any hosts at the resume rate, with no
   * move; what Haizea's HPDC 2008 scheduler assumed of every suspended lease.
   */
  readonly suspendTo: SuspendStorage;
}

export const SUSPEND_STORAGES = ['local', 'shared'] as const;
export type SuspendStorage = (typeof SUSPEND_STORAGES)[number];

/**
 * nubo's own numbers. Suspend and resume from a quiet run of `node
 * dist/bench/suspend.js --reps 4 --mem 256` (2026-12-05, one host, nothing
 * else running; a 256 MiB guest half filled, a 172 MiB state file): saved
 * at 238–275 MB/s (median 247) and restored at 640–821 MB/s (median 753) of
 * state file. The defaults take the slower rep of each, in MiB/s (238 MB/s =
 * 226.97 MiB/s, 640 MB/s = 610.35 MiB/s, rounded down), and apply it to the
 * VM's configured memory, which is what the scheduler divides: a guest whose
 * memory is all dirty writes a state file as large as its memory, so this is
 * the worst case, and a suspension predicted too short makes an AR start late
 * while one predicted too long only starts the suspension early. (The earlier
 * 20 and 250 MiB/s came from a run on a loaded machine.) Boot 5 s: the tiny
 * guest boots in about 3 s under TCG (FACTS.md) plus QMP and agent round
 * trips (bench/boot.ts was not re-run for this). Migration and image transfer
 * 100 MiB/s: a 1 Gbit/s link moves ~110 MiB/s (bench/migrate.ts needs the lab
 * and was not re-run).
 */
export const DEFAULT_LEASE_RATES: LeaseRates = Object.freeze({
  suspendMiBps: 226,
  resumeMiBps: 610,
  migrateMiBps: 100,
  imageTransferMiBps: 100,
  bootS: 5,
  shutdownS: 2,
  minRunS: 60,
  migrateDisk: true,
  reuseImages: true,
  suspendTo: 'local',
});

/** Defaults overlaid with `raw`, checked once and frozen; a bad field is a ValidationError naming it. */
export function compileLeaseRates(raw: Partial<Record<keyof LeaseRates, unknown>> = {}): LeaseRates {
  const issues: FieldIssue[] = [];
  const out: Record<string, number | boolean | string> = { ...DEFAULT_LEASE_RATES };
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (!Object.hasOwn(DEFAULT_LEASE_RATES, k)) {
      issues.push({ field: `rates.${k}`, message: `unknown rate (known: ${Object.keys(DEFAULT_LEASE_RATES).join(', ')})` });
      continue;
    }
    const def = DEFAULT_LEASE_RATES[k as keyof LeaseRates];
    if (k === 'suspendTo') {
      if (!(SUSPEND_STORAGES as readonly unknown[]).includes(v)) issues.push({ field: `rates.${k}`, message: `must be one of ${SUSPEND_STORAGES.join(', ')} (got ${JSON.stringify(v)})` });
      else out[k] = v as SuspendStorage;
    } else if (typeof def === 'boolean') {
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
