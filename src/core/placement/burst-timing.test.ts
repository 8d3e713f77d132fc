import { test } from 'node:test';
import assert from 'node:assert/strict';
import { burstTiming, type BurstPolicy } from './burst-timing.js';

const T0 = Date.parse('2026-12-05T21:00:00.000Z');
const wait30: BurstPolicy = { kind: 'when-wait-exceeds', maxWaitS: 30 };

test('when-full: a VM no local host takes may burst at once, with nothing to explain', () => {
  assert.deepEqual(burstTiming({ kind: 'when-full' }, T0, T0), { now: true });
  assert.deepEqual(burstTiming({ kind: 'when-full' }, undefined, T0), { now: true });
});

test('when-wait-exceeds: not before the wait is over, retried just past it, the reason saying how long it waited', () => {
  const at12 = burstTiming(wait30, T0, T0 + 12_000);
  assert.deepEqual(at12, { now: false, reason: 'it takes VMs that waited more than 30 s for a local host (this one waits since 2026-12-05T21:00:00.000Z)', retryInMs: 18_001 });
  // The same words a second later: the reason is not rewritten on every pass.
  assert.equal((burstTiming(wait30, T0, T0 + 13_000) as { reason: string }).reason, (at12 as { reason: string }).reason);
  // The retry asked for lands past the limit: the VM may go then.
  assert.equal(burstTiming(wait30, T0, T0 + 12_000 + (at12.now ? 0 : at12.retryInMs)).now, true);
  // Exactly the limit is not more than it.
  assert.equal(burstTiming(wait30, T0, T0 + 30_000).now, false);
  assert.deepEqual(burstTiming(wait30, T0, T0 + 31_000), { now: true, why: 'waited 31 s > 30 s for a local host' });
});

test('waits are told rounded up (never down to the limit), to a tenth of a second under ten', () => {
  const p: BurstPolicy = { kind: 'when-wait-exceeds', maxWaitS: 3 };
  assert.deepEqual(burstTiming(p, T0, T0 + 3_240), { now: true, why: 'waited 3.3 s > 3 s for a local host' });
  assert.deepEqual(burstTiming(p, T0, T0 + 3_001), { now: true, why: 'waited 3.1 s > 3 s for a local host' });
  assert.deepEqual(burstTiming(p, T0, T0 + 4_000), { now: true, why: 'waited 4 s > 3 s for a local host' });
  assert.deepEqual(burstTiming(wait30, T0, T0 + 30_001), { now: true, why: 'waited 31 s > 30 s for a local host' });
});

test('the wait is measured from the stored pending time, not from when this controller first saw the VM (a restart does not reset it)', () => {
  // A controller that started at T0 + 40 s sees a VM pending since T0: it has waited 40 s already.
  assert.deepEqual(burstTiming(wait30, T0, T0 + 40_000), { now: true, why: 'waited 40 s > 30 s for a local host' });
});

test('an unknown pending time counts as now: the VM waits the whole time; a clock behind the stored time does not make the wait negative', () => {
  assert.deepEqual(burstTiming(wait30, undefined, T0), { now: false, reason: 'it takes VMs that waited more than 30 s for a local host (this one waits since 2026-12-05T21:00:00.000Z)', retryInMs: 30_001 });
  assert.equal((burstTiming(wait30, T0 + 5_000, T0) as { retryInMs: number }).retryInMs, 30_001);
});
