import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MigrationView } from '../../contract/migration-schemas.js';
import { plannedVsActualFields } from './migration-prediction-output.js';

const base: MigrationView = {
  id: 'm1', vm: 'web', vmId: 'v1', kind: 'live', source: 'h1', destination: 'h2', stage: 'queued', state: 'queued', reason: null,
  startedAt: '2026-12-05T00:00:00.000Z', finishedAt: null, stats: {}, policy: {}, journal: [], priority: 0, queuedAt: '2026-12-05T00:00:00.000Z',
};

test('migration show says when an admin forced the destination past the requirements, and only then', () => {
  assert.deepEqual(plannedVsActualFields({ ...base, forced: true }).find(([k]) => k === 'forced'), ['forced', "yes: the admin's destination overrode the VM's placement requirements"]);
  assert.equal(plannedVsActualFields({ ...base, forced: false }).some(([k]) => k === 'forced'), false);
  assert.equal(plannedVsActualFields(base).some(([k]) => k === 'forced'), false);
  assert.deepEqual(plannedVsActualFields(base)[0], ['priority', '0']);
});
