import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../store/open-store.js';
import { EventPruner } from './event-pruner.js';

const DAY = 24 * 3600_000;

test('the pruner keeps events younger than maxAge and at most maxRows of them, the newest', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-prune-'));
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db'), now: () => new Date(clock) });
  try {
    const seqs: number[] = [];
    for (let day = 0; day < 10; day++) {
      clock = Date.parse('2026-01-01T00:00:00.000Z') + day * DAY;
      for (let i = 0; i < 3; i++) seqs.push((await store.events.append({ kind: 'test.tick', resource: 'test', resourceId: `d${day}-${i}` })).seq);
    }
    const remaining = async () => (await store.events.listSince(0, 1000)).map((e) => e.seq);
    // Days 7, 8 and 9 are within 2.5 days of the clock (day 9): 9 events, under the row limit.
    const pruner = new EventPruner(store, { maxAgeMs: 2.5 * DAY, maxRows: 100, intervalMs: 60_000 }, pino({ level: 'silent' }), () => clock);
    assert.equal(await pruner.pruneNow(), 21);
    assert.deepEqual(await remaining(), seqs.slice(-9));
    // The row limit bites when the age does not.
    const byRows = new EventPruner(store, { maxAgeMs: 100 * DAY, maxRows: 4, intervalMs: 60_000 }, pino({ level: 'silent' }), () => clock);
    assert.equal(await byRows.pruneNow(), 5);
    assert.deepEqual(await remaining(), seqs.slice(-4));
    assert.equal(await byRows.pruneNow(), 0);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
