import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { NotFoundError } from './store-errors.js';
import { rejectsWith, type ContractFixture } from './store-contract-kit.js';

/** Hosts beyond registration: health, CPU overcommit, the silence check's read, and what a re-registration writes. */
export function hostContract(fx: () => ContractFixture): void {
  it('hosts: a degraded health (proactive HA) is on the host row and in its HA record, written together; healthy clears both', async () => {
    const { store, uniq } = fx();
    const h = await store.hosts.register({ name: uniq('deg'), agentUrl: 'http://198.18.1.9:7482', agentToken: 't', totalCpus: 2, totalMemoryMib: 1024, totalDiskMib: 1024 });
    assert.equal(h.degraded, null);
    assert.equal(await store.ha.setDegraded(h.id, 'disk errors'), true);
    assert.equal((await store.hosts.get(h.id)).degraded, 'disk errors');
    assert.equal((await store.ha.fencing(h.id)).degraded, 'disk errors');
    assert.equal(await store.ha.setDegraded(h.id, 'disk errors'), false, 'no change, nothing written');
    assert.equal(await store.ha.setDegraded(h.id, null), true);
    assert.equal((await store.hosts.get(h.id)).degraded, null);
    assert.equal((await store.ha.fencing(h.id)).degraded, null);
  });

  it("hosts: CPU overcommit set at registration, kept by a re-registration, changed and cleared; networks' bridge", async () => {
    const { store, uniq } = fx();
    const name = uniq('oc');
    const reg = { name, agentUrl: 'http://198.18.1.9:7481', agentToken: 't', totalCpus: 2, totalMemoryMib: 1024, totalDiskMib: 1024 };
    const h = await store.hosts.register({ ...reg, cpuOvercommit: 4 });
    assert.equal(h.cpuOvercommit, 4);
    assert.equal((await store.hosts.register({ ...reg, totalCpus: 4 })).cpuOvercommit, 4, 'an agent that registers again keeps what the admin set');
    assert.equal((await store.hosts.setCpuOvercommit(h.id, 1.5)).cpuOvercommit, 1.5);
    assert.equal((await store.hosts.get(h.id)).cpuOvercommit, 1.5);
    assert.equal((await store.hosts.setCpuOvercommit(h.id, null)).cpuOvercommit, null);
    await rejectsWith(store.hosts.setCpuOvercommit(h.id, 0), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cpuOvercommit'));
    await rejectsWith(store.hosts.setCpuOvercommit(h.id, 65), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cpuOvercommit'));
    await rejectsWith(store.hosts.setCpuOvercommit('nope', 2), NotFoundError, 'NOT_FOUND');
    assert.equal((await store.hosts.get(h.id)).cpuOvercommit, null, 'a refused change changes nothing');
    assert.equal((await store.hosts.register({ ...reg, name: uniq('oc') })).cpuOvercommit, null);
    const lab = await store.networks.create({ name: uniq('net'), cidr: '198.18.99.0/30' });
    assert.equal(lab.bridge, 'br0');
    const single = await store.networks.create({ name: uniq('net'), cidr: '198.19.250.0/30', bridge: 'nubo0' });
    assert.equal((await store.networks.get(single.id)).bridge, 'nubo0');
    await rejectsWith(store.networks.create({ name: uniq('net'), cidr: '198.19.251.0/30', bridge: 'a bridge with a long name' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'bridge'));
  });

  it('hosts.heardBefore: the enabled hosts last heard (or, never heard, made) before a time, and no others', async () => {
    const { store, uniq } = fx();
    const mk = async (state: 'enabled' | 'disabled' | 'init', heard: string | null): Promise<string> => {
      const h = await store.hosts.register({ name: uniq('hb'), agentUrl: 'http://198.18.1.5:7001', agentToken: 't', totalCpus: 1, totalMemoryMib: 1, totalDiskMib: 1 });
      if (state !== 'init') await store.hosts.setState(h.id, state);
      if (heard !== null) await store.hosts.recordHeartbeat(h.id, {}, new Date(heard));
      return h.id;
    };
    const old = await mk('enabled', '2020-01-01T00:00:00.000Z');
    const fresh = await mk('enabled', '2999-01-01T00:00:00.000Z');
    const never = await mk('enabled', null);
    const off = await mk('disabled', '2020-01-01T00:00:00.000Z');
    const mine = new Set([old, fresh, never, off]);
    const pick = async (t: Date): Promise<string[]> => (await store.hosts.heardBefore(t)).filter((h) => mine.has(h.id)).map((h) => h.id).sort();
    assert.deepEqual(await pick(new Date('2021-01-01T00:00:00.000Z')), [old], 'made now, never heard: not before 2021');
    assert.deepEqual(await pick(new Date('2998-01-01T00:00:00.000Z')), [old, never].sort(), 'the disabled host and the one heard later are not');
    const row = (await store.hosts.heardBefore(new Date('2021-01-01T00:00:00.000Z'))).find((h) => h.id === old);
    assert.equal(row?.lastHeartbeatAt, '2020-01-01T00:00:00.000Z');
  });

  it('hosts: re-registering with the same address (every heartbeat) writes no event; a new host or a new address does', async () => {
    const { store, uniq } = fx();
    const name = uniq('hb');
    const input = { name, agentUrl: 'http://198.18.1.9:7001', agentToken: 't', totalCpus: 2, totalMemoryMib: 2048, totalDiskMib: 10_000 };
    const start = await store.events.lastSeq();
    const h = await store.hosts.register(input);
    for (let i = 0; i < 10; i++) await store.hosts.register({ ...input, totalDiskMib: 10_000 - i, totalMemoryMib: 2048 + i });
    const mine = async () => (await store.events.listSince(start, 1000)).filter((e) => e.resourceId === h.id);
    assert.deepEqual((await mine()).map((e) => e.kind), ['host.registered'], 'one event for the new host, none for the heartbeats');
    assert.equal((await store.hosts.get(h.id)).total.diskMib, 10_000 - 9, 'the capacity is still updated');
    await store.hosts.register({ ...input, agentUrl: 'http://198.18.1.10:7001' });
    assert.deepEqual((await mine()).map((e) => e.kind), ['host.registered', 'host.registered'], 'a new agent address is a change');
  });
}
