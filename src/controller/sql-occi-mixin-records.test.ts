import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { openStore, type Store } from '../store/open-store.js';
import { SqlOcciMixinRecords, type OcciTables } from './sql-occi-mixin-records.js';

let dir: string;
let store: Store;
let records: SqlOcciMixinRecords;
const MY = 'http://example.com/occi/my_stuff#';
const mixin = (term: string, location: string) => ({ scheme: MY, term, title: term, location, applies: [] as string[] });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nubo-occi-mixins-'));
  store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  records = new SqlOcciMixinRecords(store.db as unknown as Kysely<OcciTables>);
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

test('a user\'s mixins: defined once per identifier and location, each user\'s own, removed with their tags', async () => {
  assert.equal(await records.define('alice', mixin('a', '/a/')), 'defined');
  assert.equal(await records.define('alice', mixin('a', '/other/')), 'identifier-taken');
  assert.equal(await records.define('alice', mixin('b', '/a/')), 'location-taken');
  assert.equal(await records.define('bob', mixin('a', '/a/')), 'defined', 'bob\'s are his own');
  assert.deepEqual((await records.list('alice')).map((m) => [m.term, m.location]), [['a', '/a/']]);

  await records.retag('alice', MY, 'a', { add: [{ collection: 'compute', id: 'c1' }, { collection: 'storage', id: 's1' }], remove: [], replace: false });
  await records.retag('alice', MY, 'a', { add: [{ collection: 'compute', id: 'c1' }], remove: [], replace: false });
  assert.deepEqual([...(await records.tags('alice')).entries()], [['compute/c1', [`${MY}a`]], ['storage/s1', [`${MY}a`]]], 'tagging twice is once');
  assert.deepEqual([...(await records.tags('bob')).entries()], []);
  await records.retag('alice', MY, 'a', { add: [], remove: [{ collection: 'storage', id: 's1' }], replace: false });
  assert.deepEqual([...(await records.tags('alice')).keys()], ['compute/c1']);
  await records.retag('alice', MY, 'a', { add: [{ collection: 'network', id: 'n1' }], remove: [], replace: true });
  assert.deepEqual([...(await records.tags('alice')).keys()], ['network/n1'], 'replace: exactly what was given');

  assert.equal(await records.remove('alice', MY, 'a'), true);
  assert.equal(await records.remove('alice', MY, 'a'), false);
  assert.deepEqual([await records.list('alice'), [...(await records.tags('alice')).keys()]], [[], []], 'the mixin went with its tags');
  assert.equal((await records.list('bob')).length, 1);
});
