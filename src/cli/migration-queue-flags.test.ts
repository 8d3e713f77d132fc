import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from './usage-error.js';
import { queueLimitsFromFlags } from './migration-queue-flags.js';

test('queue limit flags: only the given limits, as numbers', () => {
  assert.deepEqual(queueLimitsFromFlags({}), {});
  assert.deepEqual(queueLimitsFromFlags({ migrationMaxPerHost: '1' }), { maxConcurrentPerHost: 1 });
  assert.deepEqual(queueLimitsFromFlags({ migrationMaxPerHost: '3', migrationBandwidthMibps: '512' }), { maxConcurrentPerHost: 3, bandwidthBudgetMiBps: 512 });
});

test('queue limit flags: a bad value names the flag, the range and the value', () => {
  for (const [flags, flag] of [
    [{ migrationMaxPerHost: '0' }, '--migration-max-per-host'],
    [{ migrationMaxPerHost: '65' }, '--migration-max-per-host'],
    [{ migrationMaxPerHost: '2.5' }, '--migration-max-per-host'],
    [{ migrationMaxPerHost: 'two' }, '--migration-max-per-host'],
    [{ migrationMaxPerHost: '' }, '--migration-max-per-host'],
    [{ migrationBandwidthMibps: '-5' }, '--migration-bandwidth-mibps'],
    [{ migrationBandwidthMibps: '1e3' }, '--migration-bandwidth-mibps'],
    [{ migrationBandwidthMibps: '102401' }, '--migration-bandwidth-mibps'],
  ] as const) {
    assert.throws(() => queueLimitsFromFlags(flags), (e: unknown) => e instanceof UsageError && e.code === 'BAD_FLAG' && e.message.startsWith(flag) && / from 1 to \d+, not "/.test(e.message), JSON.stringify(flags));
  }
});
