import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../bench/support/seeded-random.js';
import { ValidationError } from '../../errors/validation-error.js';
import { simulate, type SimEvent } from '../../sim/simulate.js';
import { compileSimConfig } from '../../sim/sim-config.js';
import type { TraceLease } from '../../sim/trace-lease.js';
import type { Enactment } from './enactment.js';
import { compileLeasePolicies } from './lease-policies.js';
import { compileLeaseRates } from './lease-rates.js';
import { LeaseScheduler } from './lease-scheduler.js';

const STEPS_OPENING = new Set(['prepare', 'migrate', 'resume']);

/** Per lease, the spans it holds hosts: from a prepare/migrate/resume to the end of the suspend or shutdown that closes it. */
function stints(events: readonly SimEvent[]): { lease: string; from: number; to: number; hosts: { host: number; vms: number }[] }[] {
  const open = new Map<string, { from: number; hosts: { host: number; vms: number }[] }>();
  const out: { lease: string; from: number; to: number; hosts: { host: number; vms: number }[] }[] = [];
  for (const e of events) {
    if (STEPS_OPENING.has(e.step) && !open.has(e.lease)) open.set(e.lease, { from: e.t, hosts: [...e.placements!] });
    if (e.step === 'suspend' || e.step === 'shutdown') {
      const o = open.get(e.lease)!;
      out.push({ lease: e.lease, from: o.from, to: e.until!, hosts: o.hosts });
      open.delete(e.lease);
    }
    // Ended at once for an AR (not suspendable): it held its hosts until then.
    if ((e.step === 'requeue' || e.step === 'cancel') && open.has(e.lease)) {
      const o = open.get(e.lease)!;
      out.push({ lease: e.lease, from: o.from, to: e.t, hosts: o.hosts });
      open.delete(e.lease);
    }
  }
  assert.equal(open.size, 0, 'every stint is closed by a suspend or a shutdown');
  return out;
}

test('property: random workloads never overcommit a host, admitted ARs run at their start, best effort never starts before it was submitted, and everything ends (seeded)', () => {
  const backfillings = ['off', 'aggressive', 'conservative'];
  for (let seed = 1; seed <= 60; seed++) {
    const rnd = seededRandom(seed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const hostCount = 2 + int(5);
    const cpus = 1 + int(2);
    const leases: TraceLease[] = [];
    for (let i = 0; i < 25; i++) {
      const kind = rnd() < 0.3 ? 'ar' : rnd() < 0.1 ? 'immediate' : 'be';
      const submit = int(20_000);
      const duration = 60 + int(4000);
      leases.push({
        id: `l${i}`,
        kind,
        submit,
        ...(kind === 'ar' ? { start: submit + int(6000) } : {}),
        duration,
        realDuration: rnd() < 0.5 ? duration : int(duration),
        vms: 1 + int(hostCount * cpus),
        shape: { cpus: 1, memoryMiB: 256 * (1 + int(3)) },
        ...(rnd() < 0.5 ? { image: { id: `img${int(3)}`, sizeMiB: 100 * int(10) } } : {}),
        preemptible: kind === 'be',
      });
    }
    const config = compileSimConfig({
      hosts: { count: hostCount, cpus, memoryMiB: 1024 * cpus },
      rates: { suspendMiBps: 10 + int(100), resumeMiBps: 10 + int(100), migrateMiBps: 10 + int(100), bootS: int(30), shutdownS: int(20), minRunS: int(120) },
      policies: { backfilling: backfillings[int(3)]!, suspension: rnd() < 0.7 ? 'all' : 'none', migration: rnd() < 0.5 ? 'yes' : 'no', hostSelection: ['greedy', 'packing', 'striping'][int(3)]! },
    });
    const r = simulate({ leases }, config, { record: true });
    const where = `seed ${seed}`;
    assert.equal(r.metrics.unfinished, 0, `${where}: leases left in the queue`);
    const ss = stints(r.events);
    const byId = new Map(leases.map((l) => [l.id, l]));
    for (let h = 0; h < hostCount; h++) {
      const points = [...new Set(ss.flatMap((s) => [s.from, s.to]))];
      for (const t of points) {
        let cpu = 0;
        let mem = 0;
        for (const s of ss) {
          if (s.from > t || s.to <= t) continue;
          const vms = s.hosts.find((p) => p.host === h)?.vms ?? 0;
          cpu += vms * byId.get(s.lease)!.shape.cpus;
          mem += vms * byId.get(s.lease)!.shape.memoryMiB;
        }
        assert.ok(cpu <= cpus + 1e-9 && mem <= 1024 * cpus + 1e-9, `${where}: host ${h} overcommitted at ${t} (${cpu} CPUs, ${mem} MiB)`);
      }
    }
    const rejected = new Set(r.rejections.map((x) => x.lease));
    for (const l of leases) {
      const evs = r.events.filter((e) => e.lease === l.id);
      if (rejected.has(l.id)) continue;
      assert.equal(evs.at(-1)?.step, 'done', `${where}: lease ${l.id} (${l.kind}) ends`);
      if (l.kind === 'ar') assert.equal(evs.find((e) => e.step === 'run')?.t, l.start, `${where}: AR ${l.id} runs at its start`);
      if (l.kind === 'ar') assert.ok(!evs.some((e) => e.step === 'suspend'), `${where}: AR ${l.id} is never suspended`);
      if (l.kind === 'immediate') assert.equal(evs[0]?.t, l.submit, `${where}: immediate lease ${l.id} starts at once`);
      assert.ok(evs[0]!.t >= l.submit, `${where}: lease ${l.id} starts at ${evs[0]!.t}, before its submit ${l.submit}`);
    }
  }
});

const quiet: Enactment = { prepare() {}, migrate() {}, resume() {}, run() {}, suspend() {}, shutdown() {}, requeue() {}, cancel() {}, done() {} };

function scheduler(hosts = 2): LeaseScheduler {
  return new LeaseScheduler({ hosts: Array.from({ length: hosts }, () => ({ cpus: 1, memoryMiB: 1024 })), rates: compileLeaseRates(), policies: compileLeasePolicies(), enactment: quiet });
}

const be = { id: 'a', kind: 'be', submit: 0, duration: 100, vms: 1, shape: { cpus: 1, memoryMiB: 1024 }, preemptible: true } as const;

test('bad requests are refused naming the field, and change nothing', () => {
  const s = scheduler();
  const cases: [object, string][] = [
    [{ ...be, duration: -5 }, 'duration'],
    [{ ...be, duration: 10 * 365 * 24 * 3600 }, 'duration'],
    [{ ...be, vms: 0 }, 'vms'],
    [{ ...be, vms: 1.5 }, 'vms'],
    [{ ...be, shape: { cpus: 0, memoryMiB: 1024 } }, 'shape.cpus'],
    [{ ...be, submit: Number.NaN }, 'submit'],
    [{ ...be, kind: 'ar' }, 'start'],
    [{ ...be, kind: 'ar', start: -1, preemptible: false }, 'start'],
    [{ ...be, kind: 'ar', start: 50 }, 'preemptible'],
    [{ ...be, start: 50 }, 'start'],
    [{ ...be, id: '' }, 'id'],
  ];
  for (const [req, field] of cases) {
    assert.throws(() => s.submit(req as typeof be, 0), (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.field === field), `field ${field}`);
  }
  assert.equal([...s.records()].length, 0);
  assert.equal(s.queueLength, 0);
  s.submit(be, 0);
  assert.throws(() => s.submit(be, 0), (e: unknown) => e instanceof ValidationError && e.field === 'id');
  assert.equal([...s.records()].length, 1);
});

test('refusals carry the reason: more VMs than all hosts hold, an AR whose preparation would begin in the past, an immediate lease with no room', () => {
  const s = scheduler(2);
  assert.deepEqual(s.submit({ ...be, id: 'wide', vms: 3 }, 0), { accepted: false, reason: 'needs 3 VMs of 1 CPU / 1024 MiB; all the hosts together hold 2' });
  const ar = s.submit({ ...be, id: 'soon', kind: 'ar', start: 2, preemptible: false }, 0);
  assert.equal(ar.accepted, false);
  assert.match((ar as { reason: string }).reason, /starts too soon: its preparation \(5\.0 s\)/);
  assert.equal(s.submit({ ...be, id: 'i1', kind: 'immediate', vms: 2, preemptible: false }, 0).accepted, true);
  const i2 = s.submit({ ...be, id: 'i2', kind: 'immediate', preemptible: false }, 0);
  assert.equal(i2.accepted, false);
  assert.match((i2 as { reason: string }).reason, /not enough capacity during \[0, 107\): 0 of 1 VMs fit/);
  assert.equal(s.lease('i2')?.state, 'rejected');
  const noArs = new LeaseScheduler({ hosts: [{ cpus: 1, memoryMiB: 1024 }], rates: compileLeaseRates(), policies: compileLeasePolicies({ admission: 'no-ars' }), enactment: quiet });
  assert.deepEqual(noArs.submit({ ...be, kind: 'ar', start: 100, preemptible: false }, 0), { accepted: false, reason: 'advance reservations are not accepted (admission policy no-ars)' });
});

/** One host of 1 CPU; a BE lease running from 5 to 1005 and an AR for [300, 400) arriving at 100 (rates: boot 5 s, shutdown 2 s). */
function arOverRunningBe(policies: Record<string, string>, rates: Record<string, number> = {}): ReturnType<typeof simulate> {
  const shape = { cpus: 1, memoryMiB: 1024 };
  const leases: TraceLease[] = [
    { id: 'a', kind: 'be', submit: 0, duration: 1000, vms: 1, shape, preemptible: true },
    { id: 'b', kind: 'ar', submit: 100, start: 300, duration: 100, vms: 1, shape, preemptible: false },
  ];
  return simulate({ leases }, compileSimConfig({ hosts: { count: 1, cpus: 1, memoryMiB: 1024 }, rates: { bootS: 5, shutdownS: 2, suspendMiBps: 100, resumeMiBps: 100, ...rates }, policies }), { record: true });
}
const steps = (r: ReturnType<typeof simulate>, lease: string): string[] => r.events.filter((e) => e.lease === lease).map((e) => `${e.step} ${e.t}${e.until !== undefined ? `-${e.until}` : ''}`);

test('suspension none, unsuspendable requeue (the default): the AR is admitted, the running lease\'s VMs end at once and it starts over with its whole duration after the AR, the reason said', () => {
  const r = arOverRunningBe({ suspension: 'none' });
  assert.deepEqual(r.rejections, []);
  assert.deepEqual(steps(r, 'b'), ['prepare 295-300', 'run 300-400', 'shutdown 400-402', 'done 402']);
  // Ran 95 s, lost; back in the queue at 100, first come first served behind nothing: it starts when the AR has shut down.
  assert.deepEqual(steps(r, 'a'), ['prepare 0-5', 'run 5-1005', 'requeue 100', 'prepare 402-407', 'run 407-1407', 'shutdown 1407-1409', 'done 1409']);
  assert.equal(r.metrics.requeues, 1);
  assert.equal(r.metrics.preemptions, 0);
  assert.equal(r.metrics.allBestEffortS, 1409);
  assert.equal(r.metrics.meanWaitS, 402, 'its wait runs to the start it kept (Haizea overwrites start.actual)');
});

test('unsuspendable cancel: the running lease is cancelled with the reason, and counts in no best-effort figure', () => {
  const s = new LeaseScheduler({ hosts: [{ cpus: 1, memoryMiB: 1024 }], rates: compileLeaseRates({ bootS: 5, shutdownS: 2 }), policies: compileLeasePolicies({ suspension: 'none', unsuspendable: 'cancel' }), enactment: quiet });
  const told: string[] = [];
  const e: Enactment = { ...quiet, cancel: (l, pl, at, reason) => told.push(`${l.id} @${pl.map((p) => p.host).join()} ${at}: ${reason}`) };
  const s2 = new LeaseScheduler({ hosts: [{ cpus: 1, memoryMiB: 1024 }], rates: compileLeaseRates({ bootS: 5, shutdownS: 2 }), policies: compileLeasePolicies({ suspension: 'none', unsuspendable: 'cancel' }), enactment: e });
  for (const sch of [s, s2]) {
    sch.submit({ ...be, duration: 1000 }, 0);
    sch.schedule(0);
    sch.advance(50);
    assert.equal(sch.lease('a')?.state, 'active');
    assert.equal(sch.submit({ ...be, id: 'b', kind: 'ar', submit: 100, start: 300, duration: 100, preemptible: false }, 100).accepted, true);
    assert.equal(sch.lease('a')?.state, 'cancelled');
    assert.equal(sch.lease('a')?.end, 100);
    assert.match(sch.lease('a')?.reason ?? '', /^cancelled at 100: advance reservation b needs its hosts from 295, and suspension is off \(policy suspension none\)$/);
  }
  assert.deepEqual(told, ['a @0 100: ' + s2.lease('a')!.reason!]);
  const r = arOverRunningBe({ suspension: 'none', unsuspendable: 'cancel' });
  assert.equal(r.metrics.cancelled, 1);
  assert.equal(r.metrics.allBestEffortS, null);
  assert.deepEqual(steps(r, 'a'), ['prepare 0-5', 'run 5-1005', 'cancel 100']);
});

test('suspension all, but the suspension would have to begin before now (too slow to save): requeued instead of refusing the AR', () => {
  // 1024 MiB at 1 MiB/s: the save takes 1024 s and would have to begin at 295 − 1024 < 100.
  const r = arOverRunningBe({ suspension: 'all' }, { suspendMiBps: 1 });
  assert.deepEqual(r.rejections, []);
  assert.deepEqual(steps(r, 'a').slice(0, 3), ['prepare 0-5', 'run 5-1005', 'requeue 100']);
  assert.equal(r.metrics.requeues, 1);
  // With a save that fits, the same AR suspends it as before.
  const fast = arOverRunningBe({ suspension: 'all' });
  assert.deepEqual(steps(fast, 'a').slice(0, 3), ['prepare 0-5', 'run 5-1005', 'suspend 284.76-295']);
  assert.equal(fast.metrics.requeues, 0);
});

test('a requeue that would not free enough is undone: the lease keeps running untouched, nothing is told, and the AR is refused', () => {
  const told: string[] = [];
  const e: Enactment = { ...quiet, requeue: (l) => told.push(l.id), cancel: (l) => told.push(l.id) };
  const s = new LeaseScheduler({ hosts: [{ cpus: 1, memoryMiB: 1024 }, { cpus: 1, memoryMiB: 1024 }], rates: compileLeaseRates({ bootS: 5, shutdownS: 2 }), policies: compileLeasePolicies({ suspension: 'none' }), enactment: e });
  assert.equal(s.submit({ ...be, id: 'x', kind: 'ar', start: 10, duration: 5000, preemptible: false }, 0).accepted, true);
  s.submit({ ...be, duration: 1000 }, 0);
  s.schedule(0);
  s.advance(50);
  const before = JSON.stringify(s.lease('a'));
  const changes = s.table.changePoints(1).join();
  const ar = s.submit({ ...be, id: 'b', kind: 'ar', submit: 100, start: 300, duration: 100, vms: 2, preemptible: false }, 100);
  assert.equal(ar.accepted, false);
  assert.match((ar as { reason: string }).reason, /even after preempting what the policies allow/);
  assert.deepEqual(told, []);
  const after = JSON.parse(JSON.stringify(s.lease('a'))) as { version: number };
  assert.deepEqual({ ...after, version: 0 }, { ...(JSON.parse(before) as object), version: 0 }, 'the same plan, state, remaining time');
  assert.equal(s.table.changePoints(1).join(), changes, 'its booking is back');
  assert.equal(s.queueLength, 0);
});
