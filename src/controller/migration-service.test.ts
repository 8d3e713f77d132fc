import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { compilePlacementPolicy } from '../core/placement/placement-policy.js';
import { openStore } from '../store/open-store.js';
import type { JsonObject } from '../store/store-context.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { HostMaintenance } from './host-maintenance.js';
import { MigrationRefusedError } from './migration-errors.js';
import { MigrationQueue, type EnqueueRequest } from './migration-queue.js';
import { compileQueueLimits } from '../core/migration/queue-limits.js';
import type { MigrationPlanner } from './migration-planner.js';
import { MigrationService } from './migration-service.js';
import type { VmOrchestrator } from './vm-orchestrator.js';

const logger = pino({ level: 'silent' });
const usage: JsonObject = { cpuModels: ['qemu64'], bridges: ['br0'], migration: { tls: false, sharedDatastore: true } };

/** A store with hosts h1 (the VM's), h2 (nearly full) and h3 (empty: packing would choose h2, striping h3), and a running VM on h1 on the shared datastore. */
async function cloud(requirements: string | undefined) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-migsvc-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const reg = async (name: string) => {
    const h = await store.hosts.register({ name, agentUrl: `http://127.0.0.1:9/${name}`, agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    await store.hosts.setState(h.id, 'enabled');
    await store.hosts.recordHeartbeat(h.id, usage);
    return store.hosts.get(h.id);
  };
  const [h1, h2, h3] = [await reg('h1'), await reg('h2'), await reg('h3')];
  const spec: ControllerVmSpec = {
    agent: { vcpus: 1, memoryMiB: 128, cpuModel: 'qemu64', disk: { image: { id: 'i', url: 'http://127.0.0.1:9/i', sha256: 'a'.repeat(64), sizeBytes: 1, format: 'qcow2' }, mode: 'overlay', datastore: 'shared' }, nics: [], context: { hostname: 'v' } } as unknown as ControllerVmSpec['agent'],
    demand: { vcpus: 1, memoryMiB: 128, diskMiB: 0, cpuModel: 'qemu64', datastore: 'shared', ...(requirements !== undefined ? { requirements } : {}) },
  };
  // Some of h2 taken, so that the rankings differ: striping would choose h3.
  const filler = await store.vms.create({ name: 'filler', ownerId: user.id });
  await store.vms.bindToHost(filler.id, h2.id, { cpus: 2, memoryMib: 2048, diskMib: 0 });
  const created = await store.vms.create({ name: 'v', ownerId: user.id, spec: spec as unknown as JsonObject });
  await store.vms.bindToHost(created.id, h1.id, { cpus: 1, memoryMib: 128, diskMib: 0 });
  await store.vms.transition(created.id, { from: ['prolog'], to: 'boot', action: 'create' });
  const vm = await store.vms.transition(created.id, { from: ['boot'], to: 'running', action: 'create' });
  const service = (ranker: 'packing' | 'striping') => new MigrationService({
    store, orchestrator: {} as unknown as VmOrchestrator, migrator: {} as never, policy: compilePlacementPolicy({ ranker }), logger,
  });
  return { store, h1, h2, h3, vm, service, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('without `to` the destination meets the VM\'s requirements: a host they exclude is never chosen, whatever the ranking prefers', async () => {
  const t = await cloud('hostname != "h3"');
  try {
    // Striping prefers the emptiest host, h3 — which the requirements exclude (the bug: it was chosen).
    assert.equal((await t.service('striping').plan(t.vm.id, { to: 'h3', force: true })).dest.name, 'h3', 'h3 has room');
    assert.equal((await t.service('striping').plan(t.vm.id, {})).dest.name, 'h2');
    assert.equal((await t.service('packing').plan(t.vm.id, {})).dest.name, 'h2');
    await t.store.hosts.setState(t.h2.id, 'disabled');
    // h3 is the only host with room, and it is excluded: refused, saying so — not moved there.
    await assert.rejects(t.service('striping').plan(t.vm.id, {}), (e: unknown) => {
      assert.ok(e instanceof MigrationRefusedError);
      assert.equal(e.field, 'to');
      assert.match(e.message, /host h3 does not meet the VM's requirements \(hostname != "h3"\)/);
      assert.match(e.message, /host h2 cannot take VMs: disabled/);
      return true;
    });
  } finally {
    await t.cleanup();
  }
});

test('an explicit `to` that the requirements exclude: 409 naming `to` and the expression, unless forced (then the other checks still apply)', async () => {
  const t = await cloud('hostname == "h1" || hostname == "h2"');
  try {
    const svc = t.service('packing');
    await assert.rejects(svc.plan(t.vm.id, { to: 'h3' }), (e: unknown) => {
      assert.ok(e instanceof MigrationRefusedError);
      assert.deepEqual([e.check, e.field], ['requirements', 'to']);
      assert.equal(e.message, 'host h3 does not meet the VM\'s requirements (hostname == "h1" || hostname == "h2")');
      return true;
    });
    assert.equal((await svc.plan(t.vm.id, { to: 'h3', force: true })).dest.name, 'h3');
    assert.equal((await svc.plan(t.vm.id, { to: 'h2' })).dest.name, 'h2', 'a host that meets them needs no force');
    // force only lifts the requirements: a disabled host is still refused.
    await t.store.hosts.setState(t.h3.id, 'disabled');
    await assert.rejects(svc.plan(t.vm.id, { to: 'h3', force: true }), (e: unknown) => e instanceof MigrationRefusedError && e.check === 'host-state');
    // force without `to` is meaningless: placement's choice meets the requirements anyway.
    assert.equal((await svc.plan(t.vm.id, { force: true })).dest.name, 'h2');
  } finally {
    await t.cleanup();
  }
});

test('an evacuation never moves a VM where its requirements forbid: with no host that qualifies, the VM is reported blocked with the reason', async () => {
  const t = await cloud('hostname == "h1" || hostname == "h2"');
  try {
    const enqueued: string[] = [];
    const queue = { enqueue: async (vmId: string, req: EnqueueRequest) => {
      enqueued.push(`${vmId}->${req.to ?? 'placement'}`);
      throw new MigrationRefusedError('capacity', 'to', 'not reached in this test');
    } };
    const planner = { predict: async () => ({ kind: 'live', totalMs: 100, converges: true }) };
    // h2, the one other host the VM may use, is out of service: only h3 has room, and it is excluded.
    await t.store.hosts.setState(t.h2.id, 'disabled');
    const maintenance = new HostMaintenance({
      store: t.store, queue: queue as unknown as MigrationQueue, service: t.service('striping'), planner: planner as unknown as MigrationPlanner,
      schedulePending: async () => {}, logger,
    });
    await maintenance.begin(t.h1, { poweredOff: 'move', by: 'u' });
    const m = (await t.store.hosts.get(t.h1.id)).maintenance;
    assert.equal(m?.state, 'evacuating');
    const entry = m?.vms[t.vm.id];
    assert.equal(entry?.status, 'blocked');
    assert.match(entry?.reason ?? '', /host h3 does not meet the VM's requirements/);
    assert.deepEqual(enqueued, [], 'nothing was queued');
    assert.equal((await t.store.vms.get(t.vm.id)).hostId, t.h1.id);
  } finally {
    await t.cleanup();
  }
});

test('the queue keeps an admin\'s `force` with the entry: when its turn comes (after a restart: a new queue over the same store) the forced one starts, an unforced twin is refused naming the requirements', async () => {
  const t = await cloud('hostname == "h1" || hostname == "h2"');
  try {
    const begun: string[] = [];
    const service = new MigrationService({
      store: t.store, orchestrator: { act: async () => t.vm } as unknown as VmOrchestrator, migrator: { begun: (id: string) => begun.push(id) } as never,
      policy: compilePlacementPolicy(), logger,
    });
    const planner = { predict: async () => ({ kind: 'live' }) } as unknown as MigrationPlanner;
    const queueOver = () => new MigrationQueue({ store: t.store, service, planner, limits: compileQueueLimits(), logger });
    // Written as an earlier controller left them: waiting, one forced to h3, checked again at dispatch.
    const unforced = await t.store.migrationQueue.enqueue({ vmId: t.vm.id, kind: 'live', sourceHostId: t.h1.id, requestedTo: t.h3.id, origin: 'api' });
    assert.equal(unforced.forced, false);
    await queueOver().dispatchNow();
    const refusedEntry = await t.store.migrationQueue.get(unforced.id);
    assert.equal(refusedEntry.state, 'refused');
    assert.match(refusedEntry.reason ?? '', /host h3 does not meet the VM's requirements/);
    const forced = await t.store.migrationQueue.enqueue({ vmId: t.vm.id, kind: 'live', sourceHostId: t.h1.id, requestedTo: t.h3.id, origin: 'api', forced: true });
    assert.equal((await t.store.migrationQueue.get(forced.id)).forced, true, 'kept in the store');
    await queueOver().dispatchNow();
    assert.equal((await t.store.migrationQueue.get(forced.id)).state, 'started');
    assert.equal((await t.store.migrations.get(forced.id)).destHostId, t.h3.id);
    assert.deepEqual(begun, [forced.id]);
    // Through enqueue: the API's request is checked at once and `force` stored with it.
    await t.store.migrations.finish(forced.id, { state: 'aborted', reason: 'test' });
    await assert.rejects(queueOver().enqueue(t.vm.id, { to: 'h3' }), (e: unknown) => e instanceof MigrationRefusedError && e.check === 'requirements');
  } finally {
    await t.cleanup();
  }
});

test('a migration that may start now waits for neither the planner\'s dirty-rate measurement nor makes its caller wait: it starts, the entry gets the prediction once measured; a failed prediction leaves it without one; stop gives up one under way', async () => {
  const t = await cloud(undefined);
  try {
    const begun: string[] = [];
    const service = new MigrationService({
      store: t.store, orchestrator: { act: async () => t.vm } as unknown as VmOrchestrator, migrator: { begun: (id: string) => begun.push(id) } as never,
      policy: compilePlacementPolicy(), logger,
    });
    let measured!: (p: JsonObject) => void;
    let asked = 0;
    const planner = { predict: () => { asked++; return new Promise<JsonObject>((r) => { measured = r; }); } } as unknown as MigrationPlanner;
    const queue = new MigrationQueue({ store: t.store, service, planner, limits: compileQueueLimits(), logger });
    const q = await queue.enqueue(t.vm.id, { to: 'h3' });
    assert.equal(asked, 1, 'the measurement was asked for');
    assert.equal(q.state, 'started', 'started, and answered, while the prediction is still being measured');
    assert.equal(q.prediction, null);
    assert.deepEqual(begun, [q.id]);
    assert.equal((await t.store.migrations.get(q.id)).destHostId, t.h3.id);
    measured({ kind: 'live', totalMs: 700, dirtyRate: { measured: true } });
    await queue.predictionsSettled();
    assert.deepEqual((await t.store.migrationQueue.get(q.id)).prediction, { kind: 'live', totalMs: 700, dirtyRate: { measured: true } }, 'stored with the entry');

    // A prediction that fails (the store could not be read, say) costs the entry its prediction, never the migration.
    await t.store.migrations.finish(q.id, { state: 'aborted', reason: 'test' });
    const failing = { predict: async () => { throw new Error('store unavailable'); } } as unknown as MigrationPlanner;
    const q2queue = new MigrationQueue({ store: t.store, service, planner: failing, limits: compileQueueLimits(), logger });
    const q2 = await q2queue.enqueue(t.vm.id, { to: 'h3' });
    await q2queue.predictionsSettled();
    assert.equal((await t.store.migrationQueue.get(q2.id)).state, 'started');
    assert.equal((await t.store.migrationQueue.get(q2.id)).prediction, null);

    // A prediction handed in (an evacuation orders by it) is stored as is, not measured again.
    await t.store.migrations.finish(q2.id, { state: 'aborted', reason: 'test' });
    const q3 = await new MigrationQueue({ store: t.store, service, planner: failing, limits: compileQueueLimits(), logger }).enqueue(t.vm.id, { to: 'h3', prediction: { kind: 'live', totalMs: 5 } });
    assert.deepEqual(q3.prediction, { kind: 'live', totalMs: 5 });

    // The controller stops while a measurement is under way: the planner is told (its signal), stop waits for it to settle.
    await t.store.migrations.finish(q3.id, { state: 'aborted', reason: 'test' });
    let told: AbortSignal | undefined;
    const slow = { predict: (_p: unknown, signal: AbortSignal) => { told = signal; return new Promise<JsonObject>((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))); } } as unknown as MigrationPlanner;
    const q4queue = new MigrationQueue({ store: t.store, service, planner: slow, limits: compileQueueLimits(), logger });
    const q4 = await q4queue.enqueue(t.vm.id, { to: 'h3' });
    assert.equal(told?.aborted, false);
    await q4queue.stop();
    assert.equal(told?.aborted, true, 'given up at stop');
    assert.equal((await t.store.migrationQueue.get(q4.id)).prediction, null);
  } finally {
    await t.cleanup();
  }
});
