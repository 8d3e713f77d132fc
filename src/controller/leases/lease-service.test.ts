import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore, type Store } from '../../store/open-store.js';
import type { CapacityLease } from '../../store/repositories/capacity-leases-repository.js';
import type { User } from '../../store/repositories/users-repository.js';
import { compileLeasePolicies } from '../../core/leases/lease-policies.js';
import { compileLeaseRates } from '../../core/leases/lease-rates.js';
import { QuotaExceededError } from '../../core/quota/quota-exceeded-error.js';
import { LeaseRejectedError } from '../../core/leases/lease-rejected-error.js';
import { LeaseStateError } from '../../core/leases/lease-state-error.js';
import { ValidationError } from '../../errors/validation-error.js';
import { Failpoints } from '../../util/failpoints.js';
import type { LeaseActions } from './lease-actions.js';
import { LeaseService } from './lease-service.js';
import type { LeaseSubmission } from './lease-submission.js';

const logger = pino({ level: 'silent' });

/** Records every side effect in order; a VM's host is where it was made or moved. `hold` makes a step kind hang until the signal ends it (a controller killed mid-step). */
class FakeActions implements LeaseActions {
  readonly log: string[] = [];
  readonly host = new Map<string, string>();
  hold = new Set<string>();
  /** Step kinds that throw (a VM's QEMU died under them). */
  fail = new Set<string>();
  async create(lease: CapacityLease, idx: number, hostId: string): Promise<string> {
    const id = `${lease.kind}${idx}-${lease.id.slice(0, 4)}`;
    this.host.set(id, hostId);
    return this.#do('create', id);
  }
  /** A wait, not a side effect: logged only when a test holds or fails it. */
  started(vmId: string, signal: AbortSignal): Promise<void> {
    return this.hold.has('started') || this.fail.has('started') ? this.#do('started', vmId, signal).then(() => {}) : Promise.resolve();
  }
  suspend(vmId: string, signal: AbortSignal): Promise<void> { return this.#do('suspend', vmId, signal).then(() => {}); }
  migrate(vmId: string, hostId: string, signal: AbortSignal): Promise<void> { this.host.set(vmId, hostId); return this.#do('migrate', vmId, signal).then(() => {}); }
  resume(vmId: string, signal: AbortSignal): Promise<void> { return this.#do('resume', vmId, signal).then(() => {}); }
  terminate(vmId: string, signal: AbortSignal): Promise<void> { return this.#do('terminate', vmId, signal).then(() => {}); }
  async #do(kind: string, vmId: string, signal?: AbortSignal): Promise<string> {
    if (this.fail.has(kind)) {
      this.log.push(`${kind}-failed ${vmId}`);
      throw new Error(`${kind} of ${vmId}: QEMU died`);
    }
    if (this.hold.has(kind)) {
      this.log.push(`${kind}-started ${vmId}`);
      await new Promise((_, reject) => {
        if (signal?.aborted) reject(new Error('aborted'));
        signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    }
    this.log.push(`${kind} ${vmId}`);
    return vmId;
  }
  kinds(): string[] {
    return this.log.map((l) => l.split(' ')[0]!.replace(/[0-9].*/, '').replace(/-.*/, ''));
  }
}

/** FakeActions whose VMs are rows in the store, VM number i with its disk on `datastores[i]` (where the agent saves its memory). */
class DiskActions extends FakeActions {
  constructor(private readonly store: Store, private readonly datastores: readonly ('local' | 'shared')[]) {
    super();
  }
  override async create(lease: CapacityLease, idx: number, hostId: string): Promise<string> {
    const named = `lease-${lease.id.slice(0, 8)}-${idx}`;
    const vm = (await this.store.vms.list({ name: named }))[0] ?? (await this.store.vms.create({ name: named, ownerId: lease.ownerId, spec: { agent: { disk: { image: 'img', mode: 'overlay', datastore: this.datastores[idx] ?? 'local' } } } }));
    this.host.set(vm.id, hostId);
    this.log.push(`create ${vm.id}`);
    return vm.id;
  }
}

/** Waits (bounded) until the fake recorded a line starting with `prefix`: a held step has begun. */
async function pollUntilLogged(fake: FakeActions, prefix: string): Promise<void> {
  const until = Date.now() + 10_000;
  while (!fake.log.some((l) => l.startsWith(prefix))) {
    if (Date.now() > until) throw new Error(`no ${prefix} in ${fake.log.join(', ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LeaseService (fake actions, SQLite store)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-lease-svc-'));
  let store: Store;
  let owner: User;
  let n = 0;
  let t = 1_000_000;
  const clock = (): number => t;
  const policies = compileLeasePolicies({ migration: 'yes' });
  // Pinned, not the defaults: the scenarios' ARs come 60 s ahead, which the measured default suspend rate would not leave room for.
  const rates = compileLeaseRates({ bootS: 5, shutdownS: 2, suspendMiBps: 100, resumeMiBps: 100 });
  const services: LeaseService[] = [];
  const service = async (actions: LeaseActions, s: Store = store, p = policies, r = rates): Promise<LeaseService> => {
    const svc = new LeaseService({ store: s, actions, policies: p, rates: r, logger, clock, tickMs: 0 });
    services.push(svc);
    await svc.start();
    return svc;
  };
  const at = async (svc: LeaseService, time: number): Promise<void> => {
    t = time;
    await svc.tick();
    await svc.idle();
  };
  const sub = (o: Partial<LeaseSubmission>): LeaseSubmission => ({ ownerId: owner.id, kind: 'be', durationS: 1000, count: 2, templateId: 'tpl', vcpus: 1, memoryMib: 512, preemptible: true, ...o });
  const rows = async (): Promise<number[]> => Promise.all((['capacity_leases', 'capacity_lease_events', 'events'] as const).map(async (tb) => Number((await store.db.selectFrom(tb).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)));

  /** A fresh database with one enabled host of 2 CPUs / 2 GiB (plus `more`). */
  const fresh = async (more = 0): Promise<string[]> => {
    await store?.close();
    store = await openStore({ kind: 'sqlite', path: join(dir, `s${++n}.db`) });
    owner = (await store.users.create({ name: 'alice' })).user;
    const ids: string[] = [];
    for (let i = 0; i <= more; i++) {
      const h = await store.hosts.register({ name: `h${i + 1}`, agentUrl: `http://198.18.1.${i + 1}:7481`, agentToken: 't', totalCpus: 2, totalMemoryMib: 2048, totalDiskMib: 100_000 });
      ids.push((await store.hosts.setState(h.id, 'enabled')).id);
    }
    return ids;
  };

  before(async () => {
    await fresh();
  });
  after(async () => {
    for (const s of services) await s.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leases book vCPUs as placement counts them: the host\'s CPU overcommit, else the controller\'s, and a change of it is seen at once', async () => {
    await fresh();
    const t0 = (t = 5_000_000);
    // The controller's default 4 per core (as `nubo up`'s host): 2 CPUs hold 8 vCPUs, so an AR beside a BE lease of 2 cuts nothing.
    const roomy = new LeaseService({ store, actions: new FakeActions(), policies, rates, logger, clock, tickMs: 0, cpuOvercommit: 4 });
    services.push(roomy);
    await roomy.start();
    const be = await roomy.submit(sub({ count: 2 }));
    await at(roomy, t0 + 10);
    const ar = await roomy.submit(sub({ kind: 'ar', count: 2, startS: t0 + 100, durationS: 50, preemptible: false }));
    assert.equal(ar.state, 'scheduled');
    assert.equal((await store.capacityLeases.get(be.id)).plan.segments.some((s) => s.kind === 'suspend'), false, '8 vCPUs hold both leases: no suspension');
    // A count beyond 8 vCPUs is refused at once, naming the field.
    await assert.rejects(roomy.submit(sub({ kind: 'immediate', count: 9, memoryMib: 128, preemptible: false })), (e: Error) => /count: 9 VMs of 1 vCPU \/ 128 MiB: all the enabled hosts together hold 8$/.test(e.message));
    await roomy.stop();

    // The operator lowers the host's own overcommit to 0.5 (1 vCPU): the next submission sees it and plans a preemption.
    const [h] = await fresh();
    t = t0 + 1_000;
    await store.hosts.setCpuOvercommit(h!, 0.5);
    const tight = new LeaseService({ store, actions: new FakeActions(), policies, rates, logger, clock, tickMs: 0, cpuOvercommit: 4 });
    services.push(tight);
    await tight.start();
    const be1 = await tight.submit(sub({ count: 1 }));
    await at(tight, t + 10);
    assert.equal((await store.capacityLeases.get(be1.id)).state, 'active');
    const ar1 = await tight.submit(sub({ kind: 'ar', count: 1, startS: t + 100, durationS: 50, preemptible: false }));
    assert.equal(ar1.state, 'scheduled');
    assert.ok((await store.capacityLeases.get(be1.id)).plan.segments.some((s) => s.kind === 'suspend'), 'one vCPU: the BE lease is suspended for the AR');
    // Raised again while the service runs: a second AR in another window fits beside the BE lease without cutting it more.
    await store.hosts.setCpuOvercommit(h!, 1);
    const before = (await store.capacityLeases.get(be1.id)).plan.segments.filter((s) => s.kind === 'suspend').length;
    const ar2 = await tight.submit(sub({ kind: 'ar', count: 1, startS: t + 400, durationS: 50, preemptible: false }));
    assert.equal(ar2.state, 'scheduled');
    assert.equal((await store.capacityLeases.get(be1.id)).plan.segments.filter((s) => s.kind === 'suspend').length, before, 'two vCPUs now: the second AR runs beside it');
  });

  it('an AR preempts a running BE lease: suspended before the AR prepares, resumed on the same host after the AR ends', async () => {
    const [h1] = await fresh();
    const t0 = (t = 1_000_000);
    const fake = new FakeActions();
    const svc = await service(fake);
    const be = await svc.submit(sub({}));
    await svc.idle();
    assert.equal((await store.capacityLeases.get(be.id)).state, 'preparing');
    await at(svc, t0 + 10);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'active');
    const ar = await svc.submit(sub({ kind: 'ar', startS: t0 + 100, durationS: 50, preemptible: false }));
    assert.equal(ar.state, 'scheduled');
    const cut = await store.capacityLeases.get(be.id);
    const suspend = cut.plan.segments.find((s) => s.kind === 'suspend')!;
    assert.ok(suspend, 'the BE plan now ends with a suspension');
    assert.equal(suspend.to, t0 + 100 - 5, 'the suspension ends when the AR starts preparing');
    await at(svc, suspend.from + 0.1);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'suspending');
    await at(svc, suspend.to + 0.1);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'suspended');
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'preparing');
    await at(svc, t0 + 100);
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'active');
    await at(svc, t0 + 150);
    await at(svc, t0 + 152.1);
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'done');
    const back = await store.capacityLeases.get(be.id);
    assert.equal(back.state, 'resuming');
    assert.deepEqual(back.plan.placements, [{ hostId: h1, vms: 2 }], 'resumed where its memory is');
    assert.ok(back.remainingS < 1000 && back.remainingS > 900, `the BE lease owes what it has not run (${back.remainingS})`);
    await at(svc, t0 + 170);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'active');
    assert.deepEqual(fake.kinds(), ['create', 'create', 'suspend', 'suspend', 'create', 'create', 'terminate', 'terminate', 'resume', 'resume']);
    assert.ok(fake.log.slice(2, 4).every((l) => l.startsWith('suspend be')) && fake.log.slice(4, 6).every((l) => l.startsWith('create ar')));
    const timeline = (await store.capacityLeases.timeline(be.id)).filter((e) => e.kind === 'state').map((e) => e.detail['state']);
    assert.deepEqual(timeline, ['scheduled', 'preparing', 'active', 'suspending', 'suspended', 'scheduled', 'resuming', 'active'], 'every state it passed through, each written as it happened');
    const arTimeline = await store.capacityLeases.timeline(ar.id);
    assert.deepEqual(arTimeline.filter((e) => e.kind === 'created' || e.kind === 'state').map((e) => e.detail['state']), ['scheduled', 'preparing', 'active', 'done']);
    // A step is journaled in the very write that moves the plan onto it (one transaction, one time): no controller death can fall between the two.
    for (const l of [be.id, ar.id]) {
      const tl = await store.capacityLeases.timeline(l);
      tl.forEach((e, i) => {
        if (e.kind !== 'step') return;
        const prev = tl[i - 1];
        assert.ok(prev !== undefined && ['state', 'planned', 'step'].includes(prev.kind) && prev.at === e.at, `lease ${l.slice(0, 4)}: step ${JSON.stringify(e.detail['step'])} written with its plan change (${JSON.stringify(tl.slice(Math.max(0, i - 1), i + 1))})`);
      });
    }
    assert.equal((await store.capacityLeases.get(be.id)).pendingStep, null, 'every journaled step was confirmed');
  });

  it('a host whose heartbeat is late keeps the plans on it and takes nothing new until it is back', async () => {
    const [h1, h2] = await fresh(1);
    const t0 = (t = 1_000_000);
    const svc = await service(new FakeActions());
    const be = await svc.submit(sub({ count: 1, vcpus: 2, memoryMib: 256 }));
    await at(svc, t0 + 10);
    const planned = await store.capacityLeases.get(be.id);
    assert.equal(planned.state, 'active');
    const on = planned.plan.placements[0]!.hostId;
    const other = on === h1 ? h2! : h1!;
    await store.hosts.setState(on, 'error');
    await at(svc, t0 + 20);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'active', 'a missed heartbeat does not fail the lease planned there');
    await store.hosts.setState(other, 'error');
    await at(svc, t0 + 21);
    const before = await rows();
    await assert.rejects(svc.submit(sub({ kind: 'immediate', count: 1, vcpus: 2, memoryMib: 256, preemptible: false })), LeaseRejectedError, 'the free host is late: nothing new goes there');
    assert.deepEqual(await rows(), before);
    await store.hosts.setState(other, 'enabled');
    await at(svc, t0 + 22);
    const imm = await svc.submit(sub({ kind: 'immediate', count: 1, vcpus: 2, memoryMib: 256, preemptible: false }));
    assert.deepEqual(imm.plan.placements, [{ hostId: other, vms: 1 }]);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'active');
  });

  it('a lease counts against its owner\'s leases quota in the admitting transaction: past it, refused and nothing written', async () => {
    await fresh(1);
    t = 1_000_000;
    const svc = await service(new FakeActions());
    await store.quotas.setLimits({ kind: 'user', id: owner.id }, { leases: 1 });
    const first = await svc.submit(sub({ count: 1 }));
    assert.equal((await store.quotas.usage({ kind: 'user', id: owner.id })).leases, 1);
    const before = await rows();
    await assert.rejects(svc.submit(sub({ count: 1 })), (e: unknown) => e instanceof QuotaExceededError && e.resource === 'leases');
    assert.deepEqual(await rows(), before, 'nothing written');
    assert.equal((await svc.cancel(first.id)).state, 'cancelled');
    assert.equal((await store.quotas.usage({ kind: 'user', id: owner.id })).leases, 0, 'a lease over counts no more');
    assert.equal((await svc.submit(sub({ count: 1 }))).state !== 'rejected', true);
  });

  it('a BE lease resumes on another host when its own is taken and the migration policy allows it', async () => {
    const [h1, h2] = await fresh(1);
    t = 2_000_000;
    const fake = new FakeActions();
    const svc = await service(fake);
    // A plain VM fills h2 (not a lease's): the AR can only be had by preempting the BE lease on h1.
    const plain = await store.vms.create({ name: 'plain', ownerId: owner.id, spec: {} });
    await store.vms.bindToHost(plain.id, h2!, { cpus: 2, memoryMib: 2048, diskMib: 1 });
    const be = await svc.submit(sub({}));
    await at(svc, t + 10);
    assert.deepEqual((await store.capacityLeases.get(be.id)).plan.placements, [{ hostId: h1, vms: 2 }]);
    const ar = await svc.submit(sub({ kind: 'ar', startS: t + 60, durationS: 300, preemptible: false }));
    await at(svc, t + 46);
    await at(svc, t + 10);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'suspended');
    // The plain VM goes: h2 is free while the AR still holds h1.
    await store.vms.releaseFromHost(plain.id);
    await at(svc, t + 1);
    const moved = await store.capacityLeases.get(be.id);
    assert.equal(moved.state, 'resuming');
    assert.deepEqual(moved.plan.placements, [{ hostId: h2, vms: 2 }]);
    assert.equal(moved.plan.segments[0]?.kind, 'migrate');
    await at(svc, t + 30);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'active');
    assert.deepEqual(fake.kinds().slice(-4), ['migrate', 'migrate', 'resume', 'resume']);
    assert.deepEqual([...new Set((await store.capacityLeases.vms(be.id)).map((v) => v.hostId))], [h2]);
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'active');
  });

  it('state on shared storage (rates suspendTo shared, migration no): the lease resumes on the free host with no migrate step, its VMs handed over first; a controller stopped mid-hand-off is finished by the next, each VM resumed once', async () => {
    const [h1, h2] = await fresh(1);
    const t0 = (t = 2_500_000);
    const shared = compileLeaseRates({ bootS: 5, shutdownS: 2, suspendMiBps: 100, resumeMiBps: 100, suspendTo: 'shared' });
    const noMigration = compileLeasePolicies({ migration: 'no' });
    const fake = new FakeActions();
    const svc = await service(fake, store, noMigration, shared);
    const plain = await store.vms.create({ name: 'plain', ownerId: owner.id, spec: {} });
    await store.vms.bindToHost(plain.id, h2!, { cpus: 2, memoryMib: 2048, diskMib: 1 });
    const be = await svc.submit(sub({}));
    await at(svc, t0 + 10);
    assert.deepEqual((await store.capacityLeases.get(be.id)).plan.placements, [{ hostId: h1, vms: 2 }]);
    // The AR prepares from t0 + 65: the lease's two 512 MiB VMs are saved (10.24 s at 100 MiB/s) before it.
    const ar = await svc.submit(sub({ kind: 'ar', startS: t0 + 70, durationS: 300, preemptible: false }));
    await at(svc, t0 + 66);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'suspended');
    // The hand-off is held (a cold migration under way) when the controller stops.
    fake.hold.add('migrate');
    await store.vms.releaseFromHost(plain.id);
    t = t0 + 67;
    await svc.tick();
    await pollUntilLogged(fake, 'migrate-started');
    const moving = await store.capacityLeases.get(be.id);
    assert.equal(moving.state, 'resuming');
    assert.deepEqual(moving.plan.placements, [{ hostId: h2, vms: 2 }]);
    assert.deepEqual(moving.plan.segments.map((x) => x.kind), ['resume', 'run', 'shutdown'], 'no migrate step: the state is read where it is');
    assert.equal(moving.pendingStep?.kind, 'resume');
    assert.deepEqual(moving.pendingStep?.from, [{ hostId: h1, vms: 2 }], 'the journal says where the state was saved');
    await svc.stop();
    assert.ok(!fake.log.some((l) => l.startsWith('resume ')), 'nothing resumed before the hand-off finished');
    // The next controller repeats the journaled step: hands the VMs to h2 (idempotent) and resumes each once.
    const next = new FakeActions();
    const svc2 = await service(next, store, noMigration, shared);
    await svc2.idle();
    assert.deepEqual(next.kinds(), ['migrate', 'migrate', 'resume', 'resume']);
    assert.deepEqual([...new Set((await store.capacityLeases.vms(be.id)).map((v) => v.hostId))], [h2]);
    await at(svc2, t0 + 90);
    const l = await store.capacityLeases.get(be.id);
    assert.equal(l.state, 'active');
    assert.equal(l.pendingStep, null);
    assert.equal((await store.capacityLeases.timeline(be.id)).filter((e) => e.kind === 'step' && e.detail['step'] === 'migrate').length, 0, 'no migrate step was ever journaled');
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'active');
  });

  it('where a suspended lease\'s memory lives is derived per lease from its VMs\' disks (their template before they exist), not the configured suspendTo: all on the shared datastore, it resumes on the free host with no migrate step — also after a restart; one VM on a local disk, it waits for its own host', async () => {
    // The configured default is local (and migration no): only a lease whose VMs are all on the shared datastore may resume elsewhere.
    const noMigration = compileLeasePolicies({ migration: 'no' });
    const run = async (template: 'local' | 'shared', disks: readonly ('local' | 'shared')[], restart: boolean): Promise<{ placements: unknown; kinds: string[]; state: string; h1: string; h2: string }> => {
      const [h1, h2] = await fresh(1);
      const t0 = (t = 2_600_000);
      const tpl = await store.templates.create({ name: `tpl-${template}`, ownerId: owner.id, vcpus: 1, memoryMib: 512, disks: [{ image: 'img', mode: 'overlay', datastore: template }] });
      let fake: FakeActions = new DiskActions(store, disks);
      let svc = await service(fake, store, noMigration, rates);
      const plain = await store.vms.create({ name: 'plain', ownerId: owner.id, spec: {} });
      await store.vms.bindToHost(plain.id, h2!, { cpus: 2, memoryMib: 2048, diskMib: 1 });
      const be = await svc.submit(sub({ templateId: tpl.id }));
      await at(svc, t0 + 10);
      assert.deepEqual((await store.capacityLeases.get(be.id)).plan.placements, [{ hostId: h1, vms: 2 }]);
      await svc.submit(sub({ kind: 'ar', startS: t0 + 70, durationS: 300, preemptible: false, templateId: tpl.id }));
      await at(svc, t0 + 66);
      assert.equal((await store.capacityLeases.get(be.id)).state, 'suspended');
      if (restart) {
        // A new controller derives it again, from the VMs' rows.
        await svc.stop();
        fake = new DiskActions(store, disks);
        svc = await service(fake, store, noMigration, rates);
      }
      await store.vms.releaseFromHost(plain.id);
      await at(svc, t0 + 67);
      const l = await store.capacityLeases.get(be.id);
      return { placements: l.plan.placements, kinds: l.plan.segments.map((x) => x.kind), state: l.state, h1: h1!, h2: h2! };
    };
    const shared = await run('shared', ['shared', 'shared'], false);
    assert.deepEqual(shared.placements, [{ hostId: shared.h2, vms: 2 }], 'resumed on the free host');
    assert.deepEqual(shared.kinds, ['resume', 'run', 'shutdown'], 'no migrate step: the state is read where it is');
    const again = await run('shared', ['shared', 'shared'], true);
    assert.deepEqual(again.placements, [{ hostId: again.h2, vms: 2 }], 'a restarted controller resumes it there too');
    assert.deepEqual(again.kinds, ['resume', 'run', 'shutdown']);
    // The template says shared, but one VM's disk is local (made before the template changed, or moved since): its memory is on h1.
    const mixed = await run('shared', ['shared', 'local'], false);
    assert.equal(mixed.state, 'suspended', 'it waits for its own host, busy with the AR');
    assert.deepEqual(mixed.placements, []);
    // The template's word before the VMs exist, the VMs' after: a local template whose VMs are on the shared datastore resumes elsewhere.
    const fromVms = await run('local', ['shared', 'shared'], false);
    assert.deepEqual(fromVms.placements, [{ hostId: fromVms.h2, vms: 2 }]);
  });

  it('an AR and the plans it cuts are one write: a failure between the AR\'s row and the cuts leaves neither; once written, both are there before any step runs', async () => {
    await fresh();
    const t0 = (t = 2_700_000);
    const fp = new Failpoints();
    const svc = new LeaseService({ store, actions: new FakeActions(), policies, rates, logger, clock, tickMs: 0, failpoints: fp });
    services.push(svc);
    await svc.start();
    const be = await svc.submit(sub({}));
    await at(svc, t0 + 10);
    const planBefore = (await store.capacityLeases.get(be.id)).plan;
    assert.ok(!planBefore.segments.some((x) => x.kind === 'suspend'));
    const ar = sub({ kind: 'ar', startS: t0 + 100, durationS: 50, preemptible: false });
    fp.arm('lease-admit', () => {
      throw new Error('died between the AR and the plans it cuts');
    });
    const before = await rows();
    await assert.rejects(svc.submit(ar), /died between/);
    assert.deepEqual(await rows(), before, 'nothing written: no AR, no cut plan, no timeline entry, no event');
    assert.deepEqual((await store.capacityLeases.get(be.id)).plan, planBefore, 'the lease keeps its plan');
    // Written together: at lease-admit.done (after the commit, before anything runs) the AR and the cut plan are both on disk.
    let seen: CapacityLease[] = [];
    fp.arm('lease-admit.done', async () => {
      seen = await store.capacityLeases.list();
    });
    const admitted = await svc.submit(ar);
    assert.deepEqual(seen.map((l) => l.id), [be.id, admitted.id]);
    const cut = seen[0]!;
    const suspend = cut.plan.segments.find((x) => x.kind === 'suspend');
    assert.equal(suspend?.to, t0 + 100 - 5, 'the lease\'s plan was cut in the same write: its suspension ends when the AR prepares');
    assert.equal((await store.capacityLeases.timeline(be.id)).filter((e) => e.kind === 'planned').length, 1, 'the cut on its timeline once');
    await at(svc, suspend.to + 0.1);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'suspended');
  });

  it('refuses at once, writing nothing: an AR that cannot fit (with the reason), bad times, too long, more VMs than the hosts hold', async () => {
    await fresh();
    t = 3_000_000;
    const svc = await service(new FakeActions());
    const ar = await svc.submit(sub({ kind: 'ar', startS: t + 100, durationS: 100, preemptible: false }));
    const before = await rows();
    await assert.rejects(svc.submit(sub({ kind: 'ar', startS: t + 120, durationS: 100, preemptible: false })), (e: unknown) => e instanceof LeaseRejectedError && /not enough capacity/.test(e.reason));
    await assert.rejects(svc.submit(sub({ kind: 'ar', startS: t - 10, preemptible: false })), (e: unknown) => e instanceof ValidationError && e.field === 'start');
    await assert.rejects(svc.submit(sub({ kind: 'ar', startS: t + 1e9, preemptible: false })), (e: unknown) => e instanceof ValidationError && e.field === 'start');
    await assert.rejects(svc.submit(sub({ kind: 'ar', startS: t + 100, preemptible: true })), (e: unknown) => e instanceof ValidationError && e.field === 'preemptible');
    await assert.rejects(svc.submit(sub({ startS: t + 100 })), (e: unknown) => e instanceof ValidationError && e.field === 'start');
    await assert.rejects(svc.submit(sub({ durationS: 30 * 86_400 })), (e: unknown) => e instanceof ValidationError && e.field === 'durationS');
    await assert.rejects(svc.submit(sub({ count: 5 })), (e: unknown) => e instanceof ValidationError && e.field === 'count' && /hold 2/.test(e.message));
    await assert.rejects(svc.submit(sub({ count: 1, vcpus: 3 })), (e: unknown) => e instanceof ValidationError && e.field === 'vcpus' && /largest has 2/.test(e.message), 'a VM larger than any host names its size, not the count');
    await assert.rejects(svc.submit(sub({ count: 1, memoryMib: 4096 })), (e: unknown) => e instanceof ValidationError && e.field === 'memoryMiB' && /largest has 2048 MiB/.test(e.message));
    await assert.rejects(svc.submit(sub({ kind: 'immediate', count: 1, preemptible: false })), LeaseRejectedError, 'the AR holds the host from its preparation on: no room for 4 VMs now and through it');
    assert.deepEqual(await rows(), before, 'nothing written');
    assert.equal((await store.capacityLeases.list()).length, 1);
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'scheduled');
  });

  it('counts VMs no lease made: an immediate lease does not get a host a plain VM fills', async () => {
    const [h1] = await fresh();
    t = 4_000_000;
    const svc = await service(new FakeActions());
    const plain = await store.vms.create({ name: 'plain', ownerId: owner.id, spec: {} });
    await store.vms.bindToHost(plain.id, h1!, { cpus: 2, memoryMib: 1024, diskMib: 1 });
    await assert.rejects(svc.submit(sub({ kind: 'immediate', count: 1, preemptible: false })), (e: unknown) => e instanceof LeaseRejectedError && /0 of 1 VMs fit/.test(e.reason));
    await store.vms.releaseFromHost(plain.id);
    const ok = await svc.submit(sub({ kind: 'immediate', count: 1, preemptible: false }));
    assert.equal(ok.state, 'preparing');
  });

  it('an idle service reads neither hosts nor VMs on its ticks; a submission sees the hosts and VMs as they are now, and a live lease is ticked again', async () => {
    const [h1] = await fresh();
    t = 4_500_000;
    const reads = { hosts: 0, vms: 0 };
    // The same store, its two whole-table reads counted.
    const counted: Store = {
      ...store,
      hosts: Object.assign(Object.create(store.hosts) as Store['hosts'], { list: (...a: Parameters<Store['hosts']['list']>) => (reads.hosts++, store.hosts.list(...a)) }),
      vms: Object.assign(Object.create(store.vms) as Store['vms'], { list: (...a: Parameters<Store['vms']['list']>) => (reads.vms++, store.vms.list(...a)) }),
    };
    const svc = await service(new FakeActions(), counted);
    reads.hosts = reads.vms = 0;
    for (let i = 0; i < 5; i++) await at(svc, t + 1);
    assert.deepEqual(reads, { hosts: 0, vms: 0 }, 'no lease: the ticks read nothing');
    // Changed while idle: a plain VM fills h1, and a second host comes.
    const plain = await store.vms.create({ name: 'plain-idle', ownerId: owner.id, spec: {} });
    await store.vms.bindToHost(plain.id, h1!, { cpus: 2, memoryMib: 1024, diskMib: 1 });
    const h2 = await store.hosts.register({ name: 'h-late', agentUrl: 'http://198.18.1.99:7481', agentToken: 't', totalCpus: 2, totalMemoryMib: 2048, totalDiskMib: 100_000 });
    await store.hosts.setState(h2.id, 'enabled');
    const imm = await svc.submit(sub({ kind: 'immediate', count: 1, preemptible: false, durationS: 100 }));
    assert.deepEqual(imm.plan.placements, [{ hostId: h2.id, vms: 1 }], 'the host registered while idle is planned on, the one a plain VM filled meanwhile is not');
    assert.ok(reads.hosts > 0 && reads.vms > 0);
    reads.hosts = reads.vms = 0;
    await at(svc, t + 10);
    assert.ok(reads.hosts > 0 && reads.vms > 0, 'a live lease: the tick reads the fleet');
    assert.equal((await store.capacityLeases.get(imm.id)).state, 'active');
    await at(svc, t + 200);
    assert.equal((await store.capacityLeases.get(imm.id)).state, 'done');
    reads.hosts = reads.vms = 0;
    await at(svc, t + 201);
    assert.deepEqual(reads, { hosts: 0, vms: 0 }, 'idle again once the lease is over');
    await store.vms.releaseFromHost(plain.id);
  });

  it('releases at the end of the duration, and cancel frees the rest; a finished lease cannot be cancelled', async () => {
    await fresh();
    t = 5_000_000;
    const fake = new FakeActions();
    const svc = await service(fake);
    const a = await svc.submit(sub({ kind: 'immediate', count: 1, durationS: 20, preemptible: false }));
    await at(svc, t + 5);
    await at(svc, t + 20);
    await at(svc, t + 2);
    assert.equal((await store.capacityLeases.get(a.id)).state, 'done');
    assert.deepEqual(fake.kinds(), ['create', 'terminate']);
    await assert.rejects(svc.cancel(a.id), (e: unknown) => e instanceof LeaseStateError && e.state === 'done');
    const b = await svc.submit(sub({ count: 2 }));
    await at(svc, t + 10);
    const c = await svc.submit(sub({ count: 2 }));
    assert.equal((await store.capacityLeases.get(c.id)).state, 'accepted', 'queued behind b');
    assert.equal((await svc.cancel(b.id)).state, 'cancelled');
    await svc.idle();
    const bVms = (await store.capacityLeases.vms(b.id)).map((v) => v.vmId);
    assert.deepEqual(fake.log.filter((l) => l.startsWith('terminate ') && bVms.includes(l.split(' ')[1]!)).length, 2, "b's VMs are terminated");
    assert.equal((await store.capacityLeases.get(c.id)).state, 'preparing', 'what b held is free: the queue moves at once');
  });

  it('a step that fails fails the lease with the reason, ends its VMs by a journaled release, and frees its capacity', async () => {
    await fresh();
    const t0 = (t = 7_000_000);
    const fake = new FakeActions();
    const svc = await service(fake);
    const be = await svc.submit(sub({}));
    await at(svc, t0 + 10);
    await svc.submit(sub({ kind: 'ar', startS: t0 + 60, durationS: 50, preemptible: false }));
    fake.fail.add('suspend');
    const suspend = (await store.capacityLeases.get(be.id)).plan.segments.find((x) => x.kind === 'suspend')!;
    await at(svc, suspend.from + 0.1);
    const failed = await store.capacityLeases.get(be.id);
    assert.equal(failed.state, 'failed');
    assert.match(failed.reason ?? '', /^suspend failed: .*QEMU died/);
    assert.equal(failed.pendingStep, null, 'the release is done');
    const vms = (await store.capacityLeases.vms(be.id)).map((v) => v.vmId);
    assert.deepEqual(fake.log.filter((l) => l.startsWith('terminate ')).map((l) => l.split(' ')[1]).sort(), [...vms].sort(), 'every VM of the failed lease is ended');
    const steps = (await store.capacityLeases.timeline(be.id)).filter((h) => h.kind.startsWith('step')).map((h) => `${h.kind} ${h.detail['step'] as string}`);
    assert.deepEqual(steps.slice(-3), ['step-failed suspend', 'step release', 'step-done release']);
    // What it held is free again: once the AR is over, the host is the next lease's at once (not after the failed one's remaining run).
    const next = await svc.submit(sub({}));
    assert.equal(next.state, 'accepted');
    await at(svc, t0 + 60 + 50 + 3);
    assert.equal((await store.capacityLeases.get(next.id)).state, 'preparing');
  });

  it('a prepare whose VM never runs fails the lease, and its release ends that VM (made, not yet running)', async () => {
    await fresh();
    t = 7_500_000;
    const fake = new FakeActions();
    const svc = await service(fake);
    fake.fail.add('started');
    const lease = await svc.submit(sub({ kind: 'immediate', count: 2, durationS: 60, preemptible: false }));
    await at(svc, t + 1);
    const failed = await store.capacityLeases.get(lease.id);
    assert.equal(failed.state, 'failed');
    assert.match(failed.reason ?? '', /^prepare failed: started of .*QEMU died/);
    const made = fake.log.filter((l) => l.startsWith('create ')).map((l) => l.split(' ')[1]!).sort();
    assert.equal(made.length, 2, 'both VMs were made');
    assert.deepEqual(fake.log.filter((l) => l.startsWith('terminate ')).map((l) => l.split(' ')[1]!).sort(), made, 'each VM the prepare made is ended by the release (recorded before it was waited for)');
  });

  it('a restart rebuilds the slot table from the store and finishes a suspension it had journaled', async () => {
    await fresh();
    const t0 = (t = 6_000_000);
    const fake = new FakeActions();
    const svc = await service(fake);
    const be = await svc.submit(sub({}));
    await at(svc, t + 10);
    const ar = await svc.submit(sub({ kind: 'ar', startS: t + 60, durationS: 50, preemptible: false }));
    fake.hold.add('suspend');
    t += 46;
    await svc.tick();
    // The suspension is journaled and under way when the controller goes.
    assert.equal((await store.capacityLeases.get(be.id)).pendingStep?.kind, 'suspend');
    for (let i = 0; i < 200 && !fake.log.some((l) => l.startsWith('suspend-started')); i++) await new Promise((r) => setTimeout(r, 10));
    await svc.stop();
    assert.ok(fake.log.includes(`suspend-started ${fake.log[0]!.split(' ')[1]}`));
    assert.ok(!fake.log.some((l) => l.startsWith('suspend ')), 'the suspension never completed');
    const fake2 = new FakeActions();
    const svc2 = await service(fake2);
    await svc2.idle();
    assert.deepEqual(fake2.kinds(), ['suspend', 'suspend'], 'the journaled suspension is carried out by the new controller');
    assert.equal((await store.capacityLeases.get(be.id)).pendingStep, null);
    // The rebuilt table knows both leases: nothing else fits before the AR ends.
    await assert.rejects(svc2.submit(sub({ kind: 'immediate', count: 1, preemptible: false, durationS: 30 })), LeaseRejectedError);
    await at(svc2, t0 + 10 + 60 + 1);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'suspended');
    assert.equal((await store.capacityLeases.get(ar.id)).state, 'active');
  });
  it('a controller back after a long stop walks each plan boundary in turn: every state written, every step journaled and run in order', async () => {
    await fresh();
    const t0 = (t = 7_000_000);
    const svc = await service(new FakeActions());
    const ar = await svc.submit(sub({ kind: 'ar', startS: t0 + 60, durationS: 50, preemptible: false }));
    await svc.stop();
    // Down through the AR's whole window.
    t = t0 + 500;
    const fake = new FakeActions();
    await at(await service(fake), t0 + 500);
    const tl = await store.capacityLeases.timeline(ar.id);
    assert.deepEqual(tl.filter((e) => e.kind === 'created' || e.kind === 'state').map((e) => e.detail['state']), ['scheduled', 'preparing', 'active', 'done']);
    assert.deepEqual(tl.filter((e) => e.kind === 'step').map((e) => e.detail['step']), ['prepare', 'shutdown']);
    assert.deepEqual(fake.kinds(), ['create', 'create', 'terminate', 'terminate'], 'its VMs made and then ended, once each');
    const l = await store.capacityLeases.get(ar.id);
    assert.deepEqual([l.state, l.pendingStep], ['done', null]);
  });

  it('suspension none: an AR needing a running BE lease\'s host requeues it — its VMs ended by a journaled requeue step, the reason on its timeline — and it starts over with new VMs once the AR is done', async () => {
    const [h1] = await fresh();
    const t0 = (t = 8_000_000);
    const fake = new FakeActions();
    const svc = await service(fake, store, compileLeasePolicies({ suspension: 'none' }));
    const be = await svc.submit(sub({}));
    await at(svc, t0 + 10);
    assert.equal((await store.capacityLeases.get(be.id)).state, 'active');
    const old = (await store.capacityLeases.vms(be.id)).map((v) => v.vmId);
    assert.equal(old.length, 2);
    const ar = await svc.submit(sub({ kind: 'ar', startS: t0 + 100, durationS: 50, preemptible: false }));
    assert.equal(ar.state, 'scheduled', 'admitted: the BE lease gives way');
    await svc.idle();
    const requeued = await store.capacityLeases.get(be.id);
    assert.equal(requeued.state, 'accepted', 'back in the queue');
    assert.equal(requeued.remainingS, 1000, 'it owes its whole duration again');
    assert.equal(requeued.pendingStep, null, 'the requeue step is done');
    assert.deepEqual(await store.capacityLeases.vms(be.id), [], 'no VM of the ended run is left to it');
    assert.deepEqual(await store.capacityLeases.retiredVms(be.id), []);
    assert.deepEqual(fake.log.slice(2).filter((l) => l.startsWith('terminate')).map((l) => l.split(' ')[1]).sort(), [...old].sort(), 'its VMs were terminated, once each');
    const tl = await store.capacityLeases.timeline(be.id);
    const change = tl.find((e) => e.kind === 'state' && e.detail['state'] === 'accepted');
    assert.match(typeof change?.detail['reason'] === 'string' ? change.detail['reason'] : '', new RegExp(`^requeued to start over at ${t0 + 10}: advance reservation ${ar.id} needs its hosts from ${t0 + 95}, and suspension is off \\(policy suspension none\\)$`));
    assert.deepEqual(tl.filter((e) => e.kind.startsWith('step')).map((e) => `${e.kind} ${e.detail['step'] as string}`).slice(-2), ['step requeue', 'step-done requeue']);
    // After the AR (prepare 95–100, run 100–150, shutdown to 152) the lease runs again, with new VMs, the reason gone from its record.
    await at(svc, t0 + 100);
    await at(svc, t0 + 152.1);
    const again = await store.capacityLeases.get(be.id);
    assert.equal(again.state, 'preparing');
    assert.equal(again.reason, null);
    assert.deepEqual(again.plan.placements, [{ hostId: h1, vms: 2 }]);
    await svc.idle();
    assert.equal((await store.capacityLeases.vms(be.id)).length, 2);
    assert.deepEqual((await store.capacityLeases.timeline(be.id)).filter((e) => e.kind === 'state').map((e) => e.detail['state']), ['scheduled', 'preparing', 'active', 'accepted', 'scheduled', 'preparing']);
  });

  it('a requeue the controller did not finish (its termination under way at the stop) is finished by the next one; a prepare journaled over it ends the old run\'s VMs first', async () => {
    await fresh();
    const t0 = (t = 9_000_000);
    const fake = new FakeActions();
    const none = compileLeasePolicies({ suspension: 'none' });
    const svc = await service(fake, store, none);
    const be = await svc.submit(sub({}));
    await at(svc, t0 + 10);
    fake.hold.add('terminate');
    await svc.submit(sub({ kind: 'ar', startS: t0 + 100, durationS: 50, preemptible: false }));
    for (let i = 0; i < 200 && !fake.log.some((l) => l.startsWith('terminate-started')); i++) await new Promise((r) => setTimeout(r, 10));
    await svc.stop();
    assert.equal((await store.capacityLeases.get(be.id)).pendingStep?.kind, 'requeue', 'journaled, not done');
    assert.equal((await store.capacityLeases.retiredVms(be.id)).length, 2, 'the ended run\'s VMs are set aside in the same write');
    const fake2 = new FakeActions();
    const svc2 = await service(fake2, store, none);
    await svc2.idle();
    assert.deepEqual(fake2.kinds(), ['terminate', 'terminate'], 'the next controller ends them');
    assert.deepEqual(await store.capacityLeases.retiredVms(be.id), []);
    assert.equal((await store.capacityLeases.get(be.id)).pendingStep, null);
    // The same, but the journal says prepare (a later step written over the requeue before it ran): the old VMs go first.
    await svc2.stop();
    const l = await store.capacityLeases.get(be.id);
    await store.capacityLeases.setVm({ leaseId: be.id, idx: 0, vmId: 'old-0', hostId: l.plan.placements[0]?.hostId ?? 'h' });
    await store.capacityLeases.record(be.id, { retireVms: true, pendingStep: { kind: 'prepare', placements: [], at: t0 + 20 } }, []);
    const fake3 = new FakeActions();
    await (await service(fake3, store, none)).idle();
    assert.deepEqual(fake3.log.slice(0, 1), ['terminate old-0']);
    assert.deepEqual(await store.capacityLeases.retiredVms(be.id), []);
  });

  it('unsuspendable cancel: the lease in the AR\'s way is cancelled with the reason and its VMs ended by a journaled cancel step', async () => {
    await fresh();
    const t0 = (t = 10_000_000);
    const fake = new FakeActions();
    const svc = await service(fake, store, compileLeasePolicies({ suspension: 'none', unsuspendable: 'cancel' }));
    const be = await svc.submit(sub({}));
    await at(svc, t0 + 10);
    const vms = (await store.capacityLeases.vms(be.id)).map((v) => v.vmId);
    const ar = await svc.submit(sub({ kind: 'ar', startS: t0 + 100, durationS: 50, preemptible: false }));
    await svc.idle();
    const l = await store.capacityLeases.get(be.id);
    assert.equal(l.state, 'cancelled');
    assert.match(l.reason ?? '', new RegExp(`^cancelled at ${t0 + 10}: advance reservation ${ar.id} needs its hosts`));
    assert.equal(l.pendingStep, null);
    assert.deepEqual(fake.log.filter((x) => x.startsWith('terminate')).map((x) => x.split(' ')[1]).sort(), [...vms].sort());
    assert.deepEqual((await store.capacityLeases.timeline(be.id)).filter((e) => e.kind.startsWith('step')).map((e) => `${e.kind} ${e.detail['step'] as string}`).slice(-2), ['step cancel', 'step-done cancel']);
  });

  it('quota-aware admission: a lease past its owner\'s or a group\'s vms/vcpus/memory limit (leases and other VMs counted) is refused naming the quota, nothing written', async () => {
    await fresh(1);
    t = 11_000_000;
    const svc = await service(new FakeActions(), store, compileLeasePolicies({ admission: 'quota-aware' }));
    await store.quotas.setLimits({ kind: 'user', id: owner.id }, { vms: 3 });
    const ar = (n: number, o: Partial<LeaseSubmission> = {}): LeaseSubmission => sub({ kind: 'ar', startS: t + 3600 * n, durationS: 60, count: 1, preemptible: false, ...o });
    await svc.submit(ar(1, { count: 2 }));
    const before = await rows();
    await assert.rejects(svc.submit(ar(2, { count: 2 })), (e: unknown) => e instanceof LeaseRejectedError && e.reason === 'quota exceeded: user alice may have 3 vms; 2 in use, 2 more requested (admission policy quota-aware)');
    assert.deepEqual(await rows(), before, 'nothing written');
    // A VM outside leases counts too.
    const plain = await store.vms.create({ name: 'plain', ownerId: owner.id, spec: {}, charge: { vcpus: 1, memoryMib: 128, diskMib: 0 } });
    await assert.rejects(svc.submit(ar(3)), (e: unknown) => e instanceof LeaseRejectedError && /user alice may have 3 vms; 3 in use, 1 more requested/.test(e.reason));
    assert.equal(plain.ownerId, owner.id);
    await store.quotas.setLimits({ kind: 'user', id: owner.id }, { vms: 10 });
    // A group's limit holds over its members, with what each holds: alice's lease (1024 MiB) and plain VM (128), bob's lease (1024).
    const bob = (await store.users.create({ name: 'bob' })).user;
    const devs = await store.groups.create({ name: 'devs' });
    await store.groups.setMember(devs.id, owner.id, false);
    await store.groups.setMember(devs.id, bob.id, false);
    await store.quotas.setLimits({ kind: 'group', id: devs.id }, { memoryMiB: 4096 });
    await svc.submit(ar(4, { ownerId: bob.id, memoryMib: 1024 }));
    const before2 = await rows();
    await assert.rejects(svc.submit(ar(5, { memoryMib: 2048 })), (e: unknown) => e instanceof LeaseRejectedError && /^quota exceeded: group devs may have 4096 memoryMiB; 2176 in use, 2048 more requested/.test(e.reason));
    assert.deepEqual(await rows(), before2);
  });
});
