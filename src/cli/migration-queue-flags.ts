import type { MigrationQueueLimits } from '../core/migration/migration-queue-plan.js';
import { DEFAULT_MIGRATION_QUEUE_LIMITS } from '../core/migration/migration-queue-plan.js';
import { MIGRATION_QUEUE_LIMIT_BOUNDS } from '../core/migration/queue-limits.js';
import { UsageError } from './usage-error.js';

/** The flags that set the migration queue's per-host limits, as `nubo controller` and `nubo up` take them. */
export interface MigrationQueueFlags {
  readonly migrationMaxPerHost?: string | undefined;
  readonly migrationBandwidthMibps?: string | undefined;
}

const { maxConcurrentPerHost: CONC, bandwidthBudgetMiBps: BW } = MIGRATION_QUEUE_LIMIT_BOUNDS;

export const MIGRATION_MAX_PER_HOST_HELP =
  `migrations a host may be the source or destination of at once (${CONC.min}-${CONC.max}; default ${DEFAULT_MIGRATION_QUEUE_LIMITS.maxConcurrentPerHost}); more wait in the migration queue, highest priority first`;
export const MIGRATION_BANDWIDTH_HELP =
  `migration bandwidth budget of each host's link in MiB/s (${BW.min}-${BW.max}; default ${DEFAULT_MIGRATION_QUEUE_LIMITS.bandwidthBudgetMiBps}): the max-bandwidth of the migrations in flight on a host adds up to at most this`;

/**
 * The limits the flags give (only those given: the controller fills in the
 * defaults), checked before anything starts.
 * @throws UsageError BAD_FLAG naming the flag, the range and the value
 */
export function queueLimitsFromFlags(o: MigrationQueueFlags): Partial<MigrationQueueLimits> {
  const out: { maxConcurrentPerHost?: number; bandwidthBudgetMiBps?: number } = {};
  if (o.migrationMaxPerHost !== undefined) out.maxConcurrentPerHost = wholeFlag(o.migrationMaxPerHost, '--migration-max-per-host', CONC);
  if (o.migrationBandwidthMibps !== undefined) out.bandwidthBudgetMiBps = wholeFlag(o.migrationBandwidthMibps, '--migration-bandwidth-mibps', BW);
  return out;
}

function wholeFlag(text: string, flag: string, b: { readonly min: number; readonly max: number; readonly unit: string }): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < b.min || n > b.max) throw new UsageError('BAD_FLAG', `${flag} must be a whole number of ${b.unit} from ${b.min} to ${b.max}, not ${JSON.stringify(text)}`);
  return n;
}
