import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { ConflictError, NotFoundError } from './store-errors.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';

/**
 * Tenancy in the store contract (migration 0006): named tokens revoked at
 * once, groups and members, shares, and the refusals of deleting a user or
 * demoting the last admin. Registered inside storeContract's suite.
 */
export function tenancyContract(fx: () => ContractFixture): void {
  it('tokens: several per user, named, listed without the secret, revoked for the next lookup; a duplicate name is refused', async () => {
    const { store, uniq } = fx();
    const { user, token: first } = await store.users.create({ name: uniq('tok') });
    assert.deepEqual((await store.tokens.list(user.id)).map((t) => t.name), ['first']);
    const { token: ci, record } = await store.tokens.create(user.id, { name: 'ci' });
    assert.notEqual(ci, first);
    assert.equal((await store.users.findByToken(ci))?.id, user.id);
    assert.ok(!JSON.stringify(await store.tokens.list(user.id)).includes(ci), 'the list never holds a token');
    const rows = await count(store, 'api_tokens');
    await rejectsWith(store.tokens.create(user.id, { name: 'ci' }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
    await rejectsWith(store.tokens.create(user.id, { name: 'bad name/..' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
    assert.equal(await count(store, 'api_tokens'), rows);
    await store.tokens.revoke(user.id, record.id);
    assert.equal(await store.users.findByToken(ci), undefined);
    assert.equal((await store.users.findByToken(first))?.id, user.id, 'the other token still works');
    await store.tokens.revoke(user.id, 'first');
    assert.equal(await store.users.findByToken(first), undefined);
    await rejectsWith(store.tokens.revoke(user.id, 'first'), NotFoundError, 'NOT_FOUND');
  });

  it('groups: unique names, members with an admin flag, memberships per user; deleting a group drops its members and shares', async () => {
    const { store, uniq, owner } = fx();
    const g = await store.groups.create({ name: uniq('dev') });
    await rejectsWith(store.groups.create({ name: g.name }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
    await rejectsWith(store.groups.create({ name: '' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
    const { user } = await store.users.create({ name: uniq('m') });
    await store.groups.setMember(g.id, user.id, false);
    await store.groups.setMember(g.id, owner.id, true);
    await store.groups.setMember(g.id, user.id, true);
    assert.deepEqual((await store.groups.members(g.id)).map((m) => [m.userId, m.admin]).sort(), [[owner.id, true], [user.id, true]].sort());
    assert.deepEqual((await store.groups.membershipsOf(user.id)).map((m) => m.groupId), [g.id]);
    await store.groups.removeMember(g.id, user.id);
    await rejectsWith(store.groups.removeMember(g.id, user.id), NotFoundError, 'NOT_FOUND');
    await rejectsWith(store.groups.setMember('nope', user.id, false), NotFoundError, 'NOT_FOUND');
    await store.shares.add('network', 'net-1', g.id);
    await store.groups.delete(g.id);
    assert.deepEqual(await store.groups.membershipsOf(owner.id).then((ms) => ms.filter((m) => m.groupId === g.id)), []);
    assert.equal((await store.shares.groupsOf('network', ['net-1'])).size, 0);
    await rejectsWith(store.groups.get(g.id), NotFoundError, 'NOT_FOUND');
  });

  it('shares: idempotent add, groups per resource, remove; an unknown kind is refused', async () => {
    const { store, uniq } = fx();
    const [a, b] = [await store.groups.create({ name: uniq('ga') }), await store.groups.create({ name: uniq('gb') })];
    await store.shares.add('template', 't-1', a.id);
    await store.shares.add('template', 't-1', a.id);
    await store.shares.add('template', 't-1', b.id);
    await store.shares.add('image', 'i-1', b.id);
    // Two shares made in one millisecond have no order between them: compared as sets.
    const shared = await store.shares.groupsOf('template', ['t-1', 't-2']);
    assert.deepEqual([...shared.keys()], ['t-1']);
    assert.deepEqual([...(shared.get('t-1') ?? [])].sort(), [a.id, b.id].sort());
    await store.shares.remove('template', 't-1', a.id);
    await rejectsWith(store.shares.remove('template', 't-1', a.id), NotFoundError, 'NOT_FOUND');
    assert.deepEqual((await store.shares.groupsOf('template', ['t-1'])).get('t-1'), [b.id]);
    await rejectsWith(store.shares.add('vm' as 'image', 'x', a.id), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'kind'));
  });

  it('users: delete refuses while the user owns what lives on, then revokes tokens and memberships and keeps the row; the last admin cannot step down', async () => {
    const { store, uniq } = fx();
    const { user, token } = await store.users.create({ name: uniq('leaver') });
    const g = await store.groups.create({ name: uniq('g') });
    await store.groups.setMember(g.id, user.id, false);
    const vol = await store.volumes.create({ name: uniq('v'), ownerId: user.id, sizeMib: 1 });
    await rejectsWith(store.users.delete(user.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /still owns 1 volume/));
    assert.equal((await store.users.findByToken(token))?.id, user.id, 'a refused delete changes nothing');
    await store.volumes.delete(vol.id);
    const gone = await store.users.delete(user.id);
    assert.ok(gone.deletedAt);
    assert.equal(await store.users.findByToken(token), undefined);
    assert.deepEqual(await store.groups.membershipsOf(user.id), []);
    assert.ok(!(await store.users.list()).some((u) => u.id === user.id));
    assert.equal((await store.users.get(user.id)).name, user.name, 'old records still find the name');
    await rejectsWith(store.users.delete(user.id), NotFoundError, 'NOT_FOUND');
    await rejectsWith(store.users.create({ name: user.name }), ConflictError, 'CONFLICT');
    // Roles: promote, then no admin may leave the cloud without one.
    const { user: u2 } = await store.users.create({ name: uniq('p') });
    assert.equal((await store.users.setRole(u2.id, 'admin')).role, 'admin');
    await rejectsWith(store.users.setRole(u2.id, 'root' as 'admin'), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'role'));
    for (const a of (await store.users.list()).filter((x) => x.role === 'admin' && x.id !== u2.id)) await store.users.setRole(a.id, 'user');
    await rejectsWith(store.users.setRole(u2.id, 'user'), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /last admin/));
    await rejectsWith(store.users.delete(u2.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /last admin/));
    assert.equal((await store.users.get(u2.id)).role, 'admin');
  });
}
