import { ValidationError } from '../../errors/validation-error.js';
import { DEFAULT_MIGRATION_QUEUE_LIMITS, type MigrationQueueLimits } from './migration-queue-plan.js';

/** The range each limit may take: below, nothing could start; above, no link or host could honour it. */
export const MIGRATION_QUEUE_LIMIT_BOUNDS = Object.freeze({
  maxConcurrentPerHost: Object.freeze({ min: 1, max: 64, unit: 'migrations' }),
  bandwidthBudgetMiBps: Object.freeze({ min: 1, max: 100 * 1024, unit: 'MiB/s' }),
});

/**
 * The migration queue's limits from configuration, checked once and frozen;
 * a missing limit takes its default.
 * @throws ValidationError naming each bad limit (nothing starts)
 */
export function compileQueueLimits(input: Partial<MigrationQueueLimits> = {}): MigrationQueueLimits {
  const l = { ...DEFAULT_MIGRATION_QUEUE_LIMITS, ...input };
  const issues = (Object.keys(MIGRATION_QUEUE_LIMIT_BOUNDS) as (keyof MigrationQueueLimits)[]).flatMap((field) => {
    const { min, max, unit } = MIGRATION_QUEUE_LIMIT_BOUNDS[field];
    const v = l[field];
    return Number.isInteger(v) && v >= min && v <= max ? [] : [{ field, message: `must be a whole number of ${unit} from ${min} to ${max} (got ${String(v)})` }];
  });
  if (issues.length > 0) throw new ValidationError('migration queue limits', issues);
  return Object.freeze(l);
}
