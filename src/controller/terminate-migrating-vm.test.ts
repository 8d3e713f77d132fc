import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { openStore } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { MigrationRuns } from './migration-runs.js';
import { terminateMigratingVm } from './terminate-migrating-vm.js';

const logger = pino({ level: 'silent' });

/** A VM live-migrating h1 → h2, committed (it is h2's now), its migration started an hour ago: past its 600 s timeout. */
async function stuck() {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-termmig-'));
  let clock = Date.now() - 3_600_000;
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db'), now: () => new Date(clock) });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const reg = async (name: string) => {
    const h = await store.hosts.register({ name, agentUrl: `http://127.0.0.1:9/${name}`, agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    await store.hosts.setState(h.id, 'enabled');
    return store.hosts.get(h.id);
  };
  const [h1, h2] = [await reg('h1'), await reg('h2')];
  const created = await store.vms.create({ name: 'v', ownerId: user.id });
  await store.vms.bindToHost(created.id, h1.id, { cpus: 1, memoryMib: 128, diskMib: 0 });
  await store.vms.transition(created.id, { from: ['prolog'], to: 'boot', action: 'create' });
  await store.vms.transition(created.id, { from: ['boot'], to: 'running', action: 'create', patch: { operation: null } });
  const m = await store.migrations.createWithReservation({ vmId: created.id, kind: 'live', sourceHostId: h1.id, destHostId: h2.id }, { cpus: 1, memoryMib: 128, diskMib: 0 });
  await store.vms.transition(created.id, { from: ['running'], to: 'migrating', action: 'migrate-live', patch: { operation: { action: 'migrate-live', from: 'running' } } });
  await store.migrations.commit(m.id);
  clock = Date.now();
  const vm = await store.vms.get(created.id);
  assert.equal(vm.hostId, h2.id, 'committed: the VM is the destination\'s');
  return { store, h1, h2, vm, m, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('an admin\'s terminate of a stuck migrating VM moves the VM on before it ends the record, so that the ending drive cannot put it back to running', async () => {
  const t = await stuck();
  try {
    // The migration's drive watches its record: the moment it reads it ended, its result is written on the VM as the
    // step's failure — running again, if the VM were still migrating (the race CI hit in migration-stuck.e2e).
    const statesAtEnd: string[] = [];
    const finish = t.store.migrations.finish.bind(t.store.migrations);
    t.store.migrations.finish = async (id, input) => {
      statesAtEnd.push((await t.store.vms.get(t.vm.id)).state);
      return finish(id, input);
    };
    const released: string[] = [];
    const agentFor = (h: Host) => ({ release: async () => { released.push(h.name); return Promise.resolve(); } }) as unknown as AgentClient;
    const next = await terminateMigratingVm(t.vm, true, { store: t.store, agentFor, logger });
    assert.deepEqual(statesAtEnd, ['epilog'], 'the VM had left migrating when its migration ended');
    assert.equal(next.state, 'epilog');
    assert.deepEqual(next.operation, { action: 'terminate-hard', from: 'unknown' });
    const m = await t.store.migrations.get(t.m.id);
    assert.equal(m.state, 'failed');
    assert.match(m.reason ?? '', /terminated by an admin during its migration: its migration .* is stuck at committed, past its timeout of 600 s/);
    assert.deepEqual(released, ['h1'], 'the other end (the source) is told to release its copy');
  } finally {
    await t.cleanup();
  }
});

test('refused terminates change nothing: a user, or a migration within its timeout', async () => {
  const t = await stuck();
  try {
    const agentFor = (): AgentClient => assert.fail('no agent is called for a refused terminate');
    await assert.rejects(terminateMigratingVm(t.vm, false, { store: t.store, agentFor, logger }), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'CONFLICT');
      assert.match((e as Error).message, /only an admin may end a VM while it migrates/);
      return true;
    });
    assert.equal((await t.store.vms.get(t.vm.id)).state, 'migrating');
    assert.equal((await t.store.migrations.get(t.m.id)).state, 'running');
  } finally {
    await t.cleanup();
  }
});

test('a controller stopped between the terminate\'s two writes: the start-up sweep ends the record as the admin\'s terminate, not as an unstarted migration', async () => {
  const t = await stuck();
  try {
    await t.store.vms.transition(t.vm.id, { from: ['migrating'], to: 'epilog', action: 'terminate-hard', patch: { operation: { action: 'terminate-hard', from: 'unknown' } } });
    await new MigrationRuns({ store: t.store, logger, kind: 'live', action: 'migrate-live' }).sweepUnstarted();
    const m = await t.store.migrations.get(t.m.id);
    assert.equal(m.state, 'failed');
    assert.match(m.reason ?? '', /terminated by an admin during its migration/);
  } finally {
    await t.cleanup();
  }
});
