import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeartbeatRecord } from '../store/repositories/hosts-repository.js';
import { NotFoundError } from '../store/store-errors.js';
import { HeartbeatRecorder, type HeartbeatWriter } from './heartbeat-recorder.js';

/** A writer that holds each write until the test lets it go; `known` are the host ids it stores. */
function heldWriter(known: readonly string[]) {
  const writes: { beats: HeartbeatRecord[]; release: (err?: Error) => void }[] = [];
  let waiting: (() => void) | undefined;
  const writer: HeartbeatWriter = {
    recordHeartbeats: (beats) => new Promise<Set<string>>((ok, fail) => {
      writes.push({ beats: [...beats], release: (err) => (err ? fail(err) : ok(new Set(beats.map((b) => b.id).filter((id) => known.includes(id))))) });
      waiting?.();
    }),
  };
  const nextWrite = async (n: number): Promise<(typeof writes)[number]> => {
    while (writes.length < n) await new Promise<void>((r) => { waiting = r; });
    return writes[n - 1]!;
  };
  return { writer, writes, nextWrite };
}

const settled = async (p: Promise<unknown>): Promise<string> => {
  const pending = Symbol('pending');
  const r = await Promise.race([p.then(() => 'ok', (e: unknown) => (e instanceof NotFoundError ? 'not found' : `error: ${(e as Error).message}`)), new Promise((r) => setImmediate(() => r(pending)))]);
  return r === pending ? 'pending' : (r as string);
};

test('beats within the window share one write, each settles when it is committed, and a host no longer stored is refused', async () => {
  const { writer, writes, nextWrite } = heldWriter(['a', 'b']);
  const rec = new HeartbeatRecorder(writer, { windowMs: 20 });
  const at = new Date('2026-01-01T00:00:00.000Z');
  const beats = [rec.record({ id: 'a', at }), rec.record({ id: 'b', usage: { load: 1 } }), rec.record({ id: 'gone' })];
  const w = await nextWrite(1);
  assert.deepEqual(w.beats, [{ id: 'a', at }, { id: 'b', usage: { load: 1 } }, { id: 'gone' }], 'one write for the three');
  assert.deepEqual(await Promise.all(beats.map(settled)), ['pending', 'pending', 'pending'], 'none is answered before the commit');
  w.release();
  assert.deepEqual(await Promise.all(beats.map(settled)), ['ok', 'ok', 'not found']);
  assert.equal(writes.length, 1);
});

test('two beats of one host in a batch are one record: the later time, the latest data given', async () => {
  const { writer, nextWrite } = heldWriter(['a']);
  const rec = new HeartbeatRecorder(writer, { windowMs: 20 });
  const [t1, t2] = [new Date(1_000), new Date(2_000)];
  const both = [rec.record({ id: 'a', at: t2, usage: { load: 1 } }), rec.record({ id: 'a', at: t1 })];
  const w = await nextWrite(1);
  assert.deepEqual(w.beats, [{ id: 'a', at: t2, usage: { load: 1 } }]);
  w.release();
  await Promise.all(both);
});

test('one write at a time: beats that come during a write form the next batch; a failed write fails only its own beats', async () => {
  const { writer, nextWrite } = heldWriter(['a', 'b', 'c']);
  const rec = new HeartbeatRecorder(writer, { windowMs: 5 });
  const first = rec.record({ id: 'a' });
  const w1 = await nextWrite(1);
  const second = [rec.record({ id: 'b' }), rec.record({ id: 'c' })];
  // Well past the window: still no second write while the first is under way.
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await Promise.all(second.map(settled)), ['pending', 'pending']);
  w1.release(new Error('disk I/O error'));
  assert.equal(await settled(first), 'error: disk I/O error');
  const w2 = await nextWrite(2);
  assert.deepEqual(w2.beats.map((b) => b.id), ['b', 'c']);
  w2.release();
  assert.deepEqual(await Promise.all(second.map(settled)), ['ok', 'ok']);
});

test('a full batch is written without waiting out the window; flush writes what is pending', async () => {
  const { writer, nextWrite } = heldWriter(['a', 'b', 'c']);
  const rec = new HeartbeatRecorder(writer, { windowMs: 60_000, maxBatch: 2 });
  const two = [rec.record({ id: 'a' }), rec.record({ id: 'b' })];
  const w1 = await nextWrite(1);
  assert.deepEqual(w1.beats.map((b) => b.id), ['a', 'b']);
  w1.release();
  await Promise.all(two);
  const last = rec.record({ id: 'c' });
  const flushed = rec.flush();
  const w2 = await nextWrite(2);
  assert.deepEqual(w2.beats.map((b) => b.id), ['c'], 'flush did not wait a minute');
  w2.release();
  await flushed;
  assert.equal(await settled(last), 'ok');
});
