import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { ConflictError, NotFoundError, StaleStateError } from './store-errors.js';
import { rejectsWith, type ContractFixture } from './store-contract-kit.js';
import type { NewCloudInput } from './repositories/clouds-repository.js';

const rows = async (fx: ContractFixture, table: 'clouds' | 'cloud_vms'): Promise<number> =>
  Number((await fx.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

const input = (name: string, o: Partial<NewCloudInput> = {}): NewCloudInput => ({
  name, endpoint: 'http://127.0.0.1:7490', region: 'nubo-1', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', seal: (id) => `v1:sealed-for-${id}`,
  instanceTypes: { '1x128': 'nubo.tiny' }, images: { disk: 'ami-00000001' }, capacityVms: 2, pricePerHour: 0.05, burst: 'when-full', ...o,
});

/** Remote clouds (migration 0029): registered with the secret sealed for their id, VMs bound up to the limit in one transaction, removal refused while bound. */
export function cloudContract(fx: () => ContractFixture): void {
  it('clouds: registered (secret sealed for the new id), listed, found by name; a name taken or bad input writes nothing', async () => {
    const f = fx();
    const name = f.uniq('cl');
    const c = await f.store.clouds.create(input(name));
    assert.equal(c.secretSealed, `v1:sealed-for-${c.id}`);
    assert.deepEqual({ ...c.instanceTypes }, { '1x128': 'nubo.tiny' });
    assert.equal(c.pricePerHour, 0.05);
    assert.equal((await f.store.clouds.findByName(name))?.id, c.id);
    assert.ok((await f.store.clouds.list()).some((x) => x.id === c.id));
    const before = await rows(f, 'clouds');
    await rejectsWith(f.store.clouds.create(input(name)), ConflictError, 'CONFLICT');
    await rejectsWith(f.store.clouds.create(input(f.uniq('cl'), { capacityVms: 0 })), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'capacityVms'));
    await rejectsWith(f.store.clouds.create(input('bad name')), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
    assert.equal(await rows(f, 'clouds'), before);
    await f.store.clouds.remove(c.id);
    await rejectsWith(f.store.clouds.get(c.id), NotFoundError, 'NOT_FOUND');
  });

  it('clouds: pending VMs bound up to the limit, a bound VM keeps its binding, removal refused while any is bound', async () => {
    const f = fx();
    const c = await f.store.clouds.create(input(f.uniq('cl'), { capacityVms: 2 }));
    const vm = async (): Promise<string> => (await f.store.vms.create({ name: f.uniq('v'), ownerId: f.owner.id })).id;
    const [a, b, d] = [await vm(), await vm(), await vm()];
    const bind = (vmId: string) => f.store.clouds.bind({ vmId, cloudId: c.id, instanceType: 'nubo.tiny', imageId: 'ami-00000001' });
    const ba = await bind(a);
    assert.ok(!('full' in ba) && ba.instanceId === null);
    assert.deepEqual(await bind(a), ba, 'bound again: the same binding, no second place taken');
    await bind(b);
    assert.deepEqual(await bind(d), { full: 2 });
    assert.equal(await f.store.clouds.binding(d), undefined);
    await f.store.clouds.recordInstance(a, { instanceId: 'i-0000000000000000a', remoteState: 'running' });
    assert.deepEqual([(await f.store.clouds.binding(a))?.instanceId, (await f.store.clouds.binding(a))?.remoteState], ['i-0000000000000000a', 'running']);
    await rejectsWith(f.store.clouds.remove(c.id), ConflictError, 'CONFLICT');
    assert.equal(await f.store.clouds.unbind(b), true);
    assert.equal(await f.store.clouds.unbind(b), false, 'idempotent');
    assert.ok(!('full' in (await bind(d))), 'the place given back is taken');
    // Only a pending VM on no host is bound.
    const e = await vm();
    await f.store.vms.transition(e, { from: ['pending'], to: 'terminated', action: 'terminate' });
    await rejectsWith(bind(e), StaleStateError, 'STALE_STATE');
    for (const id of [a, d]) await f.store.clouds.unbind(id);
    await f.store.clouds.remove(c.id);
  });

  it('cloud migrations: one in flight per VM, steps and data merged per generation, the generation kept after the end; a migrating VM bound regardless of its state up to the limit', async () => {
    const f = fx();
    const c = await f.store.clouds.create(input(f.uniq('cl'), { capacityVms: 1 }));
    const vmId = (await f.store.vms.create({ name: f.uniq('v'), ownerId: f.owner.id })).id;
    const other = (await f.store.vms.create({ name: f.uniq('v'), ownerId: f.owner.id })).id;
    assert.equal(await f.store.cloudMigrations.get(vmId), undefined);
    const m = await f.store.cloudMigrations.begin({ vmId, direction: 'out', cloudId: c.id, start: false, data: { hostId: 'h' } });
    assert.deepEqual([m.generation, m.step, m.start, m.data['hostId']], [1, 'export', false, 'h']);
    await rejectsWith(f.store.cloudMigrations.begin({ vmId, direction: 'back', cloudId: c.id, start: true }), ConflictError, 'CONFLICT');
    const next = await f.store.cloudMigrations.advance(vmId, 1, 'register', { sha256: 'abc' });
    assert.deepEqual({ ...next.data }, { hostId: 'h', sha256: 'abc' });
    assert.ok((await f.store.cloudMigrations.inFlight()).some((x) => x.vmId === vmId));
    await rejectsWith(f.store.cloudMigrations.advance(vmId, 2, 'launch'), NotFoundError, 'NOT_FOUND');
    const failed = await f.store.cloudMigrations.advance(vmId, 1, 'failed', {}, 'launch: refused');
    assert.equal(failed.error, 'launch: refused');
    assert.ok(!(await f.store.cloudMigrations.inFlight()).some((x) => x.vmId === vmId));
    const again = await f.store.cloudMigrations.begin({ vmId, direction: 'back', cloudId: c.id, start: true });
    assert.deepEqual([again.generation, again.step, again.direction, again.error, { ...again.data }], [2, 'image', 'back', null, {}]);
    // Bound whatever its state (its journal decides), counted against the limit; bound again it keeps its place.
    const b = await f.store.clouds.bindMigrating({ vmId, cloudId: c.id, instanceType: 'nubo.tiny', imageId: 'ami-1' });
    assert.ok(!('full' in b));
    const b2 = await f.store.clouds.bindMigrating({ vmId, cloudId: c.id, instanceType: 'nubo.tiny', imageId: 'ami-2' });
    assert.ok(!('full' in b2) && b2.imageId === 'ami-2');
    assert.deepEqual(await f.store.clouds.bindMigrating({ vmId: other, cloudId: c.id, instanceType: 'nubo.tiny', imageId: 'ami-1' }), { full: 1 });
    await f.store.clouds.unbind(vmId);
    // No VM bound, but one migrating from it: the cloud stays until that ends.
    await rejectsWith(f.store.clouds.remove(c.id), ConflictError, 'CONFLICT');
    await f.store.cloudMigrations.advance(vmId, 2, 'done');
    await f.store.clouds.remove(c.id);
    await rejectsWith(f.store.cloudMigrations.begin({ vmId, direction: 'out', cloudId: c.id, start: false }), NotFoundError, 'NOT_FOUND');
  });
}
