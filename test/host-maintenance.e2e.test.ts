import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import type { HostMaintenanceView } from '../src/contract/host-schemas.js';
import { MigrationLab } from './support/migration-lab.js';

/**
 * Host maintenance in the namespace lab (3 hosts, 128 MiB guests on the
 * shared datastore, the controller a process of its own so that it can be
 * killed): h1's running VMs leave live through the migration queue in the
 * planner's order and within the per-host limit, a powered-off one cold, a
 * VM with a volume attached (which stays on the host it was made on) keeps the host `blocked` (named, with the reason) until it
 * is gone, new VMs land elsewhere, the guests never reboot, and `host enable`
 * returns the host; VMs deployed there by the admin's `host` go where their
 * requirements allow, and one no other host qualifies for is reported. Then
 * the controller is SIGKILLed at each step of an evacuation (journaled,
 * queued, about to start, started): the restarted one finishes it, every VM
 * moved exactly once.
 */

const lab = new MigrationLab();
/** The queue's default per-host limit (the lab's controller runs with the defaults). */
const PER_HOST = 2;
/** Generous: boots and migrations under TCG on a 2-core machine shared with other work. */
const LONG = 300_000;

before(() => lab.start(3, 'process'));
after(() => lab.stop());

interface Guest { id: string; name: string; ip: string }

/** A guest deployed on lab host `on` (the admin's `host`: not a lasting requirement), with its own requirements if given. */
async function boot(name: string, on: number, requirements?: string): Promise<Guest> {
  const created = await lab.api.createVm({ template: 'tiny-mig', name, datastore: 'shared', host: lab.host(on).name, ...(requirements ? { requirements } : {}) });
  const vm = await lab.waitState(created.id, 'running', LONG);
  const ip = vm.nics[0]?.address?.split('/')[0];
  assert.ok(ip, `${name} has an address`);
  return { id: vm.id, name, ip };
}

/** The guest's uptime in seconds, once its HTTP server answers. */
async function uptime(g: Guest): Promise<number> {
  return pollUntil(`${g.name} answers`, async () => {
    const r = await lab.guest(g.ip, '/cgi-bin/uptime').catch(() => undefined);
    return r === undefined ? undefined : Number(r);
  }, { timeoutMs: LONG, intervalMs: 500 });
}

async function maintenanceMigrations(hostId: string): Promise<MigrationView[]> {
  return (await lab.api.listMigrations()).filter((m) => m.origin === `maintenance:${hostId}`);
}

/** The most migrations any host was the source or destination of at one instant, from the records' start and end times. */
function maxConcurrentPerHost(ms: readonly MigrationView[]): number {
  let max = 0;
  for (const m of ms) {
    const t = Date.parse(m.startedAt);
    for (const host of [m.source, m.destination]) {
      const at = ms.filter((o) => (o.source === host || o.destination === host) && Date.parse(o.startedAt) <= t && (o.finishedAt === null || Date.parse(o.finishedAt) > t));
      max = Math.max(max, at.length);
    }
  }
  return max;
}

async function waitMaintenance(hostId: string, states: readonly HostMaintenanceView['state'][], seen?: Set<string>): Promise<HostMaintenanceView> {
  return pollUntil(`host maintenance ${states.join('|')}`, async () => {
    const m = await lab.api.getHostMaintenance(hostId);
    for (const v of m.vms) seen?.add(`${v.name}:${v.status}`);
    return states.includes(m.state) ? m : undefined;
  }, { timeoutMs: LONG, intervalMs: 250 });
}

/** Each ended migration carries the planner's prediction next to the actual figures and the error. */
function assertPredictedVsActual(m: MigrationView): void {
  assert.ok(m.prediction, `${m.vm}: the prediction is on the record`);
  assert.ok(typeof m.actual?.totalMs === 'number' && m.actual.totalMs > 0, `${m.vm} actual total: ${JSON.stringify(m.actual)}`);
  if (m.kind === 'live') {
    assert.ok(Number.isFinite(Number(m.prediction['totalMs'])) && Number(m.prediction['totalMs']) > 0, `${m.vm} predicted total: ${JSON.stringify(m.prediction)}`);
    assert.ok(Number.isFinite(Number(m.prediction['downtimeMs'])), `${m.vm} predicted downtime: ${JSON.stringify(m.prediction)}`);
    assert.ok(typeof m.actual.downtimeMs === 'number', `${m.vm} actual downtime`);
    assert.ok(typeof m.predictionError?.totalMs === 'number', `${m.vm} prediction error`);
    const expected = (Number(m.prediction['totalMs']) - m.actual.totalMs) / m.actual.totalMs;
    assert.ok(Math.abs(m.predictionError.totalMs - expected) <= 0.0005 + 1e-9, `${m.vm}: the error is (predicted − actual) / actual (${m.predictionError.totalMs} vs ${expected})`);
  }
}

test('host maintenance h1: live in planner order within the per-host limit, cold for the powered-off VM, requirements honoured (never to an excluded host; a VM no host qualifies for is reported), a VM with a volume keeps it blocked; new VMs elsewhere; no reboot; enable returns it', async () => {
  const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
  // Four 1-vCPU guests on one 2-core lab host: placed 4 per core, as `nubo up` does. With the default of 1 two of
  // them waited `pending` for room that never came — why this test timed out before (its guests never all ran).
  for (const h of [h1, h2, h3]) await lab.api.updateHost(h.name, { cpuOvercommit: 4 });
  // Deployed on h1 by the admin's `host`, which is no requirement: the evacuation may take them anywhere their requirements allow.
  // mnt-a may never run on h3 (the bug: a migration without a destination ignored that); mnt-pinned may run on h1 only.
  const a = await boot('mnt-a', 1, `hostname != "${h3.name}"`);
  const b = await boot('mnt-b', 1);
  const off = await boot('mnt-off', 1);
  const held = await boot('mnt-held', 1);
  const pinned = await boot('mnt-pinned', 1, lab.on(1));
  await lab.api.createVolume({ name: 'mnt-scratch', sizeMiB: 16 });
  await lab.api.attachVolume(held.id, { volume: 'mnt-scratch' });
  for (const v of [a, b, off, held, pinned]) assert.equal((await lab.api.getVm(v.id)).host, h1.name);
  await lab.api.vmAction(off.id, 'poweroff-hard');
  await lab.api.vmAction(pinned.id, 'poweroff-hard');
  await lab.waitState(off.id, 'poweroff');
  await lab.waitState(pinned.id, 'poweroff');
  // h3 has room and is enabled: as good a destination as h2 for mnt-a but for its requirements.
  const up0 = { a: await uptime(a), b: await uptime(b) };

  const h1Id = (await lab.api.getHost(h1.name)).id;
  const begun = await lab.api.beginHostMaintenance(h1Id, { poweredOff: 'move' });
  assert.ok(['evacuating', 'blocked'].includes(begun.state), begun.state);
  assert.equal((await lab.api.getHost(h1.name)).maintenance, 'evacuating');
  // h1 takes no new VM: one that may only go there waits, with the reason; one that may go anywhere lands elsewhere.
  const refused = await lab.api.createVm({ template: 'tiny-mig', name: 'mnt-new', datastore: 'shared', requirements: lab.on(1) });
  const elsewhere = await lab.api.createVm({ template: 'tiny-mig', name: 'mnt-elsewhere', datastore: 'shared' });
  const placed = await pollUntil('mnt-elsewhere placed', async () => (await lab.api.getVm(elsewhere.id)).host ?? undefined, { timeoutMs: LONG, intervalMs: 250 });
  assert.notEqual(placed, h1.name, 'a new VM is not placed on a host in maintenance');
  // Not needed running: terminated once its boot step is over (terminate is refused mid-prolog/boot).
  await pollUntil('mnt-elsewhere past its boot', async () => (['prolog', 'boot'].includes((await lab.api.getVm(elsewhere.id)).state) ? undefined : true), { timeoutMs: LONG, intervalMs: 250 });
  await lab.api.vmAction(elsewhere.id, 'terminate-hard');
  const seen = new Set<string>();
  const blocked = await waitMaintenance(h1Id, ['blocked', 'maintenance'], seen);
  assert.ok([...seen].some((s) => s.endsWith(':moving')), `progress was readable while it ran: ${[...seen].join(' ')}`);
  const newVm = await lab.api.getVm(refused.id);
  assert.equal(newVm.state, 'pending', 'a VM that needs h1 is not placed on it');
  assert.ok(newVm.host === null || newVm.host === undefined, `placed on ${String(newVm.host)}`);
  await lab.api.vmAction(refused.id, 'terminate-hard');

  // The VM that cannot move is reported by name with the reason, and the host is not `maintenance` with it on board.
  assert.equal(blocked.state, 'blocked', JSON.stringify(blocked.vms));
  const p = blocked.vms.find((v) => v.name === 'mnt-held');
  assert.equal(p?.status, 'blocked');
  assert.match(p?.reason ?? '', /mnt-held has volumes attached/);
  assert.equal((await lab.api.getVm(held.id)).host, h1.name);
  assert.equal((await lab.api.getVm(held.id)).state, 'running');
  assert.equal((await lab.api.getHost(h1.name)).maintenance, 'evacuating');
  // No other host meets mnt-pinned's requirements: reported so, by name, and left where it is.
  const nowhere = blocked.vms.find((v) => v.name === 'mnt-pinned');
  assert.equal(nowhere?.status, 'blocked', JSON.stringify(nowhere));
  assert.match(nowhere?.reason ?? '', new RegExp(`host ${h2.name} does not meet the VM's requirements \\(hostname == "${h1.name}"\\)`));
  assert.match(nowhere?.reason ?? '', new RegExp(`host ${h3.name} does not meet the VM's requirements`));
  assert.equal((await lab.api.getVm(pinned.id)).host, h1.name);
  assert.equal(blocked.vmsOnHost, 2);
  for (const name of ['mnt-a', 'mnt-b', 'mnt-off']) assert.equal(blocked.vms.find((v) => v.name === name)?.status, 'moved', name);
  // mnt-a's requirements exclude h3: it went to h2, never to h3.
  assert.equal((await lab.api.getVm(a.id)).host, h2.name);
  assert.equal(blocked.vms.find((v) => v.name === 'mnt-a')?.to, h2.name);
  assert.equal(blocked.vms.find((v) => v.name === 'mnt-off')?.action, 'cold');

  const ms = await maintenanceMigrations(h1Id);
  assert.equal(ms.length, 3, ms.map((m) => `${m.vm}:${m.state}`).join(' '));
  assert.deepEqual(ms.filter((m) => m.vmId === a.id).map((m) => m.destination), [h2.name], 'mnt-a was never migrated to h3');
  for (const m of ms) assert.equal(m.state, 'succeeded', `${m.vm}: ${m.reason}`);
  assert.ok(maxConcurrentPerHost(ms) <= PER_HOST, `at most ${PER_HOST} at once per host (saw ${maxConcurrentPerHost(ms)})`);
  // Planner order: live ones shortest predicted first, then the cold one; each records predicted vs actual.
  const byQueue = [...ms].sort((x, y) => (x.queuedAt ?? '').localeCompare(y.queuedAt ?? ''));
  assert.deepEqual(byQueue.map((m) => m.kind), ['live', 'live', 'cold']);
  const predicted = byQueue.filter((m) => m.kind === 'live').map((m) => Number(m.prediction?.['totalMs']));
  assert.ok(predicted[0]! <= predicted[1]!, `shortest predicted first: ${predicted.join(', ')}`);
  for (const m of byQueue) {
    assert.equal(m.priority, 50, 'an evacuation is queued ahead of ordinary requests');
    assertPredictedVsActual(m);
  }
  assert.ok((await uptime(a)) > up0.a, 'mnt-a never rebooted');
  assert.ok((await uptime(b)) > up0.b, 'mnt-b never rebooted');
  for (const v of [a, b]) assert.equal((await lab.api.getVm(v.id)).state, 'running');
  assert.notEqual((await lab.api.getVm(off.id)).host, h1.name);
  assert.equal((await lab.api.getVm(off.id)).state, 'poweroff');

  // What held it is gone: the next round finds nothing left, the host is in maintenance with zero VMs.
  await lab.api.vmAction(held.id, 'terminate-hard');
  await lab.api.vmAction(pinned.id, 'terminate-hard');
  const done = await waitMaintenance(h1Id, ['maintenance']);
  assert.equal(done.vmsOnHost, 0);
  assert.deepEqual((await lab.api.listVms()).filter((v) => v.host === h1.name && v.state !== 'terminated').map((v) => v.name), []);
  assert.equal((await lab.api.getHost(h1.name)).maintenance, 'maintenance');
  const back = await lab.api.enableHost(h1.name);
  assert.equal(back.state, 'enabled');
  assert.equal(back.maintenance, null);
});

/**
 * The controller is armed with `failpoint=exit` and asked to evacuate the host
 * holding the most VMs: it SIGKILLs itself at that point. Restarted without
 * it, the evacuation must finish exactly once: the host in maintenance with
 * zero VMs, each VM moved by one succeeded migration (at most the one in
 * flight at the kill ended otherwise, rolled back by the restart), no queue
 * entry left waiting, no migration left running, the journal agreeing with
 * where the VMs are, the guests never rebooted.
 */
async function crashDuringEvacuation(failpoint: string): Promise<void> {
  // A host an earlier case left in maintenance would make the armed controller die at its start-up round instead.
  for (const h of await lab.api.listHosts()) if (h.maintenance !== null) await lab.api.enableHost(h.name);
  const hosts = await lab.api.listHosts();
  const vms = (await lab.api.listVms()).filter((v) => v.state !== 'terminated');
  const busiest = hosts.map((h) => ({ h, vms: vms.filter((v) => v.host === h.name) })).sort((x, y) => y.vms.length - x.vms.length)[0]!;
  assert.ok(busiest.vms.length >= 1, `${busiest.h.name} holds ${busiest.vms.length} VMs`);
  const running: Guest[] = [];
  const up0 = new Map<string, number>();
  for (const v of busiest.vms.filter((x) => x.state === 'running')) {
    const g = { id: v.id, name: v.name, ip: (await lab.api.getVm(v.id)).nics[0]?.address?.split('/')[0] ?? '' };
    running.push(g);
    up0.set(v.id, await uptime(g));
  }
  assert.ok(running.length >= 1, 'a running VM to move live');
  const before = new Set((await maintenanceMigrations(busiest.h.id)).map((m) => m.id));
  await lab.restartController(`${failpoint}=exit`);
  const { pid } = await lab.controllerProcess();
  // The controller dies inside this request (maintenance.begun: the journal is written first).
  await lab.api.beginHostMaintenance(busiest.h.id, { poweredOff: 'move' }).catch(() => undefined);
  await pollUntil(`the controller to die at ${failpoint}`, async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 200 });
  await lab.restartController();
  assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
  const done = await waitMaintenance(busiest.h.id, ['maintenance', 'blocked']);
  assert.equal(done.state, 'maintenance', JSON.stringify(done.vms));
  assert.equal(done.vmsOnHost, 0);
  const ms = (await maintenanceMigrations(busiest.h.id)).filter((m) => !before.has(m.id));
  // The migration the kill cut (if one had started) is rolled back by the restarted controller (the VM runs on at the source) and tried once more.
  const cut = ms.filter((m) => m.state !== 'succeeded');
  assert.ok(cut.length <= 1, `only the migration in flight at the kill may have ended otherwise: ${cut.map((m) => `${m.vm}:${m.state}:${m.reason}`).join(' ')}`);
  for (const m of cut) assert.match(m.reason ?? '', /controller restarted/, `${m.vm}: ${m.state} ${m.reason}`);
  for (const v of busiest.vms) {
    const moved = ms.filter((m) => m.vmId === v.id && m.state === 'succeeded');
    assert.equal(moved.length, 1, `${v.name} moved exactly once: ${ms.filter((m) => m.vmId === v.id).map((m) => `${m.id}:${m.state}`).join(' ')}`);
    assertPredictedVsActual(moved[0]!);
    const now = await lab.api.getVm(v.id);
    assert.equal(now.host, moved[0]!.destination, `${v.name} is where its one migration took it`);
    assert.equal(now.state, v.state, `${v.name} is ${v.state} as before`);
    // The journal agrees: moved, to that host.
    const entry = done.vms.find((e) => e.name === v.name);
    assert.equal(entry?.status, 'moved', JSON.stringify(entry));
    assert.equal(entry?.to, moved[0]!.destination);
  }
  // Nothing left undecided or waiting: no migration running, no queue entry still queued.
  const all = await lab.api.listMigrations();
  assert.deepEqual(all.filter((m) => m.state === 'running' || m.state === 'queued').map((m) => `${m.vm}:${m.state}`), []);
  for (const g of running) {
    assert.equal((await lab.api.getVm(g.id)).state, 'running');
    assert.ok((await uptime(g)) > up0.get(g.id)!, `${g.name} never rebooted`);
  }
  assert.ok(maxConcurrentPerHost(ms) <= PER_HOST);
  await lab.api.enableHost(busiest.h.name);
}

test('controller SIGKILLed right after it journaled the maintenance (maintenance.begun), before queueing anything → the restarted one evacuates the host; every VM moved exactly once', async () => {
  await crashDuringEvacuation('maintenance.begun');
});

test('controller SIGKILLed right after it queued an evacuation\'s first migration (maintenance.queued) → the restarted one finishes it; every VM moved exactly once', async () => {
  await crashDuringEvacuation('maintenance.queued');
});

test('controller SIGKILLed as the queue was about to start the first migration (migration-queue.before-start) → the entry starts after the restart; every VM moved exactly once', async () => {
  await crashDuringEvacuation('migration-queue.before-start');
});

test('controller SIGKILLed right after the queue started the first migration, before marking its entry (migration-queue.started) → the cut migration is decided, the VM moved exactly once', async () => {
  await crashDuringEvacuation('migration-queue.started');
});
