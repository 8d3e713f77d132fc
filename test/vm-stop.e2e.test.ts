import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { NuboClient } from '../src/client/nubo-client.js';
import { remoteRejects } from './support/remote-rejects.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { SystemCopy } from '../src/controller/system-store.js';
import { pollUntil } from '../src/util/deadline.js';
import { Failpoints } from '../src/util/failpoints.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { consoleProbes, freshConsoleProbe } from './support/console-probes.js';

// Stop and resume on two hosts (in-process controller and agents, real QEMU,
// no lab network): a stopped VM's memory and disk leave its host for the
// controller's system store and come back, through the scheduler, on the
// host it picks — here the other one. The guest prints the checksum of a file
// it wrote to its disk and its uptime on the console every second: the same
// checksum and a growing uptime afterwards mean no data lost and no reboot.

let cloud: InProcessCloud;
let root: string;
let failpoints = new Failpoints();
let api: NuboClient;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

const USER_DATA = `#!/bin/sh
dd if=/dev/urandom of=/data/blob bs=1M count=4 2>/dev/null
sync
while :; do
  sync
  echo 3 > /proc/sys/vm/drop_caches
  echo "PROBE $(md5sum /data/blob | cut -c1-32) $(cut -d' ' -f1 /proc/uptime)"
  sleep 1
done
`;

interface Probe { sum: string; uptime: number }

const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', uptime: Number(f[1]) });

async function probes(vmId: string): Promise<Probe[]> {
  return (await consoleProbes(api, vmId)).map(asProbe);
}

/** A probe printed after this call (the console may hold older ones, from before a stop). */
async function freshProbe(vmId: string): Promise<Probe> {
  return asProbe(await freshConsoleProbe(api, vmId));
}

async function waitState(id: string, state: string, timeoutMs = 180_000): Promise<VmDetailView> {
  return pollUntil(`VM ${id} ${state}`, async () => {
    const v = await api.getVm(id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return v.state === state && (v as { operation?: unknown }).operation == null ? v : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const hostDir = (host: string, vmId: string): string => join(root, host, 'vms', agentVmId(vmId));
const systemDir = (vmId: string): string => join(root, 'controller', 'system', vmId);

async function reservedMemory(host: string): Promise<number> {
  return (await api.getHost(host)).reserved.memoryMiB;
}

/** Only `host` takes new placements. */
async function only(host: 'h1' | 'h2'): Promise<void> {
  const other = host === 'h1' ? 'h2' : 'h1';
  await api.enableHost(host);
  await api.disableHost(other);
}

let vmId: string;
let blob: string;

before(async () => {
  // The shared datastore only for the refusal of a stop of a VM whose disk is there.
  cloud = await startInProcessCloud({ prefix: 'nubo-stop-', logger, hosts: 2, shared: true, failpoints });
  ({ root, api } = cloud);
  await only('h1');
  vmId = (await api.createVm({ template: 'tiny', name: 'parked', userData: USER_DATA })).id;
  assert.equal((await waitState(vmId, 'running')).host, 'h1');
  blob = (await pollUntil('first probe', async () => (await probes(vmId))[0], { timeoutMs: 90_000, intervalMs: 500 })).sum;
});

after(async () => {
  await cloud.stop();
});

test('stop moves a running VM off its host into the system store; resume brings it back on another host, same data, no reboot', async () => {
  const before = await freshProbe(vmId);
  assert.equal(before.sum, blob);
  assert.ok(await reservedMemory('h1') >= 128);
  const nics = (await api.getVm(vmId)).nics;

  const asked = await api.vmAction(vmId, 'stop');
  assert.equal(asked.state, 'saving');
  const stopped = await waitState(vmId, 'stopped');
  assert.equal(stopped.host, null, 'a stopped VM is on no host');
  assert.equal(await exists(hostDir('h1', vmId)), false, 'nothing of it is left on h1');
  assert.equal(await reservedMemory('h1'), 0, "h1's capacity is free");
  const copy = JSON.parse(await readFile(join(systemDir(vmId), 'manifest.json'), 'utf8')) as SystemCopy;
  assert.deepEqual(copy.files.map((f) => f.name).sort(), ['cidata.iso', 'disk.qcow2', 'memory.state']);
  for (const f of copy.files) assert.equal((await stat(join(systemDir(vmId), f.name))).size, f.sizeBytes, `${f.name} as the manifest says`);
  assert.deepEqual(stopped.nics, nics, 'a stopped VM keeps its NICs (MAC and addresses)');

  // Only h2 takes placements now: the stopped VM must come back there.
  await only('h2');
  await api.vmAction(vmId, 'resume');
  const back = await waitState(vmId, 'running');
  assert.equal(back.host, 'h2');
  assert.deepEqual(back.nics, nics);
  const after = await freshProbe(vmId);
  assert.equal(after.sum, blob, 'the file written before the stop has the same checksum');
  assert.ok(after.uptime > before.uptime, `no reboot: uptime ${after.uptime} s after ${before.uptime} s`);
  assert.equal(await exists(systemDir(vmId)), false, 'the system store let go of its copy');
  assert.ok(await exists(join(hostDir('h2', vmId), 'disk.qcow2')));
  assert.ok(await reservedMemory('h2') >= 128);
});

test('suspend/resume keeps the data; a suspended VM stops too; a corrupted copy in the system store is caught on resume and the VM stays stopped, whole', async () => {
  const before = await freshProbe(vmId);
  // A plain suspend and resume on the same host first: the memory file stays there.
  await api.vmAction(vmId, 'suspend');
  await waitState(vmId, 'suspended');
  assert.ok(await exists(join(hostDir('h2', vmId), 'memory.state')));
  await api.vmAction(vmId, 'resume');
  assert.equal((await waitState(vmId, 'running')).host, 'h2');
  const resumed = await freshProbe(vmId);
  assert.equal(resumed.sum, blob, 'suspend/resume keeps the data');
  assert.ok(resumed.uptime > before.uptime, 'suspend/resume does not reboot');

  await api.vmAction(vmId, 'suspend');
  await waitState(vmId, 'suspended');
  await api.vmAction(vmId, 'stop');
  assert.equal((await waitState(vmId, 'stopped')).host, null);
  assert.equal(await exists(hostDir('h2', vmId)), false);

  // One byte of the saved memory changes in the store: same size, another sha256 than when it arrived.
  const mem = join(systemDir(vmId), 'memory.state');
  const fh = await open(mem, 'r+');
  const at = 4096;
  const orig = Buffer.alloc(1);
  await fh.read(orig, 0, 1, at);
  await fh.write(Buffer.from([orig[0]! ^ 0xff]), 0, 1, at);
  await fh.close();

  await only('h1');
  await api.vmAction(vmId, 'resume');
  const failed = await waitState(vmId, 'stopped');
  assert.match(failed.stateReason ?? '', /memory\.state.*sha256/, failed.stateReason ?? '');
  assert.equal(failed.host, null, 'the reservation on h1 is let go');
  assert.equal(await reservedMemory('h1'), 0);
  assert.equal(await exists(hostDir('h1', vmId)), false, 'no partial copy on h1');
  assert.ok(await exists(join(systemDir(vmId), 'manifest.json')), 'the system store keeps its copy');

  const fix = await open(mem, 'r+');
  await fix.write(orig, 0, 1, at);
  await fix.close();
  await api.vmAction(vmId, 'resume');
  assert.equal((await waitState(vmId, 'running')).host, 'h1');
  const after = await freshProbe(vmId);
  assert.equal(after.sum, blob);
  assert.ok(after.uptime > before.uptime, 'restored, not rebooted');
});

test('a stop that fails before the host let go leaves the VM suspended there; a controller restarted mid-stop finishes it', async () => {
  const before = await freshProbe(vmId);
  const host = (await api.getVm(vmId)).host!;
  failpoints.arm('stop.saved', () => { throw new Error('injected: after the copy, before the release'); });
  await api.vmAction(vmId, 'stop');
  const kept = await waitState(vmId, 'suspended');
  assert.equal(kept.host, host, 'still on its host');
  assert.match(kept.stateReason ?? '', /injected/);
  assert.ok(await exists(join(hostDir(host, vmId), 'memory.state')), 'the host keeps its files');
  assert.ok(await reservedMemory(host) >= 128, 'and its reservation');

  // The controller goes away while the copy sits in the system store and the host still holds the VM.
  let reached!: () => void;
  const atPoint = new Promise<void>((r) => { reached = r; });
  failpoints.arm('stop.saved', () => { reached(); return new Promise((r) => setTimeout(r, 1_000)); });
  await api.vmAction(vmId, 'stop');
  await atPoint;
  failpoints = new Failpoints();
  await cloud.restartController(failpoints);
  const stopped = await waitState(vmId, 'stopped');
  assert.equal(stopped.host, null);
  assert.equal(await exists(hostDir(host, vmId)), false);
  assert.equal(await reservedMemory(host), 0);

  await api.vmAction(vmId, 'resume');
  await waitState(vmId, 'running');
  const after = await freshProbe(vmId);
  assert.equal(after.sum, blob);
  assert.ok(after.uptime > before.uptime, 'restored, not rebooted');
});

test('stop is refused for a VM that is not running or suspended, and for a VM on the shared datastore; nothing changes', async () => {
  await api.vmAction(vmId, 'poweroff-hard');
  await waitState(vmId, 'poweroff');
  await remoteRejects(api.vmAction(vmId, 'stop'), 409, 'INVALID_STATE', undefined, /poweroff/);
  const v = await api.getVm(vmId);
  assert.deepEqual([v.state, v.host], ['poweroff', 'h1']);
  assert.ok(await exists(join(hostDir('h1', vmId), 'disk.qcow2')));

  const shared = await api.createVm({ template: 'tiny', name: 'on-shared', datastore: 'shared' });
  await remoteRejects(api.vmAction(shared.id, 'stop'), 409, 'CONFLICT', undefined, /shared datastore/);
  await remoteRejects(api.vmAction(vmId, 'bogus' as 'stop'), 400, 'VALIDATION_FAILED');
  await api.vmAction(shared.id, 'terminate-hard').catch(() => {});
});

test('terminating a stopped VM deletes its copy in the system store', async () => {
  await api.vmAction(vmId, 'start');
  await waitState(vmId, 'running');
  await api.vmAction(vmId, 'stop');
  await waitState(vmId, 'stopped');
  assert.ok(await exists(systemDir(vmId)));
  await api.vmAction(vmId, 'terminate');
  await waitState(vmId, 'terminated');
  assert.equal(await exists(systemDir(vmId)), false);
  assert.deepEqual(await readdir(join(root, 'controller', 'system')), []);
});
