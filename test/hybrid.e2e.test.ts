/**
 * Hybrid cloud bursting against a second nubo on loopback acting as the
 * public cloud: its EC2 Query API (SigV4, a real access key) over a fake
 * fleet, driven by the local controller through the AWS SDK. Both
 * controllers are processes of their own (so each can be SIGTERMed, SIGKILLed
 * at a failpoint and started again); both run on the fake driver — what is
 * under test is the control plane between the two clouds, not QEMU.
 *
 * Covered: registering a cloud (bad input refused naming the field, nothing
 * written; the secret sealed at rest); a burst when the local pool is full;
 * poweroff/start/terminate through nubo reflected on the remote; `stop`
 * refused for a cloud VM; the remote down → a clear reason, a VM that may
 * go local goes local, the cloud-only one launches once the remote is back;
 * the remote refusing for want of capacity (its quota: InstanceLimitExceeded)
 * → a clear reason, then the launch once it has room; the cloud's own VM
 * limit; the local controller SIGKILLed before RunInstances (failpoint
 * `cloud.launch`) and between RunInstances and recording the instance id
 * (`cloud.launch.done`) → after a restart exactly one remote instance.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import type { VmView } from '../src/contract/vm-schemas.js';
import { pollUntil } from '../src/util/deadline.js';
import type { ControllerProcess } from './support/controller-process.js';
import { HybridClouds } from './support/hybrid-clouds.js';
import { remoteRejects } from './support/remote-rejects.js';

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const WAIT = { timeoutMs: 180_000, intervalMs: 250 };

let root: string;
let h: HybridClouds;
let lApi: NuboClient;

const liveInstancesOf = (vmId: string): Promise<{ id: string; state: string }[]> => h.instancesOf(vmId, { live: true });

async function vmIn(api: NuboClient, id: string, states: readonly string[], what: string): Promise<VmView> {
  return pollUntil(`${what} ${states.join('|')}`, async () => {
    const v = await api.getVm(id).catch(() => undefined);
    if (v?.state === 'failed') throw new Error(`${what} failed: ${v.stateReason ?? ''}`);
    return v !== undefined && states.includes(v.state) ? v : undefined;
  }, WAIT);
}

async function exitedWithin(p: ControllerProcess, ms: number, why: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p.exited, new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(why)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** The VM's one remote instance (terminated ones included) is in `state`. */
async function remoteStateIs(vmId: string, state: string): Promise<void> {
  await pollUntil(`remote instance of ${vmId} ${state}`, async () => {
    const all = await h.instancesOf(vmId);
    return all.length === 1 && all[0]!.state === state ? true : undefined;
  }, WAIT);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-hybrid-'));
  // Polled twice a second and a refusal waited out for 3 s: the test's waits stay short. One local 1-vCPU VM fills the site.
  h = await HybridClouds.start({ root, localCpus: 1, logger, localArgs: ['--cloud-poll-ms', '500', '--cloud-backoff-ms', '3000'] });
  lApi = h.localApi;
});

after(async () => {
  await h?.close();
  await rm(root, { recursive: true, force: true });
});

test('a remote cloud is registered; bad input is refused naming the field, nothing written; the secret is sealed at rest', async () => {
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), endpoint: 'ftp://x' }), 400, 'VALIDATION_FAILED', 'endpoint');
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), capacity: 0 }), 400, 'VALIDATION_FAILED', 'capacity');
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), instanceTypes: { small: 'nubo.tiny' } }), 400, 'VALIDATION_FAILED', 'instanceTypes.small');
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), images: { disk: 'img-1' } }), 400, 'VALIDATION_FAILED', 'images.disk');
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), images: { nosuch: h.ami } }), 400, 'VALIDATION_FAILED', 'images.nosuch');
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), name: 'bad name' }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(lApi.addCloud({ ...h.cloudBody(), imageBucket: undefined }), 400, 'VALIDATION_FAILED', 'imageBucket');
  assert.deepEqual(await lApi.listClouds(), [], 'nothing was written');

  const c = await lApi.addCloud(h.cloudBody());
  assert.equal(c.name, 'burst-1');
  assert.equal(c.capacity, 4);
  assert.equal(c.burst, 'when-full');
  assert.ok(!JSON.stringify(c).includes(h.key.secret), 'the answer does not carry the secret');
  await remoteRejects(lApi.addCloud(h.cloudBody()), 409, 'CONFLICT');
  // Clouds are the admin's: a user neither sees nor registers them.
  const alice = await new TenancyClient(h.local.url, h.local.adminToken).createUser({ name: 'alice' });
  const asAlice = new NuboClient(h.local.url, alice.token);
  await remoteRejects(asAlice.listClouds(), 403, 'FORBIDDEN');
  await remoteRejects(asAlice.addCloud(h.cloudBody({ name: 'mine' })), 403, 'FORBIDDEN');
  await remoteRejects(asAlice.getCloud('burst-1'), 403, 'FORBIDDEN');
  // The poller reaches it.
  await pollUntil('burst-1 checked', async () => ((await lApi.getCloud('burst-1')).reachable === true ? true : undefined), WAIT);

  const db = new BetterSqlite3(h.localDbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('select secret_sealed from clouds where name = ?').get('burst-1') as { secret_sealed: string };
    assert.match(row.secret_sealed, /^v1:/);
    assert.ok(!row.secret_sealed.includes(h.key.secret));
  } finally {
    db.close();
  }
});

let localVm: VmView;

test('with the local pool full, a VM bursts to the remote cloud and runs there, once', async () => {
  localVm = await lApi.createVm({ template: 'small', name: 'local-1' });
  const l = await vmIn(lApi, localVm.id, ['running'], 'local-1');
  assert.equal(l.host, h.localFleet.hosts[0]!.name);
  const b = await lApi.createVm({ template: 'small', name: 'burst-b' });
  const running = await vmIn(lApi, b.id, ['running'], 'burst-b');
  assert.equal(running.host, null, 'on no local host');
  const detail = await lApi.getVm(b.id);
  assert.ok(detail.history.some((h) => /placed on cloud burst-1/.test(h.reason ?? '')), JSON.stringify(detail.history));
  const live = await liveInstancesOf(b.id);
  assert.equal(live.length, 1, 'exactly one remote instance');
  assert.equal(live[0]!.state, 'running');
  const cloud = await lApi.getCloud('burst-1');
  assert.deepEqual(cloud.instances.map((i) => [i.vmName, i.instanceId, i.instanceType, i.imageId]), [['burst-b', live[0]!.id, 'nubo.tiny', h.ami]]);

  // Its life cycle through nubo, reflected on the remote.
  await remoteRejects(lApi.vmAction(b.id, 'stop'), 409, 'CONFLICT', undefined, /remote cloud/);
  await lApi.vmAction(b.id, 'poweroff');
  await vmIn(lApi, b.id, ['poweroff'], 'burst-b');
  await remoteStateIs(b.id, 'stopped');
  await lApi.vmAction(b.id, 'start');
  await vmIn(lApi, b.id, ['running'], 'burst-b');
  await remoteStateIs(b.id, 'running');
  await lApi.vmAction(b.id, 'terminate');
  await vmIn(lApi, b.id, ['terminated'], 'burst-b');
  await remoteStateIs(b.id, 'terminated');
  assert.equal((await lApi.getCloud('burst-1')).vms, 0, 'its place on the cloud is given back');
});

let cloudOnly: VmView;

test('the remote down: VMs wait with a clear reason, one that may go local goes local, the cloud-only one launches once the remote is back', async () => {
  await h.remote.stop();
  await pollUntil('burst-1 seen unreachable', async () => ((await lApi.getCloud('burst-1')).reachable === false ? true : undefined), WAIT);
  cloudOnly = await lApi.createVm({ template: 'cloudy', name: 'cloud-c' });
  const either = await lApi.createVm({ template: 'small', name: 'either-d' });
  for (const id of [cloudOnly.id, either.id]) {
    const waiting = await pollUntil('a reason naming the cloud', async () => {
      const v = await lApi.getVm(id);
      return v.state === 'pending' && /burst-1: unreachable/.test(v.stateReason ?? '') ? v : undefined;
    }, WAIT);
    assert.match(waiting.stateReason ?? '', /no cloud takes it/);
  }
  // Local room appears: the VM that may run anywhere takes it; the cloud-only one keeps waiting.
  await lApi.vmAction(localVm.id, 'terminate');
  const d = await vmIn(lApi, either.id, ['running'], 'either-d');
  assert.equal(d.host, h.localFleet.hosts[0]!.name);
  assert.equal((await lApi.getVm(cloudOnly.id)).state, 'pending');

  h.remote = await h.startRemote(h.remote.adminToken);
  const c = await vmIn(lApi, cloudOnly.id, ['running'], 'cloud-c');
  assert.equal(c.host, null);
  assert.equal((await liveInstancesOf(cloudOnly.id)).length, 1, 'exactly one remote instance');
  assert.deepEqual(await liveInstancesOf(either.id), [], 'the local one has none');
});

let refused: VmView;

test('the remote refuses for want of capacity (InstanceLimitExceeded): the VM waits with the reason, then launches once there is room', async () => {
  const tenancy = new TenancyClient(h.remote.url, h.remote.adminToken);
  // One remote VM (cloud-c) runs: the remote account may have no more.
  await tenancy.setQuota({ user: h.remoteAdminId }, { vms: 1 });
  refused = await lApi.createVm({ template: 'cloudy', name: 'cloud-e' });
  // Waiting with the refusal as its reason, and its place on the cloud given back (only cloud-c holds one).
  const waiting = await pollUntil('the refusal as the reason', async () => {
    const v = await lApi.getVm(refused.id);
    return v.state === 'pending' && /InstanceLimitExceeded/.test(v.stateReason ?? '') && (await lApi.getCloud('burst-1')).vms === 1 ? v : undefined;
  }, WAIT);
  assert.match(waiting.stateReason ?? '', /burst-1/);
  assert.deepEqual(await liveInstancesOf(refused.id), [], 'nothing was launched');
  await tenancy.setQuota({ user: h.remoteAdminId }, { vms: 20 });
  await vmIn(lApi, refused.id, ['running'], 'cloud-e');
  assert.equal((await liveInstancesOf(refused.id)).length, 1);
});

test('the controller SIGKILLed before RunInstances, and between RunInstances and recording the instance: after a restart, exactly one remote instance', async () => {
  // Before: nothing was sent; the restart launches it.
  await h.local.stop();
  h.local = await h.startLocal({ adminToken: h.local.adminToken, failpoints: 'cloud.launch=exit' });
  const f0 = await lApi.createVm({ template: 'cloudy', name: 'cloud-f0' });
  await exitedWithin(h.local, 120_000, 'the controller did not reach cloud.launch');
  assert.deepEqual(await liveInstancesOf(f0.id), [], 'nothing launched before the crash');
  h.local = await h.startLocal({ adminToken: h.local.adminToken });
  await vmIn(lApi, f0.id, ['running'], 'cloud-f0');
  assert.equal((await liveInstancesOf(f0.id)).length, 1);

  // After RunInstances answered, before its instance id was recorded: the retried launch (same ClientToken) gets the same instance.
  await h.local.stop();
  h.local = await h.startLocal({ adminToken: h.local.adminToken, failpoints: 'cloud.launch.done=exit' });
  const f = await lApi.createVm({ template: 'cloudy', name: 'cloud-f' });
  await exitedWithin(h.local, 120_000, 'the controller did not reach cloud.launch.done');
  const launched = await liveInstancesOf(f.id);
  assert.equal(launched.length, 1, 'the launch happened before the crash');
  h.local = await h.startLocal({ adminToken: h.local.adminToken });
  await vmIn(lApi, f.id, ['running'], 'cloud-f');
  const afterRestart = await liveInstancesOf(f.id);
  assert.deepEqual(afterRestart.map((i) => i.id), launched.map((i) => i.id), 'the retried launch got the same instance back');
  const bound = (await lApi.getCloud('burst-1')).instances.find((i) => i.vm === f.id);
  assert.equal(bound?.instanceId, launched[0]!.id);
});

test('the cloud\'s VM limit: a fifth VM waits until one of the four ends; a cloud with VMs cannot be removed', async () => {
  assert.equal((await lApi.getCloud('burst-1')).vms, 4);
  const g = await lApi.createVm({ template: 'cloudy', name: 'cloud-g' });
  await pollUntil('the limit as the reason', async () => {
    const v = await lApi.getVm(g.id);
    return v.state === 'pending' && /at its limit \(4 of 4 VMs\)/.test(v.stateReason ?? '') ? v : undefined;
  }, WAIT);
  await remoteRejects(lApi.removeCloud('burst-1'), 409, 'CONFLICT');
  await lApi.vmAction(cloudOnly.id, 'terminate-hard');
  await vmIn(lApi, g.id, ['running'], 'cloud-g');
  await remoteStateIs(cloudOnly.id, 'terminated');

  for (const v of await lApi.listVms()) if (v.state !== 'terminated') await lApi.vmAction(v.id, 'terminate-hard');
  await pollUntil('every VM terminated', async () => ((await lApi.listVms()).every((v) => v.state === 'terminated') ? true : undefined), WAIT);
  assert.equal((await lApi.getCloud('burst-1')).vms, 0);
  for (const id of [refused.id, g.id, cloudOnly.id]) assert.deepEqual(await liveInstancesOf(id), []);
  await lApi.removeCloud('burst-1');
  assert.deepEqual(await lApi.listClouds(), []);
});

test('an image the cloud has no AMI for is uploaded (S3 multipart), registered and cached once, verified by digest; SIGKILL after RegisterImage registers nothing twice', async () => {
  await lApi.addCloud(h.cloudBody());
  const disk2 = (await lApi.listImages()).find((i) => i.name === 'disk2')!;
  const amiName = `nubo-${disk2.id}`;
  const amisNamed = async (): Promise<string[]> =>
    ((await h.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: [amiName] }] }))).Images ?? []).map((i) => i.ImageId ?? '');

  // The controller dies after RegisterImage answered and before the AMI was cached: the restart finds it by name.
  await h.local.stop();
  h.local = await h.startLocal({ adminToken: h.local.adminToken, failpoints: 'cloud.image.register.done=exit' });
  const i1 = await lApi.createVm({ template: 'cloudy2', name: 'img-1' });
  await exitedWithin(h.local, 120_000, 'the controller did not reach cloud.image.register.done');
  const registered = await amisNamed();
  assert.equal(registered.length, 1, 'registered before the crash');
  h.local = await h.startLocal({ adminToken: h.local.adminToken });
  await vmIn(lApi, i1.id, ['running'], 'img-1');
  assert.deepEqual(await amisNamed(), registered, 'not registered a second time');
  const cloud = await lApi.getCloud('burst-1');
  assert.equal(cloud.images[disk2.id], registered[0], 'the AMI is cached in the cloud\'s image map');
  assert.equal(cloud.instances.find((i) => i.vm === i1.id)?.imageId, registered[0]);

  // Verified by digest: the remote's image is byte for byte the local one.
  const remoteImage = (await h.remoteApi.listImages()).find((i) => i.name === amiName);
  assert.ok(remoteImage, 'the remote holds the uploaded image');
  assert.equal(remoteImage.sha256, disk2.sha256);
  assert.equal(remoteImage.sizeBytes, disk2.sizeBytes);

  // Cached: the next VM of that image launches from the same AMI, nothing uploaded again.
  const i2 = await lApi.createVm({ template: 'cloudy2', name: 'img-2' });
  await vmIn(lApi, i2.id, ['running'], 'img-2');
  assert.deepEqual(await amisNamed(), registered);
  assert.equal((await lApi.getCloud('burst-1')).instances.find((i) => i.vm === i2.id)?.imageId, registered[0]);

  for (const v of [i1, i2]) await lApi.vmAction(v.id, 'terminate-hard');
  for (const v of [i1, i2]) await vmIn(lApi, v.id, ['terminated'], v.name);
  for (const v of [i1, i2]) assert.deepEqual(await liveInstancesOf(v.id), []);
  await lApi.removeCloud('burst-1');
});
