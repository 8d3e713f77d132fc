import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { compileQueueLimits } from './queue-limits.js';
import { DEFAULT_MIGRATION_QUEUE_LIMITS } from './migration-queue-plan.js';

test('queue limits: defaults fill what is not given; the result is frozen', () => {
  assert.deepEqual(compileQueueLimits(), DEFAULT_MIGRATION_QUEUE_LIMITS);
  const l = compileQueueLimits({ maxConcurrentPerHost: 1 });
  assert.deepEqual(l, { maxConcurrentPerHost: 1, bandwidthBudgetMiBps: DEFAULT_MIGRATION_QUEUE_LIMITS.bandwidthBudgetMiBps });
  assert.ok(Object.isFrozen(l));
  assert.deepEqual(compileQueueLimits({ maxConcurrentPerHost: 64, bandwidthBudgetMiBps: 102400 }), { maxConcurrentPerHost: 64, bandwidthBudgetMiBps: 102400 });
});

test('queue limits: each bad value is named with the allowed range', () => {
  for (const [input, field] of [
    [{ maxConcurrentPerHost: 0 }, 'maxConcurrentPerHost'],
    [{ maxConcurrentPerHost: 1.5 }, 'maxConcurrentPerHost'],
    [{ maxConcurrentPerHost: 65 }, 'maxConcurrentPerHost'],
    [{ bandwidthBudgetMiBps: 0 }, 'bandwidthBudgetMiBps'],
    [{ bandwidthBudgetMiBps: Number.NaN }, 'bandwidthBudgetMiBps'],
    [{ bandwidthBudgetMiBps: 102401 }, 'bandwidthBudgetMiBps'],
  ] as const) {
    assert.throws(() => compileQueueLimits(input), (e: unknown) => e instanceof ValidationError && e.field === field && /from \d+ to \d+/.test(e.message), JSON.stringify(input));
  }
  assert.throws(() => compileQueueLimits({ maxConcurrentPerHost: 0, bandwidthBudgetMiBps: -1 }), (e: unknown) => e instanceof ValidationError && e.issues.length === 2);
});
