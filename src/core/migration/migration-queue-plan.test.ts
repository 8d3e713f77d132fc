import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bandwidthShare, compareQueued, mustWait, planQueueStarts, type QueueCandidate } from './migration-queue-plan.js';

const limits = { maxConcurrentPerHost: 2, bandwidthBudgetMiBps: 1000 };
const c = (id: string, src: string, dst: string, over: Partial<QueueCandidate> = {}): QueueCandidate =>
  ({ id, sourceHostId: src, destHostId: dst, bandwidthMiBps: 100, priority: 0, queuedAt: '2026-01-01T00:00:00.000Z', ...over });

describe('migration queue plan', () => {
  it('orders by priority, then first come, then id', () => {
    const q = [
      c('b', 'h1', 'h2', { queuedAt: '2026-01-01T00:00:02.000Z' }),
      c('a', 'h1', 'h2', { queuedAt: '2026-01-01T00:00:02.000Z' }),
      c('old', 'h1', 'h2', { queuedAt: '2026-01-01T00:00:01.000Z' }),
      c('urgent', 'h1', 'h2', { priority: 10, queuedAt: '2026-01-01T00:00:09.000Z' }),
      c('low', 'h1', 'h2', { priority: -5 }),
    ];
    assert.deepEqual([...q].sort(compareQueued).map((x) => x.id), ['urgent', 'old', 'a', 'b', 'low']);
  });

  it('starts no more than the per-host maximum, counting a host as source or destination', () => {
    const p = planQueueStarts([c('1', 'h1', 'h2'), c('2', 'h1', 'h3'), c('3', 'h3', 'h1'), c('4', 'h4', 'h5')], [], limits);
    assert.deepEqual(p.start, ['1', '2', '4']);
    assert.equal(p.waiting.length, 1);
    assert.match(p.waiting[0]!.reason, /destination host has 2 migrations in flight \(limit 2\)/);
  });

  it('counts the migrations already in flight', () => {
    const p = planQueueStarts([c('1', 'h1', 'h2')], [{ id: 'r', sourceHostId: 'h9', destHostId: 'h2', bandwidthMiBps: 100 }, { id: 's', sourceHostId: 'h2', destHostId: 'h8', bandwidthMiBps: 100 }], limits);
    assert.deepEqual(p.start, []);
    assert.match(p.waiting[0]!.reason, /destination host has 2/);
  });

  it('keeps the sum of bandwidth on a host within its budget', () => {
    const q = [c('1', 'h1', 'h2', { bandwidthMiBps: 700 }), c('2', 'h1', 'h3', { bandwidthMiBps: 400 }), c('3', 'h4', 'h5', { bandwidthMiBps: 400 })];
    const p = planQueueStarts(q, [], limits);
    assert.deepEqual(p.start, ['1', '3']);
    assert.match(p.waiting[0]!.reason, /bandwidth budget is used \(700 of 1000 MiB\/s in use, it needs 400\)/);
  });

  it('a higher-priority waiter keeps its host: a later, smaller one does not overtake it', () => {
    const q = [c('big', 'h1', 'h2', { bandwidthMiBps: 900, priority: 5 }), c('small', 'h1', 'h3', { bandwidthMiBps: 50 })];
    const p = planQueueStarts(q, [{ id: 'r', sourceHostId: 'h1', destHostId: 'h4', bandwidthMiBps: 200 }], limits);
    assert.deepEqual(p.start, []);
    assert.deepEqual(p.waiting.map((w) => w.id), ['big', 'small']);
    assert.match(p.waiting[1]!.reason, /a migration ahead of it waits for host h1/);
  });

  it('a migration between other hosts is not held back by one that waits', () => {
    const p = planQueueStarts([c('w', 'h1', 'h2', { priority: 9 }), c('free', 'h3', 'h4')], [c('x', 'h1', 'h5'), c('y', 'h1', 'h6')], limits);
    assert.deepEqual(p.start, ['free']);
  });

  it('gives a migration at most the whole budget, and admits it alone', () => {
    assert.equal(bandwidthShare(5000, limits), 1000);
    assert.equal(bandwidthShare(300, limits), 300);
    assert.equal(mustWait([], c('1', 'h1', 'h2', { bandwidthMiBps: 1000 }), limits), undefined);
  });
});
