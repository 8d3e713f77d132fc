import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeasurementsInFlight } from './measurements-in-flight.js';

/** A promise the test settles by hand. */
function gate<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('settled waits for every measurement of that VM under way, and only that VM\'s; the tracked answer passes through', async () => {
  const m = new MeasurementsInFlight();
  const a = gate<number>();
  const b = gate<number>();
  const other = gate<number>();
  const answered = m.track('vm-1', a.promise);
  void m.track('vm-1', b.promise);
  void m.track('vm-2', other.promise);
  assert.equal(m.count('vm-1'), 2);
  let done = false;
  const waiting = m.settled('vm-1', 60_000).then(() => { done = true; });
  a.resolve(7);
  assert.equal(await answered, 7);
  await tick();
  assert.equal(done, false, 'one measurement is still under way');
  b.reject(new Error('QEMU went away'));
  await waiting;
  assert.equal(done, true, 'a failed measurement counts as ended: settled never rejects');
  assert.equal(m.count('vm-1'), 0, 'forgotten once settled');
  assert.equal(m.count('vm-2'), 1, 'another VM\'s measurement is not waited for, nor forgotten');
  other.resolve(1);
});

test('settled returns at once with nothing under way, and after the bound or an abort when a measurement never ends', async () => {
  const m = new MeasurementsInFlight();
  const t0 = performance.now();
  await m.settled('idle', 60_000);
  assert.ok(performance.now() - t0 < 50, 'nothing to wait for');
  void m.track('stuck', new Promise<never>(() => {}));
  const t1 = performance.now();
  await m.settled('stuck', 100);
  const waited = performance.now() - t1;
  assert.ok(waited >= 90, `waited the bound (${waited} ms)`);
  const ac = new AbortController();
  const aborted = m.settled('stuck', 60_000, ac.signal);
  ac.abort(new Error('the request went away'));
  await aborted;
  await m.settled('stuck', 60_000, AbortSignal.abort());
  assert.equal(m.count('stuck'), 1, 'still under way: it was only not waited for');
});
