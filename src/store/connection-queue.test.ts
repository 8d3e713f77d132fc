import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionQueue } from './connection-queue.js';
import { inBackground, isBackground } from './store-priority.js';

/** Queues `n` waiters of a lane; each pushes its name to `order` when it gets its turn. */
function wait(q: ConnectionQueue, background: boolean, names: readonly string[], order: string[]): Promise<void>[] {
  return names.map((n) => q.acquire(background).then(() => void order.push(n)));
}

test('one holder at a time; the turn passes in arrival order within a lane', async () => {
  const q = new ConnectionQueue();
  const order: string[] = [];
  await q.acquire(false);
  const waiting = wait(q, false, ['a', 'b', 'c'], order);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'nobody else while it is held');
  for (let i = 0; i < 3; i++) {
    q.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(order.length, i + 1, 'a release hands over exactly one turn');
  }
  await Promise.all(waiting);
  assert.deepEqual(order, ['a', 'b', 'c']);
  q.release();
  assert.deepEqual(q.waiting, { foreground: 0, background: 0 });
  await q.acquire(true); // free again: taken at once
  q.release();
});

test('requests go before background work that waited longer, two to one while both wait, and neither starves', async () => {
  const q = new ConnectionQueue(2);
  const order: string[] = [];
  await q.acquire(false);
  const all = [...wait(q, true, ['b1', 'b2', 'b3', 'b4'], order), ...wait(q, false, ['f1', 'f2', 'f3', 'f4', 'f5'], order)];
  assert.deepEqual(q.waiting, { foreground: 5, background: 4 });
  for (let i = 0; i < 9; i++) {
    q.release();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(all);
  assert.deepEqual(order, ['f1', 'f2', 'b1', 'f3', 'f4', 'b2', 'f5', 'b3', 'b4']);
  q.release();
});

test('a thousand waiters: each release wakes one, in order', async () => {
  const q = new ConnectionQueue();
  const order: number[] = [];
  await q.acquire(false);
  const all = Array.from({ length: 3000 }, (_, i) => q.acquire(i % 3 === 0).then(() => {
    order.push(i);
    q.release();
  }));
  q.release();
  await Promise.all(all);
  assert.equal(order.length, 3000);
  const fg = order.filter((i) => i % 3 !== 0);
  const bg = order.filter((i) => i % 3 === 0);
  assert.deepEqual(fg, [...fg].sort((a, b) => a - b), 'requests in arrival order');
  assert.deepEqual(bg, [...bg].sort((a, b) => a - b), 'background work in arrival order');
  assert.deepEqual(q.waiting, { foreground: 0, background: 0 });
});

test('inBackground marks the work it runs and everything it awaits, not the caller', async () => {
  assert.equal(isBackground(), false);
  const seen = await inBackground(async () => {
    await new Promise((r) => setTimeout(r, 1));
    return isBackground();
  });
  assert.equal(seen, true);
  assert.equal(isBackground(), false);
});

test('a long backlog lets the event loop poll between turns (SQLite runs its queries synchronously)', async () => {
  const q = new ConnectionQueue(2, 5);
  await q.acquire(false);
  let served = 0;
  const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end); };
  // 100 transactions of 1 ms each: 100 ms of work queued behind the holder.
  const all = Array.from({ length: 100 }, () => q.acquire(false).then(() => {
    busy(1);
    served++;
    q.release();
  }));
  let servedWhenPolled: number | undefined;
  setImmediate(() => { servedWhenPolled = served; });
  q.release();
  await Promise.all(all);
  assert.ok(servedWhenPolled !== undefined && servedWhenPolled < 100, `the loop polled while the backlog ran (served ${String(servedWhenPolled)} of 100 first)`);
  assert.equal(served, 100);
});
