import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ABORT_GRACE_MS, RESOLVE_PATIENCE_MS, resolutionDeadline } from './resolution-deadline.js';

const start = Date.parse('2026-01-01T00:00:00Z');

test('a roll-back ends by the migration\'s own timeout', () => {
  assert.equal(resolutionDeadline({ startedAtMs: start, timeoutS: 300, resolvingSinceMs: start + 20_000, aborting: true }), start + 300_000);
});

test('a roll-back that began at or past the timeout gets a grace, no more', () => {
  assert.equal(resolutionDeadline({ startedAtMs: start, timeoutS: 15, resolvingSinceMs: start + 15_000, aborting: true }), start + 15_000 + ABORT_GRACE_MS);
  assert.equal(resolutionDeadline({ startedAtMs: start, timeoutS: 15, resolvingSinceMs: start + 3_600_000, aborting: true }), start + 3_600_000 + ABORT_GRACE_MS);
});

test('a roll-back never waits longer than any resolution would', () => {
  assert.equal(resolutionDeadline({ startedAtMs: start, timeoutS: 86_400, resolvingSinceMs: start, aborting: true }), start + RESOLVE_PATIENCE_MS);
});

test('anything but a roll-back waits the full patience (the destination may hold the only copy)', () => {
  assert.equal(resolutionDeadline({ startedAtMs: start, timeoutS: 15, resolvingSinceMs: start + 60_000, aborting: false }), start + 60_000 + RESOLVE_PATIENCE_MS);
});
