import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { NuboClient } from '../src/client/nubo-client.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { vmPaths } from '../src/hypervisor/qemu/vm-paths.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { pollUntil } from '../src/util/deadline.js';
import { remoteRejects } from './support/remote-rejects.js';
import { consoleProbes, freshConsoleProbe, startProbingVm } from './support/console-probes.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';

// Life-cycle guards and recover, on one host with real QEMU (issue 11, item 6):
// refusals that used to be accepted and then fail halfway — stop of a VM with
// a volume, a NIC on a network whose bridge the host lacks, deleting an image
// a VM still needs — are 409s that change nothing; and a failed VM can be
// recovered: booted again from its disk after a crash (its data intact), or
// given its disks again when it failed before they were complete.

let cloud: InProcessCloud;
let api: NuboClient;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

const USER_DATA = `#!/bin/sh
[ -f /data/blob ] || { dd if=/dev/urandom of=/data/blob bs=1M count=2 2>/dev/null; sync; }
while :; do
  echo "PROBE $(md5sum /data/blob | cut -c1-32) $(cut -d' ' -f1 /proc/uptime)"
  sleep 1
done
`;

async function waitState(id: string, state: string, timeoutMs = 180_000): Promise<VmDetailView> {
  return pollUntil(`VM ${id} ${state}`, async () => {
    const v = await api.getVm(id);
    if (v.state === 'failed' && state !== 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return v.state === state ? v : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

const cli = (...args: string[]) => runCli([...args, '--url', api.baseUrl, '--token', api.token]);

let keeper: string;
let blob: string;

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-guards-', logger });
  api = cloud.api;
  keeper = await startProbingVm(api, { template: 'tiny', name: 'keeper', userData: USER_DATA });
  blob = (await consoleProbes(api, keeper))[0]![0]!;
});

after(async () => {
  await cloud.stop();
});

test('stop of a VM with a volume is refused up front, naming the volume; nothing changes', async () => {
  await api.createVolume({ name: 'scratch', sizeMiB: 16 });
  await api.attachVolume(keeper, { volume: 'scratch' });
  const before = await api.getVm(keeper);
  await remoteRejects(api.vmAction(keeper, 'stop'), 409, 'CONFLICT', undefined, /volume.*scratch.*detach scratch first/);
  const after = await api.getVm(keeper);
  assert.equal(after.state, 'running');
  assert.deepEqual(after.history, before.history, 'no transition was written');
  assert.equal((await api.getVolume('scratch')).state, 'attached');
  await api.detachVolume(keeper, 'scratch');
});

test('a NIC on a network whose bridge the VM\'s host does not have is refused up front, naming network, bridge and host; no lease is taken', async () => {
  // This host is the controller's machine without the lab: it reports no br0.
  await api.createNetwork({ name: 'blue', cidr: '198.18.64.0/24', gateway: '198.18.64.1' });
  const net = await api.getNetwork('blue');
  const before = await api.getVm(keeper);
  await remoteRejects(api.attachNic(keeper, { network: 'blue' }), 409, 'CONFLICT', undefined, /network .*"blue".* needs bridge br0 on the VM's host h1, which it does not report/);
  assert.deepEqual((await api.getVm(keeper)).nics, before.nics);
  assert.deepEqual(await api.getNetwork('blue'), net, 'no address was leased');
});

test('deleting an image that a pending VM needs is refused, naming the VM; once it is terminated the image goes', async () => {
  await api.disableHost('h1');
  // A clone has an image of its own and no template: only the VM holds on to it.
  const twin = await api.cloneVm(keeper, { name: 'twin' });
  assert.equal((await api.getVm(twin.id)).state, 'pending');
  const image = (await api.listImages()).find((i) => i.name === 'twin-disk');
  assert.ok(image);
  await remoteRejects(api.deleteImage(image.id), 409, 'CONFLICT', undefined, /image .* is used by VM twin \(pending\)/);
  assert.ok((await api.listImages()).some((i) => i.name === 'twin-disk'), 'the image is still there');
  await api.vmAction(twin.id, 'terminate');
  await waitState(twin.id, 'terminated');
  await api.enableHost('h1');
  await api.deleteImage(image.id);
  assert.ok(!(await api.listImages()).some((i) => i.name === 'twin-disk'));
});

test('recover of a VM whose QEMU crashed boots it again from its disk, its data intact; a running VM is refused', async () => {
  await remoteRejects(api.vmAction(keeper, 'recover'), 409, 'INVALID_STATE', undefined, /cannot recover VM in state running \(allowed from: failed\)/);
  const pid = Number((await readFile(vmPaths(join(cloud.root, 'run-h1'), agentVmId(keeper)).pidFile, 'utf8')).trim());
  assert.ok(pid > 0);
  process.kill(pid, 'SIGKILL');
  const failed = await waitState(keeper, 'failed', 60_000);
  assert.match(failed.stateReason ?? '', /^run: /);
  assert.ok(failed.allowedActions.includes('recover'));
  const r = await cli('vm', 'recover', keeper, '--wait', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as VmDetailView).state, 'running');
  const probe = await freshConsoleProbe(api, keeper, 120_000);
  assert.equal(probe[0], blob, 'the file on its disk is the one it wrote before the crash');
  const rec = (await api.getVm(keeper)).history.filter((h) => h.action === 'recover');
  assert.deepEqual(rec.map((h) => [h.from, h.to]), [['failed', 'boot'], ['boot', 'running']]);
  assert.match(rec[0]?.reason ?? '', /failed in run, on host h1 \(shutoff\): start it from its disk/);
});

test('recover of a VM that failed in prolog builds its disks again: failing again leaves it failed, then it comes up', async () => {
  await api.uploadImage({ name: 'flaky-disk', file: cloud.image.dataDisk });
  await api.createTemplate({ name: 'flaky', vcpus: 1, memoryMiB: 128, image: 'flaky-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: cloud.image.cmdline });
  const img = (await api.listImages()).find((i) => i.name === 'flaky-disk')!;
  const file = (await cloud.controller.store.images.get(img.id)).path;
  // The image store serves other bytes of the same size: the prolog's download fails its sha256 check.
  await rename(file, `${file}.away`);
  await writeFile(file, Buffer.alloc(img.sizeBytes));
  const { id } = await api.createVm({ template: 'flaky', name: 'phoenix' });
  assert.match((await waitState(id, 'failed')).stateReason ?? '', /^prolog: /);
  await api.vmAction(id, 'recover');
  assert.match((await waitState(id, 'failed')).stateReason ?? '', /^prolog: /, 'still no image: failed in prolog again');
  await rename(`${file}.away`, file);
  const asked = await api.vmAction(id, 'recover');
  assert.equal(asked.state, 'prolog');
  await waitState(id, 'running');
  const rec = (await api.getVm(id)).history.filter((h) => h.action === 'recover').at(-3);
  assert.match(rec?.reason ?? '', /failed in prolog, on host h1 \(missing\): build its disks again/);
});
