import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/open-store.js';
import { AccessKeyCipher } from './access-key-cipher.js';
import { ACCESS_KEY_TRUST_MS, AccessKeys, newAccessKeyId } from './access-keys.js';

/** A store, its cipher, a fake clock, and how many times the store was asked for a key's row. */
async function setup(t: { after: (f: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-akeys-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const cipher = await AccessKeyCipher.load(join(dir, 'access-keys.key'));
  const clock = { ms: 1_000 };
  const reads = { n: 0 };
  const findActive = store.accessKeys.findActive.bind(store.accessKeys);
  store.accessKeys.findActive = async (id) => {
    reads.n++;
    return findActive(id);
  };
  const keys = new AccessKeys(store, cipher, { now: () => clock.ms });
  const alice = (await store.users.create({ name: 'alice' })).user.id;
  return { store, cipher, clock, reads, keys, alice };
}

test('a key is read and opened once, then trusted from memory until ACCESS_KEY_TRUST_MS has passed', async (t) => {
  const { clock, reads, keys, alice } = await setup(t);
  const made = await keys.create(alice);
  assert.deepEqual(await keys.lookupSecret(made.key.id), { secret: made.secretAccessKey, userId: alice });
  assert.deepEqual(await keys.lookupSecret(made.key.id), { secret: made.secretAccessKey, userId: alice });
  assert.equal(reads.n, 1, 'the second lookup read nothing');
  clock.ms += ACCESS_KEY_TRUST_MS - 1;
  await keys.lookupSecret(made.key.id);
  assert.equal(reads.n, 1);
  clock.ms += 1;
  assert.equal((await keys.lookupSecret(made.key.id))?.secret, made.secretAccessKey);
  assert.equal(reads.n, 2, 'read again once the window is over');
});

test('a key deleted through this controller is refused at the very next lookup, though it was kept', async (t) => {
  const { keys, alice } = await setup(t);
  const made = await keys.create(alice);
  const other = await keys.create(alice);
  await keys.lookupSecret(made.key.id);
  await keys.lookupSecret(other.key.id);
  await keys.delete(alice, made.key.id);
  assert.equal(await keys.lookupSecret(made.key.id), undefined);
  assert.equal((await keys.lookupSecret(other.key.id))?.secret, other.secretAccessKey, 'the user\'s other key still works');
});

test('a deleted user\'s keys are refused at the very next lookup once forgotten (the user-delete route does)', async (t) => {
  const { store, keys, alice } = await setup(t);
  const made = await keys.create(alice);
  await keys.lookupSecret(made.key.id);
  await store.users.delete(alice);
  keys.forgetUser(alice);
  assert.equal(await keys.lookupSecret(made.key.id), undefined);
});

test('a key revoked through another controller on the same database is refused here within ACCESS_KEY_TRUST_MS', async (t) => {
  const { store, cipher, clock, keys, alice } = await setup(t);
  const made = await keys.create(alice);
  await keys.lookupSecret(made.key.id);
  const elsewhere = new AccessKeys(store, cipher, { now: () => clock.ms });
  await elsewhere.delete(alice, made.key.id);
  assert.equal(await elsewhere.lookupSecret(made.key.id), undefined, 'refused at once where it was deleted');
  clock.ms += ACCESS_KEY_TRUST_MS;
  assert.equal(await keys.lookupSecret(made.key.id), undefined, 'and here once the window is over');
});

test('a lookup that read the row before a deletion does not keep it', async (t) => {
  const { store, keys, alice } = await setup(t);
  const made = await keys.create(alice);
  // The row is read, then (before the lookup resumes) the key is deleted through this controller.
  const findActive = store.accessKeys.findActive.bind(store.accessKeys);
  let deleting: Promise<unknown> | undefined;
  store.accessKeys.findActive = async (id) => {
    const row = await findActive(id);
    deleting = keys.delete(alice, made.key.id);
    await deleting;
    return row;
  };
  assert.equal((await keys.lookupSecret(made.key.id))?.secret, made.secretAccessKey, 'it answers with what it read');
  store.accessKeys.findActive = findActive;
  assert.ok(deleting);
  assert.equal(await keys.lookupSecret(made.key.id), undefined, 'but did not keep it: the next lookup reads the deletion');
});

test('a key not found is not remembered: one made afterwards (by any controller) works at once', async (t) => {
  const { store, cipher, keys, alice } = await setup(t);
  const id = newAccessKeyId();
  assert.equal(await keys.lookupSecret(id), undefined);
  await store.accessKeys.create({ id, userId: alice, description: '', secretSealed: cipher.seal(id, 'x'.repeat(40)) });
  assert.deepEqual(await keys.lookupSecret(id), { secret: 'x'.repeat(40), userId: alice });
});

test('trustMs 0 reads the row for every lookup', async (t) => {
  const { store, cipher, reads, alice } = await setup(t);
  const keys = new AccessKeys(store, cipher, { trustMs: 0 });
  const made = await keys.create(alice);
  await keys.lookupSecret(made.key.id);
  await keys.lookupSecret(made.key.id);
  assert.equal(reads.n, 2);
});
