import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { leasePolicyArg, leaseRateArg } from './lease-flags.js';
import { startArg } from './lease.js';

test('lease flags: policies and rates accumulate; malformed ones are refused with the expected form', () => {
  assert.deepEqual(leasePolicyArg('migration=yes', leasePolicyArg('backfilling=off')), { backfilling: 'off', migration: 'yes' });
  assert.deepEqual(leaseRateArg('migrateDisk=false', leaseRateArg('bootS=20')), { bootS: 20, migrateDisk: false });
  assert.throws(() => leasePolicyArg('migration'), InvalidArgumentError);
  assert.throws(() => leaseRateArg('bootS=fast'), /bootS: expected a number/);
  // suspendTo is a name, not a number: passed on as given, the controller checks it against local|shared.
  assert.deepEqual(leaseRateArg('suspendTo=shared', leaseRateArg('bootS=20')), { bootS: 20, suspendTo: 'shared' });
});

test('lease --start: +DURATION from now, or an ISO date-time; anything else refused', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(startArg('+90s', now), '2026-01-01T00:01:30.000Z');
  assert.equal(startArg('+2h', now), '2026-01-01T02:00:00.000Z');
  assert.equal(startArg('2026-02-01T10:00:00+01:00', now), '2026-02-01T09:00:00.000Z');
  assert.throws(() => startArg('tomorrow', now), InvalidArgumentError);
  assert.throws(() => startArg('+soon', now), InvalidArgumentError);
});
