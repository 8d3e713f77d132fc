import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LeaseView } from '../../contract/lease-schemas.js';
import { leaseGantt } from './lease-gantt.js';

const T = Date.parse('2026-01-01T00:00:00Z');
const iso = (s: number): string => new Date(T + s * 1000).toISOString();
const lease = (id: string, type: 'ar' | 'be', host: string, segs: [string, number, number][], state: LeaseView['state'] = 'scheduled'): LeaseView => ({
  id, owner: 'alice', type, state, reason: null, preemptible: type === 'be', start: null, durationS: 60, remainingS: 60, count: 1, vcpus: 1, memoryMiB: 128, template: 'tiny',
  plan: { placements: host === '' ? [] : [{ host, vms: 1 }], segments: segs.map(([kind, a, b]) => ({ kind: kind as 'run', from: iso(a), to: iso(b) })), suspendedOn: null },
  vms: [], pendingStep: null, createdAt: iso(0), updatedAt: iso(0),
});

test('leaseGantt draws each lease on its hosts over time, one glyph per step, queued leases below', () => {
  const out = leaseGantt([
    lease('bbbbbbbb-1', 'be', 'h1', [['prepare', 0, 10], ['run', 10, 40], ['suspend', 40, 50]]),
    lease('aaaaaaaa-1', 'ar', 'h1', [['prepare', 50, 60], ['run', 60, 90], ['shutdown', 90, 100]]),
    lease('cccccccc-1', 'be', '', [], 'accepted'),
  ], T, T + 100_000, 10);
  const lines = out.split('\n');
  assert.match(lines[0]!, /10\.0 s a column/);
  assert.equal(lines[1], 'h1    aaaaaaaa ar×1  .....p###x');
  assert.equal(lines[2], 'h1    bbbbbbbb be×1  p###s.....');
  assert.equal(lines[3], 'queued: cccccccc (accepted)');
});
