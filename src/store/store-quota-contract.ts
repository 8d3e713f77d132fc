import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { QuotaExceededError } from '../core/quota/quota-exceeded-error.js';
import { NotFoundError } from './store-errors.js';
import { SHA, count, rejectsWith, type ContractFixture } from './store-contract-kit.js';

/**
 * Quotas in the store contract (migration 0008): limits set and cleared,
 * usage read from what exists, and every create that grows a user's
 * resources refused inside its own transaction — also under a race of
 * concurrent creates, where exactly the limit's worth get through. Registered
 * inside storeContract's suite.
 */
export function quotaContract(fx: () => ContractFixture): void {
  const vmCharge = { vcpus: 2, memoryMib: 256, diskMib: 1024 };

  it('quotas: limits set, kept, cleared; bad input names the field and changes nothing; unknown subjects are NOT_FOUND', async () => {
    const { store, uniq } = fx();
    const { user } = await store.users.create({ name: uniq('q') });
    const s = { kind: 'user' as const, id: user.id };
    assert.deepEqual(await store.quotas.limits(s), {}, 'no row: unlimited');
    assert.deepEqual(await store.quotas.setLimits(s, { vms: 3, memoryMiB: 4096 }), { vms: 3, memoryMiB: 4096 });
    assert.deepEqual(await store.quotas.setLimits(s, { vcpus: 0, memoryMiB: null }), { vms: 3, vcpus: 0 }, 'absent keeps, null clears, 0 is a limit');
    for (const [field, patch] of [['vms', { vms: -1 }], ['vcpus', { vcpus: 1.5 }], ['diskMiB', { diskMiB: '4G' }], ['cpus', { cpus: 4 }]] as const) {
      await rejectsWith(store.quotas.setLimits(s, patch as never), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, field === 'cpus' ? '(root)' : field));
    }
    assert.deepEqual(await store.quotas.limits(s), { vms: 3, vcpus: 0 }, 'refusals changed nothing');
    await rejectsWith(store.quotas.setLimits({ kind: 'user', id: 'ghost' }, { vms: 1 }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'user'));
    await rejectsWith(store.quotas.limits({ kind: 'group', id: 'ghost' }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'group'));
  });

  it('quotas: usage counts live VMs with their charge, volumes (count and MiB) and images; terminated VMs free theirs', async () => {
    const { store, uniq } = fx();
    const { user } = await store.users.create({ name: uniq('u') });
    const s = { kind: 'user' as const, id: user.id };
    const a = await store.vms.create({ name: uniq('vm'), ownerId: user.id, charge: vmCharge });
    await store.vms.create({ name: uniq('vm'), ownerId: user.id, charge: { vcpus: 1, memoryMib: 128, diskMib: 10 } });
    await store.volumes.create({ name: uniq('vol'), ownerId: user.id, sizeMib: 64 });
    await store.images.create({ name: uniq('img'), ownerId: user.id, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/q' });
    assert.deepEqual(await store.quotas.usage(s), { vms: 2, vcpus: 3, memoryMiB: 384, diskMiB: 1024 + 10 + 64, volumes: 1, images: 1, leases: 0 });
    await store.vms.transition(a.id, { from: ['pending'], to: 'terminated', action: 'terminate' });
    assert.deepEqual(await store.quotas.usage(s), { vms: 1, vcpus: 1, memoryMiB: 128, diskMiB: 10 + 64, volumes: 1, images: 1, leases: 0 });
  });

  it('quotas: a user at a limit is refused VM, volume and image creates, naming resource, limit, use and request; nothing is written', async () => {
    const { store, uniq } = fx();
    const { user } = await store.users.create({ name: uniq('lim') });
    await store.quotas.setLimits({ kind: 'user', id: user.id }, { vcpus: 3, volumes: 1, images: 0 });
    await store.vms.create({ name: uniq('vm'), ownerId: user.id, charge: vmCharge });
    const [vms, events, vols, imgs] = [await count(store, 'vms'), await count(store, 'events'), await count(store, 'volumes'), await count(store, 'images')];
    await rejectsWith(store.vms.create({ name: uniq('vm'), ownerId: user.id, charge: vmCharge }), QuotaExceededError, 'QUOTA_EXCEEDED', (e) => {
      assert.deepEqual([e.subject, e.subjectName, e.resource, e.limit, e.used, e.requested], ['user', user.name, 'vcpus', 3, 2, 2]);
      assert.match(e.message, /vcpus/);
    });
    await store.volumes.create({ name: uniq('vol'), ownerId: user.id, sizeMib: 8 });
    await rejectsWith(store.volumes.create({ name: uniq('vol'), ownerId: user.id, sizeMib: 8 }), QuotaExceededError, 'QUOTA_EXCEEDED', (e) => assert.equal(e.resource, 'volumes'));
    await rejectsWith(store.images.create({ name: uniq('img'), ownerId: user.id, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/q' }), QuotaExceededError, 'QUOTA_EXCEEDED', (e) => assert.equal(e.resource, 'images'));
    assert.deepEqual([await count(store, 'vms'), await count(store, 'volumes'), await count(store, 'images')], [vms, vols + 1, imgs]);
    assert.equal(await count(store, 'events'), events + 1, 'only the volume that fitted left an event');
    // Up to the limit exactly still fits: 2 + 1 of 3 vCPUs.
    await store.vms.create({ name: uniq('vm'), ownerId: user.id, charge: { vcpus: 1, memoryMib: 1, diskMib: 1 } });
  });

  it("quotas: a group's limit caps the sum over its members; a user in two groups counts in both", async () => {
    const { store, uniq } = fx();
    const g = await store.groups.create({ name: uniq('g') });
    const h = await store.groups.create({ name: uniq('h') });
    const { user: a } = await store.users.create({ name: uniq('a') });
    const { user: b } = await store.users.create({ name: uniq('b') });
    await store.groups.setMember(g.id, a.id, false);
    await store.groups.setMember(g.id, b.id, false);
    await store.groups.setMember(h.id, b.id, false);
    await store.quotas.setLimits({ kind: 'group', id: g.id }, { vms: 2 });
    await store.quotas.setLimits({ kind: 'group', id: h.id }, { memoryMiB: 300 });
    await store.vms.create({ name: uniq('vm'), ownerId: a.id, charge: vmCharge });
    await store.vms.create({ name: uniq('vm'), ownerId: b.id, charge: vmCharge });
    await rejectsWith(store.vms.create({ name: uniq('vm'), ownerId: a.id, charge: vmCharge }), QuotaExceededError, 'QUOTA_EXCEEDED', (e) => {
      assert.deepEqual([e.subject, e.subjectName, e.resource, e.limit, e.used, e.requested], ['group', g.name, 'vms', 2, 2, 1]);
    });
    assert.deepEqual((await store.quotas.usage({ kind: 'group', id: g.id })).vms, 2);
    await store.quotas.setLimits({ kind: 'group', id: g.id }, { vms: null });
    await rejectsWith(store.vms.create({ name: uniq('vm'), ownerId: b.id, charge: vmCharge }), QuotaExceededError, 'QUOTA_EXCEEDED', (e) => {
      assert.deepEqual([e.subject, e.subjectName, e.resource, e.used], ['group', h.name, 'memoryMiB', 256]);
    });
    await store.vms.create({ name: uniq('vm'), ownerId: a.id, charge: vmCharge });
    const members = await store.quotas.memberUsage(g.id);
    assert.deepEqual(members.map((m) => [m.userId, m.usage.vms]).sort(), [[a.id, 2], [b.id, 1]].sort());
  });

  it('quotas: 12 concurrent creates against a limit of 3 — exactly 3 succeed, per user and per group', async () => {
    const { store, uniq } = fx();
    const { user } = await store.users.create({ name: uniq('race') });
    await store.quotas.setLimits({ kind: 'user', id: user.id }, { vms: 3 });
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => store.vms.create({ name: uniq('vm'), ownerId: user.id, charge: vmCharge })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof QuotaExceededError, String(r.reason));
    assert.equal((await store.quotas.usage({ kind: 'user', id: user.id })).vms, 3);

    const g = await store.groups.create({ name: uniq('rg') });
    const members = await Promise.all([1, 2, 3].map(async () => (await store.users.create({ name: uniq('m') })).user));
    for (const m of members) await store.groups.setMember(g.id, m.id, false);
    await store.quotas.setLimits({ kind: 'group', id: g.id }, { volumes: 3, diskMiB: 1000 });
    const vols = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => store.volumes.create({ name: uniq('v'), ownerId: members[i % 3]!.id, sizeMib: 10 })));
    assert.equal(vols.filter((r) => r.status === 'fulfilled').length, 3);
    assert.equal((await store.quotas.usage({ kind: 'group', id: g.id })).volumes, 3);
  });
}
