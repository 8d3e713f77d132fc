import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { DEFAULT_MIGRATION_POLICY, parseMigrationPolicy, toMigrationParameters } from './migration-policy.js';

function issuesOf(input: unknown): Record<string, string> {
  try {
    parseMigrationPolicy(input);
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    assert.equal(err.code, 'VALIDATION_FAILED');
    return Object.fromEntries(err.issues.map((i) => [i.field, i.message]));
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

test('defaults', () => {
  assert.deepEqual(DEFAULT_MIGRATION_POLICY, {
    maxBandwidthMiBps: 1024,
    downtimeMs: 300,
    maxDowntimeMs: 2000,
    autoConverge: true,
    xbzrle: false,
    postcopy: false,
    resumeOnCompletion: true,
    timeoutS: 600,
    stallPasses: 3,
    throttleInitialPercent: 20,
    throttleStepPercent: 20,
    maxThrottlePercent: 99,
  });
  assert.ok(Object.isFrozen(DEFAULT_MIGRATION_POLICY));
  assert.deepEqual(parseMigrationPolicy({}), DEFAULT_MIGRATION_POLICY);
  assert.deepEqual(parseMigrationPolicy(null), DEFAULT_MIGRATION_POLICY);
});

test('given fields win; the downtime ceiling follows a higher initial limit', () => {
  const p = parseMigrationPolicy({ maxBandwidthMiBps: 32, downtimeMs: 3000, postcopy: true, autoConverge: false, timeoutS: 60 });
  assert.equal(p.maxBandwidthMiBps, 32);
  assert.equal(p.downtimeMs, 3000);
  assert.equal(p.maxDowntimeMs, 3000);
  assert.equal(p.postcopy, true);
  assert.equal(p.autoConverge, false);
  assert.equal(p.timeoutS, 60);
  assert.equal(parseMigrationPolicy({ downtimeMs: 100, maxDowntimeMs: 100 }).maxDowntimeMs, 100);
});

test('a parsed policy parses again to itself (the store keeps it as JSON)', () => {
  const p = parseMigrationPolicy({ downtimeMs: 500, xbzrle: true });
  assert.deepEqual(parseMigrationPolicy(JSON.parse(JSON.stringify(p))), p);
});

test('every bad field is named', () => {
  assert.deepEqual(
    issuesOf({
      maxBandwidthMiBps: 0,
      downtimeMs: 1.5,
      timeoutS: 10 ** 9,
      autoConverge: 'yes',
      stallPasses: -1,
      throttleInitialPercent: 100,
      bogus: 1,
    }),
    {
      maxBandwidthMiBps: 'must be at least 1 MiB/s',
      downtimeMs: 'must be a whole number',
      timeoutS: 'must be at most 86400 s',
      autoConverge: 'must be true or false',
      stallPasses: 'must be at least 1',
      throttleInitialPercent: 'must be at most 99 %',
      bogus: 'is not a migration policy field',
    },
  );
  assert.deepEqual(issuesOf({ xbzrle: 1, postcopy: null, maxDowntimeMs: 70_000 }), {
    xbzrle: 'must be true or false',
    postcopy: 'must be true or false',
    maxDowntimeMs: 'must be at most 60000 ms',
  });
  assert.deepEqual(issuesOf({ maxBandwidthMiBps: '1024' }), { maxBandwidthMiBps: 'must be a number' });
});

test('cross-field limits', () => {
  assert.deepEqual(issuesOf({ downtimeMs: 500, maxDowntimeMs: 400 }), { maxDowntimeMs: 'must be at least downtimeMs (500)' });
  assert.deepEqual(issuesOf({ throttleInitialPercent: 50, maxThrottlePercent: 40 }), { maxThrottlePercent: 'must be at least throttleInitialPercent (50)' });
});

test('not an object', () => {
  assert.deepEqual(Object.keys(issuesOf('fast')), ['(root)']);
  assert.deepEqual(Object.keys(issuesOf([])), ['(root)']);
  assert.match(
    (() => {
      try {
        parseMigrationPolicy({ downtimeMs: 0 });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })(),
    /^invalid migration policy: downtimeMs: must be at least 10 ms$/,
  );
});

test('toMigrationParameters', () => {
  assert.deepEqual(toMigrationParameters(DEFAULT_MIGRATION_POLICY), {
    maxBandwidthBytes: 1024 * 1024 * 1024,
    downtimeLimitMs: 300,
    autoConverge: true,
    xbzrle: false,
    postcopy: false,
  });
  const p = parseMigrationPolicy({ maxBandwidthMiBps: 32, downtimeMs: 50, autoConverge: false, xbzrle: true, postcopy: true });
  assert.deepEqual(toMigrationParameters(p), { maxBandwidthBytes: 32 * 1024 * 1024, downtimeLimitMs: 50, autoConverge: false, xbzrle: true, postcopy: true });
  // Hosts without userfaultfd: the capability is not asked for, whatever the policy permits.
  assert.equal(toMigrationParameters(p, { postcopySupported: false }).postcopy, false);
  assert.equal(toMigrationParameters(p, { postcopySupported: true }).postcopy, true);
});

test('resumeOnCompletion: on by default, off on request, anything but a boolean refused by name', () => {
  assert.equal(parseMigrationPolicy({ resumeOnCompletion: false }).resumeOnCompletion, false);
  assert.deepEqual(issuesOf({ resumeOnCompletion: 'no' }), { resumeOnCompletion: 'must be true or false' });
});
