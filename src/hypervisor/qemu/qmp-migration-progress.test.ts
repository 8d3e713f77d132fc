import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationProgress, diskMirrorProgress, migrationStatusKind, sourceProgress } from './qmp-migration-progress.js';
import type { QmpBlockJobInfo } from './qmp-schema.js';

const job = (over: Partial<QmpBlockJobInfo>): QmpBlockJobInfo => ({
  type: 'mirror', device: 'mirror-data', len: 100, offset: 40, busy: true, paused: false, speed: 0, ready: false, status: 'running', ...over,
});

test('source progress: RAM figures, dirty rate in bytes, passes and timings from query-migrate', () => {
  const p = sourceProgress({
    status: 'active',
    ram: { transferred: 10, remaining: 20, total: 30, duplicate: 0, normal: 0, 'normal-bytes': 0, 'dirty-pages-rate': 5, mbps: 8.5, 'dirty-sync-count': 3, 'page-size': 4096 },
    'total-time': 1200,
    'expected-downtime': 40,
    'cpu-throttle-percentage': 20,
  }, [job({})]);
  assert.deepEqual(p, {
    status: 'active', transferredBytes: 10, remainingBytes: 20, totalBytes: 30, dirtyRateBytes: 5 * 4096, passes: 3, mbps: 8.5,
    totalTimeMs: 1200, expectedDowntimeMs: 40, cpuThrottlePercent: 20,
    disks: [{ diskId: 'data', offset: 40, len: 100, ready: false }],
  });
});

test('source progress without a migration: status none, zeros, no optional fields', () => {
  assert.deepEqual(sourceProgress(undefined, []), {
    status: 'none', transferredBytes: 0, remainingBytes: 0, totalBytes: 0, dirtyRateBytes: 0, passes: 0, mbps: 0, disks: [],
  });
  assert.equal(sourceProgress({ status: 'failed', 'error-desc': 'Unable to write to socket' }, []).error, 'Unable to write to socket');
});

test('only the driver\'s mirror jobs count as disks; a failed one carries its error', () => {
  const disks = diskMirrorProgress([
    job({ device: 'mirror-root', ready: true, status: 'ready', offset: 100 }),
    job({ device: 'backup-x', type: 'backup' }),
    job({ device: 'other', type: 'mirror' }),
    job({ device: 'mirror-data', status: 'concluded', error: 'Input/output error' }),
  ]);
  assert.deepEqual(disks, [
    { diskId: 'root', offset: 100, len: 100, ready: true },
    { diskId: 'data', offset: 40, len: 100, ready: false, error: 'Input/output error' },
  ]);
});

test('QEMU statuses fold into the interface\'s', () => {
  assert.equal(migrationStatusKind(undefined), 'none');
  assert.equal(migrationStatusKind('postcopy-active'), 'postcopy-active');
  assert.equal(migrationStatusKind('device'), 'active');
  assert.equal(migrationStatusKind('pre-switchover'), 'active');
  assert.equal(migrationStatusKind('postcopy-paused'), 'other');
});

test('destination progress: QEMU\'s incoming status, else what the run state implies', () => {
  assert.equal(destinationProgress({}, 'inmigrate').status, 'setup');
  assert.equal(destinationProgress({ status: 'active' }, 'inmigrate').status, 'active');
  assert.equal(destinationProgress({ status: 'completed' }, 'paused').status, 'completed');
  assert.equal(destinationProgress({}, 'paused').status, 'completed');
  assert.equal(destinationProgress({}, 'running').status, 'none');
  assert.deepEqual(destinationProgress({ status: 'active' }, 'inmigrate').disks, []);
});
