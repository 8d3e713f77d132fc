import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './open-store.js';
import { findOrUndefined } from './find-or-undefined.js';
import { NotFoundError } from './store-errors.js';

test('findOrUndefined: the row when found, undefined only for the store\'s NotFound', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-find-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  try {
    const { user } = await store.users.create({ name: 'u', role: 'admin' });
    assert.equal((await findOrUndefined(store.users.get(user.id)))?.name, 'u');
    await assert.rejects(store.users.get('00000000-0000-4000-8000-000000000000'), NotFoundError);
    assert.equal(await findOrUndefined(store.users.get('00000000-0000-4000-8000-000000000000')), undefined);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('findOrUndefined: a store error that is not NotFound propagates (a closed database is not "absent")', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-find-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  await store.close();
  try {
    const err = await findOrUndefined(store.users.get(user.id)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Error, 'the lookup on a closed store rejects');
    assert.ok(!(err instanceof NotFoundError), `not read as absent: ${String(err)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
