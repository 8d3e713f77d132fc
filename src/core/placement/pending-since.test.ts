import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pendingSince } from './pending-since.js';

test('the newest change into pending from another state, or the creation; pending → pending writes (its reason) do not restart it', () => {
  assert.equal(pendingSince([
    { fromState: null, toState: 'pending', at: '2026-12-05T21:00:00.000Z' },
    { fromState: 'pending', toState: 'pending', at: '2026-12-05T21:00:05.000Z' },
    { fromState: 'pending', toState: 'pending', at: '2026-12-05T21:00:09.000Z' },
  ]), Date.parse('2026-12-05T21:00:00.000Z'));
  // Stopped and resumed: pending again since the resume.
  assert.equal(pendingSince([
    { fromState: null, toState: 'pending', at: '2026-12-05T20:00:00.000Z' },
    { fromState: 'pending', toState: 'prolog', at: '2026-12-05T20:00:01.000Z' },
    { fromState: 'running', toState: 'stopped', at: '2026-12-05T20:30:00.000Z' },
    { fromState: 'stopped', toState: 'pending', at: '2026-12-05T21:00:00.000Z' },
    { fromState: 'pending', toState: 'pending', at: '2026-12-05T21:00:02.000Z' },
  ]), Date.parse('2026-12-05T21:00:00.000Z'));
});

test('no such change, or a time that does not parse: unknown', () => {
  assert.equal(pendingSince([]), undefined);
  assert.equal(pendingSince([{ fromState: 'pending', toState: 'pending', at: '2026-12-05T21:00:00.000Z' }]), undefined);
  assert.equal(pendingSince([{ fromState: null, toState: 'pending', at: 'yesterday' }]), undefined);
});
