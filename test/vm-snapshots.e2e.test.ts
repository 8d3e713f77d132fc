import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ControllerDaemon } from '../src/controller/controller-daemon.js';
import type { NuboClient } from '../src/client/nubo-client.js';
import { remoteRejects } from './support/remote-rejects.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { VmApiAction } from '../src/contract/vm-schemas.js';
import type { SnapshotView } from '../src/contract/snapshot-schemas.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { consoleProbes, freshConsoleProbe, startProbingVm } from './support/console-probes.js';

// Disk snapshots on one host with an in-process controller and agent and real
// QEMU (no lab). One VM throughout. Its user data counts its boots in /data
// and writes /data/blob once; in its first boot only, a volume appearing is
// the signal to overwrite the blob while the VM runs. Every second it prints
// the blob's checksum (page cache dropped first, so it is read from the disk)
// and the boot number on its serial console.

let cloud: InProcessCloud;
let root: string;
let controller: ControllerDaemon;
let api: NuboClient;
let vmId: string;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

const USER_DATA = `#!/bin/sh
n=$(cat /data/boots 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > /data/boots
[ -f /data/blob ] || dd if=/dev/urandom of=/data/blob bs=1M count=2 2>/dev/null
sync
disks=$(ls /sys/block | grep -c '^vd')
while :; do
  if [ "$n" = 1 ] && [ ! -f /data/overwritten ] && [ "$(ls /sys/block | grep -c '^vd')" -gt "$disks" ]; then
    dd if=/dev/urandom of=/data/blob bs=1M count=2 conv=notrunc 2>/dev/null
    touch /data/overwritten
  fi
  sync
  echo 3 > /proc/sys/vm/drop_caches
  echo "PROBE $(md5sum /data/blob | cut -c1-32) $n"
  sleep 1
done
`;

interface Probe { sum: string; boot: number }

const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', boot: Number(f[1]) });

async function probes(): Promise<Probe[]> {
  return (await consoleProbes(api, vmId)).map(asProbe);
}

/** A probe the guest printed after this call. */
async function freshProbe(): Promise<Probe> {
  return asProbe(await freshConsoleProbe(api, vmId, 90_000));
}

async function act(action: VmApiAction, state: string): Promise<void> {
  await api.vmAction(vmId, action);
  await pollUntil(`VM ${state}`, async () => {
    const v = await api.getVm(vmId);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason}`);
    return v.state === state ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 250 });
}

const disk = (): string => join(root, 'h1', 'vms', agentVmId(vmId), 'disk.qcow2');
const names = (l: readonly SnapshotView[]): string[] => l.map((s) => s.name);

/** The tags `qemu-img snapshot -l` prints for the VM's disk file (`-U` while QEMU has it open). */
async function fileSnapshots(running: boolean): Promise<string[]> {
  const { stdout } = await runCommand('qemu-img', ['snapshot', ...(running ? ['-U'] : []), '-l', disk()]);
  // "Snapshot list:", the header, then "ID  TAG  VM SIZE  DATE  VM CLOCK  ICOUNT" rows.
  return stdout.split('\n').slice(2).map((l) => l.trim().split(/\s+/)[1] ?? '').filter(Boolean);
}

/** A raw call, for what the typed client would not send as is. */
async function raw(method: string, path: string, body?: unknown): Promise<{ status: number; error: { code: string; message: string; details: { issues?: { field: string; message: string }[] } } }> {
  const res = await fetch(`${controller.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${api.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, ...((await res.json()) as { error: { code: string; message: string; details: { issues?: { field: string; message: string }[] } } }) };
}

let sumA = '';

before(async () => {
  // The shared datastore is reported, so that a disk move gets as far as its snapshot check.
  cloud = await startInProcessCloud({ prefix: 'nubo-snapshots-', logger, shared: true });
  ({ root, controller, api } = cloud);
  vmId = await startProbingVm(api, { template: 'tiny', name: 'snappy', userData: USER_DATA });
});

after(async () => {
  await cloud.stop();
});

test('a snapshot taken while the VM runs brings the data back: write A, snapshot, overwrite B, power off, revert, start → A', async () => {
  const a = await freshProbe();
  assert.equal(a.boot, 1);
  sumA = a.sum;
  assert.deepEqual(await api.listSnapshots(vmId), []);

  const began = Date.now();
  const snap = await api.createSnapshot(vmId, { name: 'before' });
  process.stdout.write(`# snapshot of the running VM: ${Date.now() - began} ms\n`);
  assert.equal(snap.name, 'before');
  assert.ok(Math.abs(Date.parse(snap.createdAt) - Date.now()) < 60_000, snap.createdAt);
  assert.ok((snap.vmClockSec ?? 0) > 0, `taken from the running guest: its clock ${snap.vmClockSec}`);
  assert.deepEqual(await fileSnapshots(true), ['before'], 'the disk file holds it');
  assert.equal((await freshProbe()).sum, sumA, 'the guest ran on, its data unchanged');

  // The signal for the guest to overwrite its blob while it runs.
  await api.createVolume({ name: 'signal', sizeMiB: 16 });
  await api.attachVolume(vmId, { volume: 'signal' });
  const b = await pollUntil('the guest overwrote the blob', async () => {
    const p = await freshProbe();
    return p.sum !== sumA ? p : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  assert.equal(b.boot, 1);
  assert.deepEqual(names(await api.listSnapshots(vmId)), ['before']);

  await act('poweroff', 'poweroff');
  const reverted = await api.revertSnapshot(vmId, 'before');
  assert.deepEqual(reverted, snap);
  assert.deepEqual(names(await api.listSnapshots(vmId)), ['before'], 'the snapshot stays after a revert');
  await act('start', 'running');
  const again = await pollUntil('a probe of the second boot', async () => (await probes()).find((p) => p.boot === 2), { timeoutMs: 90_000, intervalMs: 500 });
  assert.equal(again.sum, sumA, 'the blob is A again');
  assert.equal((await freshProbe()).sum, sumA, 'and stays A (the guest does not overwrite it again)');

  const events = (await api.listEvents(0)).filter((e) => e.kind === 'vm.snapshot' && e.resourceId === vmId).map((e) => e.data);
  assert.deepEqual(events, [{ action: 'created', name: 'before' }, { action: 'reverted', name: 'before' }]);
});

test('bad input is refused naming the problem and changes nothing', async () => {
  assert.equal((await api.getVm(vmId)).state, 'running');
  const listed = await api.listSnapshots(vmId);
  const inFile = await fileSnapshots(true);
  assert.deepEqual(names(listed), ['before']);

  for (const name of ['../x', 'a/b', 'a\\b', '..', '.', '/etc/passwd', '../../h1/vms/disk.qcow2']) {
    await remoteRejects(api.createSnapshot(vmId, { name }), 400, 'VALIDATION_FAILED', 'name', /must be a plain name, not a path/);
  }
  await remoteRejects(api.createSnapshot(vmId, { name: '' }), 400, 'VALIDATION_FAILED', 'name', /must not be empty/);
  await remoteRejects(api.createSnapshot(vmId, { name: 'x'.repeat(65) }), 400, 'VALIDATION_FAILED', 'name', /at most 64/);
  await remoteRejects(api.createSnapshot(vmId, { name: '-rf' }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(api.createSnapshot(vmId, {} as { name: string }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(api.createSnapshot(vmId, { name: 'ok', extra: 1 } as { name: string }), 400, 'VALIDATION_FAILED', 'extra');
  await remoteRejects(api.createSnapshot(vmId, { name: 'before' }), 409, 'SNAPSHOT_EXISTS', undefined, /"before" already exists/);
  // In the path: one segment with the slash encoded in it.
  for (const name of ['../x', 'a/b']) {
    await remoteRejects(api.revertSnapshot(vmId, name), 400, 'VALIDATION_FAILED', 'name', /plain name, not a path/);
    await remoteRejects(api.deleteSnapshot(vmId, name), 400, 'VALIDATION_FAILED', 'name', /plain name, not a path/);
  }
  const r = await raw('DELETE', `/vms/${vmId}/snapshots/..%5Cx`);
  assert.equal(r.status, 400);
  assert.deepEqual(r.error.details.issues, [{ field: 'name', message: 'must be a plain name, not a path' }]);
  // The typed client cannot send `..` as a path segment (URLs resolve it): it refuses it itself.
  await assert.rejects(api.deleteSnapshot(vmId, '..'), /name: must be a plain name, not a path/);

  await remoteRejects(api.revertSnapshot(vmId, 'before'), 409, 'INVALID_STATE', undefined, /state running .*power it off first/);
  await remoteRejects(api.deleteSnapshot(vmId, 'nope'), 404, 'SNAPSHOT_NOT_FOUND', undefined, /no snapshot named "nope"/);
  await remoteRejects(api.listSnapshots('no-such-vm'), 404, 'NOT_FOUND');
  await remoteRejects(api.createSnapshot('no-such-vm', { name: 'x' }), 404, 'NOT_FOUND');
  // A VM with snapshots keeps its disk where it is: a disk move would copy only its current data.
  await remoteRejects(api.moveDisk(vmId, { datastore: 'shared' }), 409, 'CONFLICT', undefined, /has disk snapshots \(before\), which a disk move would lose/);

  assert.deepEqual(await api.listSnapshots(vmId), listed, 'the API lists the same');
  assert.deepEqual(await fileSnapshots(true), inFile, 'the file holds the same');
  assert.equal((await api.getVm(vmId)).state, 'running');
  assert.equal((await freshProbe()).sum, sumA);
});

test('powered off: snapshots are taken and deleted in the file; the API and qemu-img agree; unknown names are 404', async () => {
  await act('poweroff', 'poweroff');
  const cold = await api.createSnapshot(vmId, { name: 'cold-1' });
  assert.equal(cold.vmClockSec, undefined, 'taken at rest: no guest clock');
  await api.createSnapshot(vmId, { name: 'cold-2' });
  assert.deepEqual(names(await api.listSnapshots(vmId)), ['before', 'cold-1', 'cold-2']);
  assert.deepEqual(await fileSnapshots(false), ['before', 'cold-1', 'cold-2']);
  await remoteRejects(api.createSnapshot(vmId, { name: 'cold-1' }), 409, 'SNAPSHOT_EXISTS');
  await remoteRejects(api.revertSnapshot(vmId, 'nope'), 404, 'SNAPSHOT_NOT_FOUND', undefined, /no snapshot named "nope"/);

  await api.deleteSnapshot(vmId, 'cold-1');
  await remoteRejects(api.deleteSnapshot(vmId, 'cold-1'), 404, 'SNAPSHOT_NOT_FOUND');
  assert.deepEqual(names(await api.listSnapshots(vmId)), ['before', 'cold-2']);
  assert.deepEqual(await fileSnapshots(false), ['before', 'cold-2']);
  await api.deleteSnapshot(vmId, 'cold-2');
  assert.deepEqual(await fileSnapshots(false), ['before']);
  await runCommand('qemu-img', ['check', '-q', disk()]);
});

test('suspended: snapshots from the file; a revert is refused (the saved memory would not match); resume carries on', async () => {
  await act('start', 'running');
  const up = await pollUntil('a probe of the third boot', async () => (await probes()).find((p) => p.boot === 3), { timeoutMs: 90_000, intervalMs: 500 });
  assert.equal(up.sum, sumA);
  await act('suspend', 'suspended');
  await api.createSnapshot(vmId, { name: 'asleep' });
  assert.deepEqual(names(await api.listSnapshots(vmId)), ['before', 'asleep']);
  assert.deepEqual(await fileSnapshots(false), ['before', 'asleep']);
  await remoteRejects(api.revertSnapshot(vmId, 'before'), 409, 'INVALID_STATE', undefined, /state suspended .*saved memory would not match the reverted disk/);
  await api.deleteSnapshot(vmId, 'asleep');
  assert.deepEqual(await fileSnapshots(false), ['before']);

  await act('resume', 'running');
  const after = await freshProbe();
  assert.deepEqual(after, { sum: sumA, boot: 3 }, 'the same boot goes on, with the same data');
  await api.deleteSnapshot(vmId, 'before');
  assert.deepEqual(await api.listSnapshots(vmId), []);
  assert.deepEqual(await fileSnapshots(true), []);
});
