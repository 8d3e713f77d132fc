import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import type { JsonObject } from './store-context.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';

/** The event log: ordered, resumable from a sequence number in either direction, pruned from the oldest. */
export function eventContract(fx: () => ContractFixture): void {
  it('events: ordered, resumable with listSince, JSON data round-trips', async () => {
    const { store } = fx();
    const start = await store.events.lastSeq();
    const data: JsonObject = { s: 'ünïcødé "quoted" \\ back', arr: [1, 2.5, null, false, { k: [] }], big: 2 ** 53 - 1 };
    const first = await store.events.append({ kind: 'test.one', resource: 'test', resourceId: 'r1', data });
    assert.ok(first.seq > start);
    assert.deepEqual(first.data, data);
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.events.append({ kind: 'test.many', resource: 'test', resourceId: `r${i}` })));
    const all = await store.events.listSince(start, 1000);
    assert.equal(all.length, 31);
    for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq, 'seq strictly increasing');
    assert.deepEqual(all[0], first);
    const page = await store.events.listSince(start, 10);
    assert.deepEqual(page, all.slice(0, 10));
    assert.deepEqual(await store.events.listSince(page.at(-1)!.seq, 5), all.slice(10, 15));
    assert.deepEqual(await store.events.listSince(await store.events.lastSeq(), 10), []);
    const events = await count(store, 'events');
    await rejectsWith(store.events.append({ kind: '', resource: 'x', resourceId: 'y' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'kind'));
    await rejectsWith(store.events.listSince(-1, 10), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'seq'));
    assert.equal(await count(store, 'events'), events);
  });

  it('events: listBefore walks back from the newest, newest first, and rejects a bad seq or limit', async () => {
    const { store } = fx();
    const start = await store.events.lastSeq();
    await Promise.all(Array.from({ length: 12 }, (_, i) => store.events.append({ kind: 'test.back', resource: 'test', resourceId: `b${i}` })));
    const all = await store.events.listSince(start, 100);
    const newest = [...all].reverse();
    assert.deepEqual(await store.events.listBefore(0, 5), newest.slice(0, 5), 'seq 0: from the newest');
    assert.deepEqual(await store.events.listBefore(newest[4]!.seq, 5), newest.slice(5, 10), 'the next page back');
    assert.deepEqual((await store.events.listBefore(all[0]!.seq, 1000)).every((e) => e.seq < all[0]!.seq), true);
    await rejectsWith(store.events.listBefore(-1, 10), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'seq'));
    await rejectsWith(store.events.listBefore(0, 0), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'limit'));
  });

  it('events: prune drops what is older than the cutoff and all but the newest rows, keeping the newest', async () => {
    const { store } = fx();
    const old = (at: string, i: number) => store.db.insertInto('events').values({ at, kind: 'test.old', resource: 'test', resource_id: `old${i}`, data: '{}' }).execute();
    await old('2000-01-01T00:00:00.000Z', 1);
    await old('2000-01-02T00:00:00.000Z', 2);
    const fresh = await Promise.all(Array.from({ length: 5 }, (_, i) => store.events.append({ kind: 'test.fresh', resource: 'test', resourceId: `f${i}` })));
    const newest = Math.max(...fresh.map((e) => e.seq));
    const byAge = await store.events.prune({ olderThan: '2000-01-01T12:00:00.000Z', keepNewest: 1_000_000 });
    assert.equal(byAge, 1, 'only the one event before the cutoff');
    assert.equal(await store.db.selectFrom('events').select('seq').where('resource_id', '=', 'old1').executeTakeFirst(), undefined);
    assert.ok(await store.db.selectFrom('events').select('seq').where('resource_id', '=', 'old2').executeTakeFirst(), 'younger than the cutoff: kept');
    await store.events.prune({ olderThan: '1999-01-01T00:00:00.000Z', keepNewest: 3 });
    const left = await store.db.selectFrom('events').select('seq').orderBy('seq').execute();
    assert.deepEqual(left.map((r) => Number(r.seq)), fresh.map((e) => e.seq).sort((a, b) => a - b).slice(-3), 'the three newest, nothing else');
    assert.equal(await store.events.lastSeq(), newest, 'the stream goes on from the newest seq');
    assert.equal(await store.events.prune({ olderThan: '1999-01-01T00:00:00.000Z', keepNewest: 3 }), 0, 'nothing more to drop');
    await rejectsWith(store.events.prune({ olderThan: 'yesterday', keepNewest: 3 }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'olderThan'));
    await rejectsWith(store.events.prune({ olderThan: '1999-01-01T00:00:00.000Z', keepNewest: 0 }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'keepNewest'));
  });
}
