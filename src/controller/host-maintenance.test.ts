import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../store/open-store.js';
import type { MaintenanceVm } from '../store/repositories/host-maintenance.js';
import { evacuationBlocked, HostMaintenance } from './host-maintenance.js';
import type { EnqueueRequest, MigrationQueue } from './migration-queue.js';
import type { MigrationService } from './migration-service.js';
import type { MigrationPlanner } from './migration-planner.js';

const vm = (status: MaintenanceVm['status']): MaintenanceVm => ({ name: status, action: 'live', status });

test('an evacuation is blocked only when nothing is on its way and a VM could not move', () => {
  assert.equal(evacuationBlocked({ a: vm('moved'), b: vm('blocked') }), true);
  assert.equal(evacuationBlocked({ a: vm('left'), b: vm('failed') }), true);
  assert.equal(evacuationBlocked({ a: vm('moving'), b: vm('blocked') }), false, 'a VM still on its way: evacuating');
  assert.equal(evacuationBlocked({ a: vm('queued'), b: vm('blocked') }), false);
  assert.equal(evacuationBlocked({ a: vm('moved'), b: vm('left') }), false, 'all settled: maintenance, not blocked');
  assert.equal(evacuationBlocked({}), false);
});

/**
 * A store with hosts h1, h2 and a running VM on h1, and a queue that starts each
 * migration at once (its record under the entry's id, as the real queue does).
 */
async function evacuation(o: { vms?: number; predict?: () => Promise<Record<string, unknown>> } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-maint-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const reg = async (name: string) => {
    const h = await store.hosts.register({ name, agentUrl: `http://127.0.0.1:9/${name}`, agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    await store.hosts.setState(h.id, 'enabled');
    return store.hosts.get(h.id);
  };
  const [h1, h2] = [await reg('h1'), await reg('h2')];
  const running = async (name: string) => {
    const created = await store.vms.create({ name, ownerId: user.id });
    await store.vms.bindToHost(created.id, h1.id, { cpus: 1, memoryMib: 128, diskMib: 0 });
    await store.vms.transition(created.id, { from: ['prolog'], to: 'boot', action: 'create' });
    return store.vms.transition(created.id, { from: ['boot'], to: 'running', action: 'create' });
  };
  const vm = await running('v');
  for (let i = 1; i < (o.vms ?? 1); i++) await running(`v${i}`);
  const started: string[] = [];
  const queue = {
    enqueue: async (vmId: string, req: EnqueueRequest) => {
      const q = await store.migrationQueue.enqueue({ vmId, kind: 'live', sourceHostId: h1.id, priority: req.priority, prediction: req.prediction ?? null, origin: req.origin ?? null });
      await store.migrations.createWithReservation({ id: q.id, vmId, kind: 'live', sourceHostId: h1.id, destHostId: h2.id }, { cpus: 1, memoryMib: 128, diskMib: 0 });
      started.push(q.id);
      return store.migrationQueue.markStarted(q.id, h2.id, null);
    },
  };
  const service = { plan: async (vmId: string) => ({ vm: await store.vms.get(vmId), kind: 'live', source: h1, dest: h2 }) };
  const planner = { predict: o.predict ?? (async () => ({ kind: 'live', totalMs: 100, converges: true })) };
  const maintenance = new HostMaintenance({
    store, queue: queue as unknown as MigrationQueue, service: service as unknown as MigrationService, planner: planner as unknown as MigrationPlanner,
    schedulePending: async () => {}, logger: pino({ level: 'silent' }),
  });
  const entry = async () => (await store.hosts.get(h1.id)).maintenance?.vms[vm.id];
  return { store, h1, vm, started, maintenance, entry, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('a migration of the evacuation that failed with the VM still on the host (a controller restart rolled it back) is tried once more, then reported failed', async () => {
  const t = await evacuation();
  try {
    await t.maintenance.begin(t.h1, { poweredOff: 'move', by: 'u' });
    assert.equal(t.started.length, 1);
    assert.deepEqual(await t.entry(), { name: 'v', action: 'live', status: 'moving', migrationId: t.started[0], attempts: 1 });
    await t.store.migrations.finish(t.started[0]!, { state: 'failed', reason: 'the controller restarted during reservation' });
    await t.maintenance.advance(t.h1.id);
    const retry = await t.entry();
    assert.equal(retry?.status, 'queued');
    assert.match(retry?.reason ?? '', /attempt 1 failed \(the controller restarted during reservation\): trying again/);
    await t.maintenance.advance(t.h1.id);
    assert.equal(t.started.length, 2, 'queued again, the failed attempt not adopted as a crash orphan');
    assert.deepEqual(await t.entry(), { name: 'v', action: 'live', status: 'moving', migrationId: t.started[1], attempts: 2, reason: retry?.reason });
    await t.store.migrations.finish(t.started[1]!, { state: 'failed', reason: 'the destination died' });
    await t.maintenance.advance(t.h1.id);
    await t.maintenance.advance(t.h1.id);
    assert.equal(t.started.length, 2, 'no third attempt');
    const failed = await t.entry();
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.reason, 'the destination died');
    assert.equal((await t.store.hosts.get(t.h1.id)).maintenance?.state, 'evacuating', 'never maintenance with the VM on board');
  } finally {
    await t.cleanup();
  }
});

test('an evacuation measures its VMs side by side: the first move waits one dirty-rate measurement, not one per VM', async () => {
  let measuring = 0;
  let most = 0;
  const t = await evacuation({
    vms: 3,
    predict: async () => {
      most = Math.max(most, ++measuring);
      await new Promise((r) => setTimeout(r, 50));
      measuring--;
      return { kind: 'live', totalMs: 100, converges: true };
    },
  });
  try {
    await t.maintenance.begin(t.h1, { poweredOff: 'move', by: 'u' });
    assert.equal(most, 3, 'all three measured at once');
    assert.equal(t.started.length, 3, 'and all three queued');
  } finally {
    await t.cleanup();
  }
});
