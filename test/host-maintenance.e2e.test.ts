import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import type { HostMaintenanceView } from '../src/contract/host-schemas.js';
import { MIGRATION_USER_DATA, MigrationLab } from './support/migration-lab.js';

/**
 * Host maintenance in the namespace lab (3 hosts, tiny 128 MiB guests on the
 * shared datastore, the controller a process of its own so that it can be
 * killed): h1's running VMs leave live through the migration queue in the
 * planner's order and within the per-host limit, a powered-off one cold, a
 * VM pinned to h1 keeps the host `blocked` (named, with the reason) until it
 * is gone, the guests never reboot, and `host enable` returns the host. Then
 * the controller is SIGKILLed right after it queued an evacuation's first
 * migration: the restarted one finishes it, every VM moved exactly once.
 */

const lab = new MigrationLab();
/** The queue's default per-host limit (the lab's controller runs with the defaults). */
const PER_HOST = 2;

before(() => lab.start(3, 'process'));
after(() => lab.stop());

async function boot(name: string, requirements?: string): Promise<{ id: string; ip: string }> {
  const created = await lab.api.createVm({ template: 'tiny-mig', name, datastore: 'shared', userData: MIGRATION_USER_DATA, ...(requirements ? { requirements } : {}) });
  const vm = await lab.waitState(created.id, 'running', 300_000);
  await pollUntil(`${name} user data`, async () => (/USERDATA-DONE/.test(await lab.api.vmConsole(vm.id)) ? true : undefined), { timeoutMs: 180_000, intervalMs: 500 });
  const ip = vm.nics[0]?.address?.split('/')[0];
  assert.ok(ip, `${name} has an address`);
  return { id: vm.id, ip };
}

async function uptime(ip: string): Promise<number> {
  return Number(await lab.guest(ip, '/cgi-bin/uptime'));
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
  }, { timeoutMs: 600_000, intervalMs: 250 });
}

test('host maintenance h1: live in planner order within the per-host limit, cold for the powered-off VM, a pinned VM keeps it blocked; no reboot; enable returns it', async () => {
  const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
  // Four 1-vCPU guests on one 2-core lab host: idle tiny guests, placed 4 per core as `nubo up` does.
  for (const h of [h1, h2, h3]) await lab.api.updateHost(h.name, { cpuOvercommit: 4 });
  // Placed on h1 without requirements (which a migration honours too): the other hosts are out of service while they boot.
  await lab.api.disableHost(h2.name);
  await lab.api.disableHost(h3.name);
  const [a, b, off, pinned] = await Promise.all([boot('mnt-a'), boot('mnt-b'), boot('mnt-off'), boot('mnt-pinned', lab.on(1))]);
  for (const v of [a, b, off, pinned]) assert.equal((await lab.api.getVm(v.id)).host, h1.name);
  await lab.api.vmAction(off.id, 'poweroff-hard');
  await lab.waitState(off.id, 'poweroff');
  await lab.api.enableHost(h2.name);
  await lab.api.enableHost(h3.name);
  const up0 = { a: await uptime(a.ip), b: await uptime(b.ip) };

  const h1Id = (await lab.api.getHost(h1.name)).id;
  const begun = await lab.api.beginHostMaintenance(h1Id, { poweredOff: 'move' });
  assert.ok(['evacuating', 'blocked'].includes(begun.state), begun.state);
  assert.equal((await lab.api.getHost(h1.name)).maintenance, 'evacuating');
  // h1 takes no new VM: one that may only go there waits, with the reason.
  const refused = await lab.api.createVm({ template: 'tiny-mig', name: 'mnt-new', datastore: 'shared', requirements: lab.on(1) });
  const seen = new Set<string>();
  const blocked = await waitMaintenance(h1Id, ['blocked', 'maintenance'], seen);
  assert.ok([...seen].some((s) => s.endsWith(':moving')), `progress was readable while it ran: ${[...seen].join(' ')}`);
  const newVm = await lab.api.getVm(refused.id);
  assert.equal(newVm.state, 'pending', 'a VM that needs h1 is not placed on it');
  assert.ok(newVm.host === null || newVm.host === undefined, `placed on ${String(newVm.host)}`);
  await lab.api.vmAction(refused.id, 'terminate-hard');

  // The pinned VM is reported by name with the reason, and the host is not `maintenance` with it on board.
  assert.equal(blocked.state, 'blocked', JSON.stringify(blocked.vms));
  const p = blocked.vms.find((v) => v.name === 'mnt-pinned');
  assert.equal(p?.status, 'blocked');
  assert.match(p?.reason ?? '', /no host can take the VM/);
  assert.equal((await lab.api.getHost(h1.name)).maintenance, 'evacuating');
  assert.equal(blocked.vmsOnHost, 1);
  for (const name of ['mnt-a', 'mnt-b', 'mnt-off']) assert.equal(blocked.vms.find((v) => v.name === name)?.status, 'moved', name);
  assert.equal(blocked.vms.find((v) => v.name === 'mnt-off')?.action, 'cold');

  const ms = await maintenanceMigrations(h1Id);
  assert.equal(ms.length, 3, ms.map((m) => `${m.vm}:${m.state}`).join(' '));
  for (const m of ms) assert.equal(m.state, 'succeeded', `${m.vm}: ${m.reason}`);
  assert.ok(maxConcurrentPerHost(ms) <= PER_HOST, `at most ${PER_HOST} at once per host (saw ${maxConcurrentPerHost(ms)})`);
  // Planner order: live ones shortest predicted first, then the cold one; each live one records predicted vs actual.
  const byQueue = [...ms].sort((x, y) => (x.queuedAt ?? '').localeCompare(y.queuedAt ?? ''));
  assert.deepEqual(byQueue.map((m) => m.kind), ['live', 'live', 'cold']);
  const live = byQueue.filter((m) => m.kind === 'live');
  const predicted = live.map((m) => Number(m.prediction?.['totalMs']));
  assert.ok(predicted.every(Number.isFinite) && predicted[0]! <= predicted[1]!, `shortest predicted first: ${predicted.join(', ')}`);
  for (const m of live) {
    assert.ok(m.priority !== undefined && m.priority > 0, 'an evacuation is queued ahead of ordinary requests');
    assert.ok(typeof m.actual?.totalMs === 'number' && m.actual.totalMs > 0, `${m.vm} actual total`);
    assert.ok(typeof m.actual?.downtimeMs === 'number', `${m.vm} actual downtime`);
    assert.ok(typeof m.predictionError?.totalMs === 'number', `${m.vm} prediction error`);
  }
  assert.ok((await uptime(a.ip)) > up0.a, 'mnt-a never rebooted');
  assert.ok((await uptime(b.ip)) > up0.b, 'mnt-b never rebooted');
  assert.notEqual((await lab.api.getVm(off.id)).host, h1.name);
  assert.equal((await lab.api.getVm(off.id)).state, 'poweroff');

  // What pinned it is gone: the next round finds nothing left, the host is in maintenance with zero VMs.
  await lab.api.vmAction(pinned.id, 'terminate-hard');
  const done = await waitMaintenance(h1Id, ['maintenance']);
  assert.equal(done.vmsOnHost, 0);
  assert.equal((await lab.api.getHost(h1.name)).maintenance, 'maintenance');
  const back = await lab.api.enableHost(h1.name);
  assert.equal(back.state, 'enabled');
  assert.equal(back.maintenance, null);
});

test('controller killed right after it queued an evacuation\'s first migration → the restarted one finishes it; every VM moved exactly once', async () => {
  const hosts = await lab.api.listHosts();
  const vms = (await lab.api.listVms()).filter((v) => v.state !== 'terminated');
  const busiest = hosts.map((h) => ({ h, vms: vms.filter((v) => v.host === h.name) })).sort((x, y) => y.vms.length - x.vms.length)[0]!;
  assert.ok(busiest.vms.length >= 2, `${busiest.h.name} holds ${busiest.vms.length} VMs`);
  const ips = new Map<string, string>();
  const up0 = new Map<string, number>();
  for (const v of busiest.vms.filter((x) => x.state === 'running')) {
    const ip = (await lab.api.getVm(v.id)).nics[0]?.address?.split('/')[0] ?? '';
    ips.set(v.id, ip);
    up0.set(v.id, await uptime(ip));
  }
  await lab.restartController('maintenance.queued=exit');
  const { pid } = await lab.controllerProcess();
  // The controller dies inside this request (the failpoint is on its way through `begin`).
  await lab.api.beginHostMaintenance(busiest.h.id, { poweredOff: 'move' }).catch(() => undefined);
  await pollUntil('the controller to die at the failpoint', async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 200 });
  await lab.restartController();
  assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
  const done = await waitMaintenance(busiest.h.id, ['maintenance', 'blocked']);
  assert.equal(done.state, 'maintenance', JSON.stringify(done.vms));
  assert.equal(done.vmsOnHost, 0);
  const ms = await maintenanceMigrations(busiest.h.id);
  for (const v of busiest.vms) {
    const mine = ms.filter((m) => m.vmId === v.id);
    assert.equal(mine.length, 1, `${v.name} moved exactly once: ${mine.map((m) => `${m.id}:${m.state}`).join(' ')}`);
    assert.equal(mine[0]?.state, 'succeeded', `${v.name}: ${mine[0]?.reason}`);
    assert.notEqual((await lab.api.getVm(v.id)).host, busiest.h.name);
    const ip = ips.get(v.id);
    if (ip !== undefined) assert.ok((await uptime(ip)) > up0.get(v.id)!, `${v.name} never rebooted`);
  }
  assert.ok(maxConcurrentPerHost(ms) <= PER_HOST);
  await lab.api.enableHost(busiest.h.name);
});
