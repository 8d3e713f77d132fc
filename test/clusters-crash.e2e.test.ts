import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import { MigrationLab } from './support/migration-lab.js';

/**
 * `cluster add-host` of a host with a running VM is one transaction: the
 * controller process SIGKILLed (failpoint `exit`, armed through
 * NUBO_FAILPOINTS) just before it and just after it leaves the host wholly in
 * its old cluster or wholly in the new one once a controller runs again —
 * and the VM running on, one copy, never rebooted. A 2-host lab in two
 * clusters (h1 in c1, h2 in c2) with the lab's own controller process.
 */

const lab = new MigrationLab();
lab.clusters = 2;

before(() => lab.start(2, 'process'));
after(() => lab.stop());

test('controller killed before and after add-host\'s transaction: the host is in one cluster or the other, its VM untouched', async () => {
  const h1 = lab.host(1).name;
  assert.equal((await lab.api.getHost(h1)).cluster, 'c1');
  const { vm, ip } = await lab.bootVm('resident', 1, 'local');
  const first = await lab.facts(ip);
  for (const [point, expected] of [['cluster-add-host', 'c1'], ['cluster-add-host.done', 'c2']] as const) {
    await lab.restartController(`${point}=exit`);
    const { pid } = await lab.controllerProcess();
    // The answer never comes: the process dies at the failpoint.
    await lab.api.addClusterHost('c2', h1, { timeoutMs: 10_000 }).then(() => assert.fail(`add-host answered past ${point}`), () => undefined);
    await pollUntil(`the controller to die at ${point}`, async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 200 });
    await lab.restartController();
    assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
    assert.equal((await lab.api.getHost(h1)).cluster, expected, `killed at ${point}`);
    const clusters = await lab.api.listClusters();
    assert.deepEqual(clusters.filter((c) => c.hosts.includes(h1)).map((c) => c.name), [expected], 'in exactly one cluster');
    const now = await lab.waitState(vm.id, 'running');
    assert.deepEqual([now.host, now.cluster], [h1, expected]);
    await lab.assertOneCopy(vm.id, 1);
    const facts = await lab.facts(ip);
    assert.ok(facts.uptime > first.uptime, 'no reboot');
    assert.equal(facts.sum, first.sum);
  }
  // The operator's retry after either outcome is harmless.
  assert.equal((await lab.api.addClusterHost('c2', h1)).host.cluster, 'c2');
  await lab.api.vmAction(vm.id, 'terminate-hard');
  await lab.waitState(vm.id, 'terminated');
});

test('controller killed before and after a datastore create\'s and delete\'s transaction: the datastore is wholly there or not; the retry is clean', async () => {
  const names = async (): Promise<string[]> => (await lab.api.listDatastores()).map((d) => d.name);
  const cut = async (point: string, act: () => Promise<unknown>): Promise<void> => {
    await lab.restartController(`${point}=exit`);
    const { pid } = await lab.controllerProcess();
    await act().then(() => assert.fail(`answered past ${point}`), () => undefined);
    await pollUntil(`the controller to die at ${point}`, async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 200 });
    await lab.restartController();
    assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
  };
  const create = () => lab.api.createDatastore({ name: 'c2-nfs', kind: 'shared', path: '/srv/nfs/c2', cluster: 'c2', capacityMiB: 1024 }, { timeoutMs: 10_000 });
  await cut('datastore-create', create);
  assert.ok(!(await names()).includes('c2-nfs'), 'killed before the transaction: no datastore');
  await cut('datastore-create.done', create);
  const made = await lab.api.getDatastore('c2-nfs');
  assert.deepEqual([made.kind, made.cluster, made.capacityMiB], ['shared', 'c2', 1024], 'killed after the transaction: the whole datastore');
  await assert.rejects(create(), (err: unknown) => (err as { code?: string }).code === 'CONFLICT', 'the retry is refused by name, nothing doubled');
  assert.equal((await names()).filter((n) => n === 'c2-nfs').length, 1);
  await cut('datastore-delete', () => lab.api.deleteDatastore('c2-nfs', { timeoutMs: 10_000 }));
  assert.equal((await lab.api.getDatastore('c2-nfs')).id, made.id, 'killed before the transaction: still there');
  await cut('datastore-delete.done', () => lab.api.deleteDatastore('c2-nfs', { timeoutMs: 10_000 }));
  assert.ok(!(await names()).includes('c2-nfs'), 'killed after the transaction: gone');
  await assert.rejects(lab.api.deleteDatastore('c2-nfs'), (err: unknown) => (err as { code?: string }).code === 'NOT_FOUND');
});
