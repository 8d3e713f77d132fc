import { it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ValidationError } from '../errors/validation-error.js';
import { NotFoundError } from './store-errors.js';
import { rejectsWith, type ContractFixture } from './store-contract-kit.js';

/** A fresh access key id (AKIA + 16 base32 characters). */
const keyId = (): string => `AKIA${[...randomBytes(16)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('')}`;

const rows = async (fx: ContractFixture): Promise<number> =>
  Number((await fx.store.db.selectFrom('access_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

/** Access keys (migration 0014): made, listed, found while active, revoked; bad input writes nothing. Registered inside storeContract's suite. */
export function accessKeyContract(fx: () => ContractFixture): void {
  it('access keys: created, listed without secrets, found while the key and its user exist, revoked at once', async () => {
    const f = fx();
    const { store, uniq } = f;
    const { user } = await store.users.create({ name: uniq('ak') });
    const id = keyId();
    const made = await store.accessKeys.create({ id, userId: user.id, description: 'ci', secretSealed: 'v1:sealed' });
    assert.deepEqual({ id: made.id, userId: made.userId, description: made.description }, { id, userId: user.id, description: 'ci' });
    assert.deepEqual((await store.accessKeys.list(user.id)).map((k) => k.id), [id]);
    assert.ok(!('secretSealed' in (await store.accessKeys.list(user.id))[0]!), 'a listing holds no secret');
    assert.equal((await store.accessKeys.findActive(id))?.secretSealed, 'v1:sealed');
    await rejectsWith(store.accessKeys.delete(f.owner.id, id), NotFoundError, 'NOT_FOUND');
    assert.ok(await store.accessKeys.findActive(id), 'another user cannot revoke it');
    await store.accessKeys.delete(user.id, id);
    assert.equal(await store.accessKeys.findActive(id), undefined);
    assert.deepEqual(await store.accessKeys.list(user.id), []);
  });

  it('access keys: a deleted user\'s keys stop working; bad ids and descriptions write nothing', async () => {
    const f = fx();
    const { store, uniq } = f;
    const { user } = await store.users.create({ name: uniq('ak') });
    const id = keyId();
    await store.accessKeys.create({ id, userId: user.id, description: '', secretSealed: 'v1:x' });
    await store.users.delete(user.id);
    assert.equal(await store.accessKeys.findActive(id), undefined);
    const before = await rows(f);
    await rejectsWith(store.accessKeys.create({ id: 'not-a-key', userId: f.owner.id, description: '', secretSealed: 'v1:x' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'id'));
    await rejectsWith(store.accessKeys.create({ id: 'AKIAAAAAAAAAAAAAAAA2', userId: f.owner.id, description: 'a\u0000b', secretSealed: 'v1:x' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'description'));
    assert.equal(await rows(f), before);
  });
}
