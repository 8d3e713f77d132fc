import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ControllerDaemon } from '../src/controller/controller-daemon.js';
import type { NuboClient } from '../src/client/nubo-client.js';
import { remoteRejects } from './support/remote-rejects.js';
import { pollUntil } from '../src/util/deadline.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { ControllerVmSpec } from '../src/controller/controller-vm-spec.js';
import type { DiskMoveView } from '../src/contract/storage-schemas.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { freshConsoleProbe, startProbingVm } from './support/console-probes.js';

// Live storage migration between one host's two datastores, and volumes, on
// one host with an in-process agent and real QEMU (no lab). The guest reports
// what it sees on its serial console every second: the checksum of a file it
// wrote to its data disk (page cache dropped first, so it is read from the
// disk it runs on now), its uptime, and its block devices.

let cloud: InProcessCloud;
let root: string;
let sharedDir: string;
let controller: ControllerDaemon;
let api: NuboClient;
let vmId: string;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

const USER_DATA = `#!/bin/sh
dd if=/dev/urandom of=/data/blob bs=1M count=4 2>/dev/null
sync
while :; do
  sync
  echo 3 > /proc/sys/vm/drop_caches
  echo "PROBE $(md5sum /data/blob | cut -c1-32) $(cut -d' ' -f1 /proc/uptime) $(ls /sys/block | tr '\\n' ,)"
  sleep 1
done
`;

interface Probe { sum: string; uptime: number; blocks: string[] }

const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', uptime: Number(f[1]), blocks: (f[2] ?? '').split(',').filter(Boolean) });

/** A probe the guest printed after this call. */
async function freshProbe(): Promise<Probe> {
  return asProbe(await freshConsoleProbe(api, vmId));
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const storeSpec = async (): Promise<ControllerVmSpec> => (await controller.store.vms.get(vmId)).spec as unknown as ControllerVmSpec;
const localDisk = (): string => join(root, 'h1', 'vms', agentVmId(vmId), 'disk.qcow2');
const sharedDisk = (): string => join(sharedDir, 'vms', agentVmId(vmId), 'disk.qcow2');

async function waitMove(states: Set<string>): Promise<DiskMoveView> {
  return pollUntil('disk move end', async () => {
    const m = await api.getDiskMove(vmId);
    states.add(m.state);
    return m.state === 'copying' || m.state === 'ready' ? undefined : m;
  }, { timeoutMs: 180_000, intervalMs: 100 });
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-storage-', logger, shared: true });
  ({ root, controller, api } = cloud);
  sharedDir = cloud.sharedDir!;
  vmId = await startProbingVm(api, { template: 'tiny', name: 'mover', userData: USER_DATA });
});

after(async () => {
  await cloud.stop();
});

test('a running VM\'s disk moves local → shared → local: same data, old file gone, no reboot, store follows', async () => {
  const first = await freshProbe();
  assert.ok(await exists(localDisk()));
  const eventsBefore = (await api.listEvents(0)).length;

  for (const [from, to, oldFile, newFile] of [['local', 'shared', localDisk(), sharedDisk()], ['shared', 'local', sharedDisk(), localDisk()]] as const) {
    const began = Date.now();
    const started = await api.moveDisk(vmId, { datastore: to });
    assert.deepEqual([started.state, started.from, started.to, started.sync, started.host], ['copying', from, to, 'top', 'h1']);
    const states = new Set<string>();
    const end = await waitMove(states);
    assert.equal(end.state, 'done', JSON.stringify(end));
    assert.ok(end.len > 0 && end.offset === end.len, `progress ${end.offset}/${end.len}`);
    logger.info({ from, to, ms: Date.now() - began, bytes: end.len }, 'disk moved');
    process.stdout.write(`# disk move ${from} → ${to}: ${Date.now() - began} ms, ${end.len} bytes mirrored\n`);

    assert.equal(await exists(oldFile), false, `old disk ${oldFile} deleted`);
    assert.ok(await exists(newFile), `new disk ${newFile} there`);
    if (to === 'local') assert.equal(await exists(join(sharedDir, 'vms', agentVmId(vmId))), false, 'nothing left in the shared datastore');
    const spec = await storeSpec();
    assert.equal(spec.agent.disk.datastore, to);
    assert.equal(spec.demand.datastore, to === 'shared' ? 'shared' : undefined);
    assert.equal(spec.demand.diskMiB === 0, to === 'shared', `demand diskMiB ${spec.demand.diskMiB}`);
    assert.equal((await api.getVm(vmId)).state, 'running');

    const after = await freshProbe();
    assert.equal(after.sum, first.sum, 'the file written before the move reads the same from the new disk');
    assert.ok(after.uptime > first.uptime, `uptime went on (${first.uptime} → ${after.uptime}): no reboot`);
  }
  const log = await api.vmConsole(vmId);
  assert.equal(log.split('NUBO-READY').length - 1, 1, 'the guest booted once');
  const moves = (await api.listEvents(0)).slice(eventsBefore).filter((e) => e.kind === 'vm.disk-move').map((e) => (e.data as { state: string }).state);
  assert.deepEqual(moves, ['started', 'done', 'started', 'done']);
});

test('bad disk moves are refused naming the problem, and change nothing', async () => {
  const before = [await storeSpec(), await exists(localDisk()), await exists(sharedDisk())];
  await remoteRejects(api.moveDisk(vmId, { datastore: 'local' }), 400, 'VALIDATION_FAILED', 'datastore', /already on the local datastore/);
  await remoteRejects(api.moveDisk(vmId, { datastore: 'nfs' as 'local' }), 400, 'VALIDATION_FAILED', 'datastore');
  await remoteRejects(api.moveDisk(vmId, {} as { datastore: 'local' }), 400, 'VALIDATION_FAILED', 'datastore');
  await remoteRejects(api.moveDisk(vmId, { datastore: 'shared', speed: 3 } as { datastore: 'shared' }), 400, 'VALIDATION_FAILED');
  await remoteRejects(api.moveDisk('no-such-vm', { datastore: 'shared' }), 404, 'NOT_FOUND');
  assert.deepEqual([await storeSpec(), await exists(localDisk()), await exists(sharedDisk())], before);
});

test('a cancelled move leaves the VM on its old disk and deletes the new file', async () => {
  const first = await freshProbe();
  const spec = await storeSpec();
  // 1 MiB/s over the guest's ~4 MiB of own blocks: seconds to cancel in.
  await api.moveDisk(vmId, { datastore: 'shared', maxBandwidthMiBps: 1 });
  await remoteRejects(api.moveDisk(vmId, { datastore: 'shared' }), 409, 'CONFLICT', undefined, /disk move under way/);
  await pollUntil('some progress', async () => ((await api.getDiskMove(vmId)).offset > 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  const end = await api.cancelDiskMove(vmId);
  assert.equal(end.state, 'cancelled', JSON.stringify(end));
  assert.ok(await exists(localDisk()), 'the old disk stays');
  assert.equal(await exists(join(sharedDir, 'vms', agentVmId(vmId))), false, 'the new disk is deleted');
  assert.deepEqual(await storeSpec(), spec, 'the store is unchanged');
  const after = await freshProbe();
  assert.equal(after.sum, first.sum);
  assert.ok(after.uptime > first.uptime);
  // Nothing of the cancelled attempt (job, block nodes, files) is in the way of the next move.
  await api.moveDisk(vmId, { datastore: 'shared' });
  assert.equal((await waitMove(new Set())).state, 'done');
  assert.equal((await freshProbe()).sum, first.sum);
  assert.equal(await exists(localDisk()), false);
});

test('volumes: created, hot-plugged into the running guest, refused deletion while attached, detached, deleted', async () => {
  const before = (await freshProbe()).blocks;
  const vol = await api.createVolume({ name: 'scratch', sizeMiB: 16 });
  assert.deepEqual([vol.state, vol.host, vol.vm, vol.slot, vol.sizeMiB], ['available', null, null, null, 16]);

  // Bad input: nothing is written.
  const listed = await api.listVolumes();
  await remoteRejects(api.createVolume({ name: '../etc/passwd', sizeMiB: 16 }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(api.createVolume({ name: '/tmp/x', sizeMiB: 16 }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(api.createVolume({ name: 'zero', sizeMiB: 0 }), 400, 'VALIDATION_FAILED', 'sizeMiB');
  await remoteRejects(api.createVolume({ name: 'scratch', sizeMiB: 16 }), 409, 'CONFLICT');
  await remoteRejects(api.attachVolume(vmId, { volume: 'nope' }), 404, 'NOT_FOUND');
  assert.deepEqual(await api.listVolumes(), listed);

  const attached = await api.attachVolume(vmId, { volume: 'scratch' });
  assert.deepEqual([attached.state, attached.host, attached.vm, attached.slot], ['attached', 'h1', vmId, 0]);
  const file = join(root, 'h1', 'volumes', `${vol.id}.qcow2`);
  assert.ok(await exists(file), 'the file is made on the host at the first attach');
  const seen = await pollUntil('the guest sees the volume', async () => {
    const p = await freshProbe();
    return p.blocks.length === before.length + 1 ? p.blocks : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  const added = seen.filter((b) => !before.includes(b));
  assert.equal(added.length, 1);
  assert.match(added[0]!, /^vd[a-z]$/);
  assert.deepEqual((await storeSpec()).agent.volumes, [{ id: vol.id, slot: 0, sizeMiB: 16 }]);

  await remoteRejects(api.deleteVolume('scratch'), 409, 'CONFLICT', undefined, /attached to VM mover/);
  await remoteRejects(api.attachVolume(vmId, { volume: 'scratch' }), 409, 'CONFLICT', undefined, /already attached/);
  assert.ok(await exists(file));

  const detached = await api.detachVolume(vmId, 'scratch');
  assert.deepEqual([detached.state, detached.vm, detached.slot, detached.host], ['available', null, null, 'h1']);
  await pollUntil('the guest lost the volume', async () => ((await freshProbe()).blocks.includes(added[0]!) ? undefined : true), { timeoutMs: 60_000, intervalMs: 500 });
  assert.equal((await storeSpec()).agent.volumes, undefined);

  await api.deleteVolume('scratch');
  assert.equal(await exists(file), false, 'the file is deleted with the volume');
  assert.deepEqual(await api.listVolumes(), []);
});
