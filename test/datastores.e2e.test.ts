import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { NuboClient } from '../src/client/nubo-client.js';
import { Failpoints } from '../src/util/failpoints.js';
import { FailpointError } from '../src/util/failpoint-error.js';
import { pollUntil } from '../src/util/deadline.js';
import { remoteRejects } from './support/remote-rejects.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';

/**
 * Datastores as a resource (issue 18) through the native API on a one-host
 * in-process cloud with a shared datastore and a real QEMU guest: admins make
 * them (every bad input a 400 naming the field, nothing written), every user
 * lists them without paths or users, the hosts of a cluster see its shared
 * datastore, a VM on `shared` in that cluster uses it (its deletion refused
 * naming the VM, nothing changed) and a local datastore reports its host's
 * disk; a failure before or after each write leaves it wholly done or not.
 */

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const failpoints = new Failpoints();
let cloud: InProcessCloud;
let api: NuboClient;
let alice: NuboClient;

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-ds-', logger, shared: true, failpoints });
  api = cloud.api;
  const { token } = await cloud.controller.store.users.create({ name: 'alice' });
  alice = new NuboClient(cloud.controller.url, token);
});
after(() => cloud.stop());

const everything = async (): Promise<string> => JSON.stringify(await api.listDatastores());

test('create: bad input is a 400 naming the field, a taken name 409, a user 403 — nothing written', async () => {
  const host = (await api.listHosts())[0]!.name;
  const before = await everything();
  await remoteRejects(api.createDatastore({ name: 'loc', kind: 'local', path: '/var/lib/x' }), 400, 'VALIDATION_FAILED', 'host');
  await remoteRejects(api.createDatastore({ name: 'loc', kind: 'local', host: 'no-such-host', path: '/var/lib/x' }), 400, 'VALIDATION_FAILED', 'host', /no host no-such-host/);
  await remoteRejects(api.createDatastore({ name: 'loc', kind: 'local', host, path: '/x', cluster: 'default' }), 400, 'VALIDATION_FAILED', 'cluster');
  await remoteRejects(api.createDatastore({ name: 'nfs', kind: 'shared', host, path: '/x' }), 400, 'VALIDATION_FAILED', 'host');
  await remoteRejects(api.createDatastore({ name: 'nfs', kind: 'shared', path: '/x', cluster: 'nowhere' }), 400, 'VALIDATION_FAILED', 'cluster', /no cluster nowhere/);
  await remoteRejects(api.createDatastore({ name: 'nfs', kind: 'shared', path: 'relative/dir' }), 400, 'VALIDATION_FAILED', 'path');
  await remoteRejects(api.createDatastore({ name: 'nfs', kind: 'shared', path: '/x', capacityMiB: 0 }), 400, 'VALIDATION_FAILED', 'capacityMiB');
  await remoteRejects(api.createDatastore({ name: 'bad name', kind: 'shared', path: '/x' }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(api.createDatastore({ name: 'nfs', kind: 'nfs' as 'shared', path: '/x' }), 400, 'VALIDATION_FAILED', 'kind');
  await remoteRejects(alice.createDatastore({ name: 'nfs', kind: 'shared', path: '/x' }), 403, 'FORBIDDEN');
  await remoteRejects(api.getDatastore('nowhere'), 404, 'NOT_FOUND');
  assert.equal(await everything(), before);
  await api.createDatastore({ name: 'dup', kind: 'shared', path: '/srv/dup' });
  const withDup = await everything();
  await remoteRejects(api.createDatastore({ name: 'dup', kind: 'shared', path: '/srv/other' }), 409, 'CONFLICT', undefined, /already exists/);
  await remoteRejects(alice.deleteDatastore('dup'), 403, 'FORBIDDEN');
  assert.equal(await everything(), withDup);
  await api.deleteDatastore('dup');
});

test('the cluster\'s hosts see its shared datastore; a VM on `shared` uses it and its deletion is refused naming the VM; users see no paths', async () => {
  const host = (await api.listHosts())[0]!;
  const nfs = await api.createDatastore({ name: 'nfs', kind: 'shared', path: cloud.sharedDir!, cluster: 'default', capacityMiB: 4096 });
  assert.deepEqual([nfs.kind, nfs.cluster, nfs.capacityMiB, nfs.usedMiB, nfs.hosts, nfs.usedBy], ['shared', 'default', 4096, 0, [host.name], { vms: [], volumes: [], templates: [] }]);
  const local = await api.createDatastore({ name: 'h1-local', kind: 'local', host: host.name, path: '/var/lib/nubo' });
  assert.deepEqual([local.cluster, local.host, local.hosts, local.capacityMiB], ['default', host.name, [host.name], host.total.diskMiB]);
  assert.equal(typeof local.usedMiB, 'number', 'a local datastore\'s use is its host\'s, from the heartbeat');
  // An empty cluster's shared datastore is seen by no host.
  await api.createCluster({ name: 'east' });
  const east = await api.createDatastore({ name: 'east-nfs', kind: 'shared', path: '/srv/east', cluster: 'east' });
  assert.deepEqual(east.hosts, []);
  assert.deepEqual((await api.getCluster('east')).datastores, ['east-nfs']);

  const vm = await api.createVm({ template: 'tiny', name: 'on-nfs', datastore: 'shared' });
  await pollUntil('VM on-nfs running', async () => {
    const v = await api.getVm(vm.id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason}`);
    return v.state === 'running' ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 250 });
  const used = await api.getDatastore('nfs');
  assert.deepEqual(used.usedBy, { vms: ['on-nfs'], volumes: [], templates: [] });
  assert.ok((used.usedMiB ?? 0) > 0, 'the VM\'s disk is counted at its full size');
  assert.deepEqual((await api.getDatastore('h1-local')).usedBy?.vms, [], 'the VM\'s disk is not on the local datastore');
  const before = await everything();
  await remoteRejects(api.deleteDatastore('nfs'), 409, 'CONFLICT', undefined, /datastore with name "nfs" is in use: VM on-nfs$/);
  assert.equal(await everything(), before, 'refused: nothing changed');

  // What a user sees: enough to pick one, nothing of paths, hosts or other users' VMs.
  const seen = await alice.listDatastores();
  assert.deepEqual(seen.map((d) => d.name), ['east-nfs', 'h1-local', 'nfs']);
  for (const d of seen) assert.deepEqual([d.path, d.host, d.hosts, d.usedBy], [undefined, undefined, undefined, undefined]);
  assert.equal((await alice.getDatastore('nfs')).capacityMiB, 4096);

  await api.vmAction(vm.id, 'terminate-hard');
  await pollUntil('VM terminated', async () => ((await api.getVm(vm.id)).state === 'terminated' ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
  assert.equal((await api.deleteDatastore('nfs')).name, 'nfs', 'unused now: deleted, the answer is the datastore as it was');
  await api.deleteDatastore(east.id);
  await api.deleteDatastore('h1-local');
  await api.deleteCluster('east');
});

test('a failure before or after a datastore write leaves it wholly done or not; the retry is clean', async () => {
  const create = () => api.createDatastore({ name: 'cut', kind: 'shared', path: '/srv/cut' });
  const names = async (): Promise<string[]> => (await api.listDatastores()).map((d) => d.name);
  const fail = (point: string) => failpoints.arm(point, () => { throw new FailpointError(point); });
  const hit = (p: Promise<unknown>) => remoteRejects(p, 500, 'FAILPOINT_HIT');
  fail('datastore-create');
  await hit(create());
  assert.ok(!(await names()).includes('cut'), 'failed before its transaction: nothing');
  fail('datastore-create.done');
  await hit(create());
  assert.equal((await api.getDatastore('cut')).path, '/srv/cut', 'failed after its transaction: all of it');
  await remoteRejects(create(), 409, 'CONFLICT');
  fail('datastore-delete');
  await hit(api.deleteDatastore('cut'));
  assert.ok((await names()).includes('cut'), 'failed before its transaction: still there');
  fail('datastore-delete.done');
  await hit(api.deleteDatastore('cut'));
  assert.ok(!(await names()).includes('cut'), 'failed after its transaction: gone');
  await remoteRejects(api.deleteDatastore('cut'), 404, 'NOT_FOUND');
});
