/**
 * Cross-cloud cold migration (issue 18) against a second nubo on loopback
 * acting as the public cloud (test/support/hybrid-clouds.ts): a powered-off
 * VM moves from its local host to the remote (disk captured — the overlay
 * flattened —, uploaded to the remote's S3, RegisterImage, RunInstances) and
 * back (CreateImage, ExportImage, GetObject, placed on a local host, then the
 * remote copy ended). Both sites run the fake driver with real disks: each
 * VM's disk is a qcow2 overlay made by qemu-img, and the test writes a
 * pattern into the local one, so the digests compared are of the bytes the
 * guest would see — not of empty files.
 *
 * Covered: out and back with digest equality both ways (the remote's
 * registered image = the exported disk; the downloaded object = the remote's
 * CreateImage; the guest-visible content unchanged end to end) and nothing
 * left behind; ExportImage's refusals by their AWS codes; a running VM
 * refused with nothing changed; the remote refusing the launch (its quota) →
 * rolled back, the VM local and intact; the remote unreachable mid-way → a
 * clear reason, the VM local and intact, finished once the remote is back;
 * the remote refusing CreateImage on the way back → rolled back, the VM on
 * the cloud and intact, back once there is room; the local controller SIGKILLed after RunInstances answered, before the
 * local copy is released, after the download was registered and before the
 * remote copy is terminated → after a restart the migration finishes with
 * one instance, one local image and the same bytes; the CLI's `vm migrate
 * --cloud … --start --wait` both ways, and its flags refused before anything
 * is sent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { DescribeImagesCommand, ExportImageCommand, DescribeExportImageTasksCommand } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import type { CloudMigrationView } from '../src/contract/migration-schemas.js';
import type { VmView } from '../src/contract/vm-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import type { ControllerProcess } from './support/controller-process.js';
import { HybridClouds } from './support/hybrid-clouds.js';
import { awsCode } from './support/aws-code.js';
import { remoteRejects } from './support/remote-rejects.js';

const NUBO_CLI = join(import.meta.dirname, '../src/cli/nubo.js');
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const WAIT = { timeoutMs: 180_000, intervalMs: 250 };

let root: string;
let h: HybridClouds;

/** Read anew each time: the local controller is restarted on the same port with the same token. */
const lApi = (): NuboClient => h.localApi;

async function vmIn(id: string, states: readonly string[], what: string): Promise<VmView> {
  return pollUntil(`${what} ${states.join('|')}`, async () => {
    const v = await lApi().getVm(id).catch(() => undefined);
    return v !== undefined && states.includes(v.state) ? v : undefined;
  }, WAIT);
}

/** The VM's migration between clouds once it ended (`done` or `failed`). */
async function migrationEnded(id: string): Promise<CloudMigrationView> {
  return pollUntil(`the cloud migration of ${id} to end`, async () => {
    const m = await lApi().getCloudMigration(id).catch(() => undefined);
    return m !== undefined && (m.step === 'done' || m.step === 'failed') ? m : undefined;
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

const localDisk = (vmId: string): string => join(root, 'local-fleet', 'hosts', h.localFleet.hosts[0]!.name, 'vms', agentVmId(vmId), 'disk.qcow2');
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** The sha256 of what the guest sees of a qcow2 disk (its virtual bytes, overlay and base together). */
async function guestDigest(disk: string): Promise<string> {
  const raw = join(root, `guest-${Date.now()}-${Math.random().toString(16).slice(2)}.raw`);
  try {
    await runCommand('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', disk, raw], { timeoutMs: 60_000 });
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(raw)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } finally {
    await rm(raw, { force: true });
  }
}

/** A powered-off local VM whose disk holds `pattern` (64 KiB at 0): its guest-visible digest. */
async function poweredOffWithData(name: string, pattern: number): Promise<{ vm: VmView; digest: string }> {
  const made = await lApi().createVm({ template: 'small', name });
  await vmIn(made.id, ['running'], name);
  await lApi().vmAction(made.id, 'poweroff');
  const vm = await vmIn(made.id, ['poweroff'], name);
  // Nothing holds the disk (the fake runs no QEMU): written as a guest would have, into the overlay.
  await runCommand('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} 0 64k`, localDisk(made.id)], { timeoutMs: 30_000 });
  return { vm, digest: await guestDigest(localDisk(made.id)) };
}

const liveInstancesOf = (vmId: string): Promise<{ id: string; state: string }[]> => h.instancesOf(vmId, { live: true });
const amisNamed = async (name: string): Promise<string[]> =>
  ((await h.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: [name] }] }))).Images ?? []).map((i) => i.ImageId ?? '');

async function bucketKeys(prefix: string): Promise<string[]> {
  const s3 = new S3Client({ endpoint: h.remoteS3Url, region: 'nubo-1', credentials: { accessKeyId: h.key.id, secretAccessKey: h.key.secret }, forcePathStyle: true });
  try {
    return ((await s3.send(new ListObjectsV2Command({ Bucket: 'nubo-burst', Prefix: prefix }))).Contents ?? []).map((o) => o.Key ?? '');
  } finally {
    s3.destroy();
  }
}

/** Every disk of a remote VM whose guest-visible bytes are `digest`. */
async function remoteDisksWith(digest: string): Promise<number> {
  let n = 0;
  for (const v of await h.remoteApi.listVms()) {
    if (v.state === 'terminated') continue;
    const disk = join(root, 'remote-fleet', 'hosts', h.remoteFleet.hosts[0]!.name, 'vms', agentVmId(v.id), 'disk.qcow2');
    if ((await exists(disk)) && (await guestDigest(disk)) === digest) n += 1;
  }
  return n;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-xcloud-'));
  h = await HybridClouds.start({ root, localCpus: 4, logger, realDisks: true, localArgs: ['--cloud-poll-ms', '500', '--cloud-backoff-ms', '3000'] });
  // Only VMs that are migrated go there: none bursts on its own.
  await lApi().addCloud(h.cloudBody({ burst: 'never' }));
});

after(async () => {
  await h?.close();
  await rm(root, { recursive: true, force: true });
});

test('a powered-off VM migrates to the cloud and back: its disk checked by digest both ways, nothing left behind', async () => {
  const { vm, digest } = await poweredOffWithData('mig-a', 0x5a);
  const started = await lApi().migrateVmCloud(vm.id, { cloud: 'burst-1' });
  assert.equal(started.kind, 'cloud');
  assert.equal(started.direction, 'out');
  assert.equal(started.generation, 1);
  const out = await migrationEnded(vm.id);
  assert.equal(out.step, 'done', out.error ?? '');

  // On the cloud, powered off as it left; the local copy released.
  const there = await vmIn(vm.id, ['poweroff'], 'mig-a');
  assert.equal(there.host, null);
  assert.equal(there.stateReason, null);
  const live = await liveInstancesOf(vm.id);
  assert.equal(live.length, 1, 'exactly one remote instance');
  assert.equal(live[0]!.state, 'stopped');
  assert.equal((await lApi().getCloud('burst-1')).instances.find((i) => i.vm === vm.id)?.instanceId, live[0]!.id);
  assert.equal(await exists(localDisk(vm.id)), false, 'the local disk was released');
  // Verified by digest: the remote's registered image is the exported disk, byte for byte, and the instance's disk has the guest's bytes.
  const registered = (await h.remoteApi.listImages()).find((i) => i.name === `nubo-migrate-${vm.id}-g1`);
  assert.ok(registered, 'the remote registered the exported disk');
  assert.match(out.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(registered.sha256, out.sha256);
  assert.equal(await remoteDisksWith(digest), 1, 'the remote instance\'s disk holds what the guest wrote');
  assert.deepEqual(await amisNamed(`nubo-migrate-${vm.id}-g1`), [], 'the migration\'s AMI was deregistered');
  assert.deepEqual(await bucketKeys('nubo-migrate-'), [], 'the uploaded object was deleted once registered');

  // Its life cycle is the cloud's now: started and powered off there.
  await lApi().vmAction(vm.id, 'start');
  await vmIn(vm.id, ['running'], 'mig-a');
  await remoteRejects(lApi().migrateVmCloud(vm.id, { cloud: 'local' }), 409, 'INVALID_STATE', undefined, /running/);
  await lApi().vmAction(vm.id, 'poweroff');
  await vmIn(vm.id, ['poweroff'], 'mig-a');

  // ExportImage as an EC2 client sees it: refusals by their AWS codes.
  assert.match(await awsCode(h.ec2.send(new ExportImageCommand({ ImageId: 'ami-00000000000000000', DiskImageFormat: 'RAW', S3ExportLocation: { S3Bucket: 'nubo-burst' } }))), /^InvalidAMIID\.NotFound/);
  assert.match(await awsCode(h.ec2.send(new ExportImageCommand({ ImageId: h.ami, DiskImageFormat: 'VHD', S3ExportLocation: { S3Bucket: 'nubo-burst' } }))), /^InvalidParameterValue.*DiskImageFormat/);
  assert.match(await awsCode(h.ec2.send(new DescribeExportImageTasksCommand({ ExportImageTaskIds: ['export-ami-00000000000000000'] }))), /^InvalidExportImageTaskId\.NotFound/);

  // Back, to the local host, powered off.
  const back = await lApi().migrateVmCloud(vm.id, { cloud: 'local', to: h.localFleet.hosts[0]!.name });
  assert.equal(back.direction, 'back');
  assert.equal(back.generation, 2);
  const home = await migrationEnded(vm.id);
  assert.equal(home.step, 'done', home.error ?? '');
  const local = await vmIn(vm.id, ['poweroff'], 'mig-a');
  assert.equal(local.host, h.localFleet.hosts[0]!.name);
  assert.equal(await guestDigest(localDisk(vm.id)), digest, 'the guest sees the same bytes it had before it left');
  // Verified by digest: the downloaded object (checked against its x-amz-meta-sha256) is the remote's CreateImage, and is the local image.
  const captured = (await h.remoteApi.listImages()).find((i) => i.name === `nubo-back-${vm.id}-g2`);
  assert.ok(captured, 'the remote made an image of the stopped instance');
  assert.equal(home.backSha256, captured.sha256);
  const image = (await lApi().listImages()).find((i) => i.id === home.image);
  assert.equal(image?.name, 'mig-a-from-cloud-2');
  assert.equal(image?.sha256, home.backSha256);
  // The remote copy ended only now, and nothing of the migration is left there.
  assert.deepEqual(await liveInstancesOf(vm.id), [], 'the remote instance was terminated');
  assert.equal((await lApi().getCloud('burst-1')).vms, 0);
  assert.deepEqual(await amisNamed(`nubo-back-${vm.id}-g2`), [], 'the AMI made to bring it back was deregistered');
  assert.deepEqual(await bucketKeys('nubo-back/'), [], 'the exported object was deleted');

  await lApi().vmAction(vm.id, 'start');
  await vmIn(vm.id, ['running'], 'mig-a');
});

test('refused before anything changes: a running VM (its state named), an unknown cloud, bad flags', async () => {
  const r = await lApi().createVm({ template: 'small', name: 'mig-run' });
  await vmIn(r.id, ['running'], 'mig-run');
  await remoteRejects(lApi().migrateVmCloud(r.id, { cloud: 'burst-1' }), 409, 'INVALID_STATE', undefined, /state running \(allowed from: poweroff\)/);
  await remoteRejects(lApi().migrateVmCloud(r.id, { cloud: 'nosuch' }), 404, 'NOT_FOUND');
  await remoteRejects(lApi().migrateVm(r.id, { start: true }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(lApi().migrateVm(r.id, { cloud: 'burst-1', dryRun: true }), 400, 'VALIDATION_FAILED', 'cloud');
  await remoteRejects(lApi().migrateVmCloud(r.id, { cloud: 'burst-1', to: 'l0' }), 400, 'VALIDATION_FAILED', 'to');
  await remoteRejects(lApi().migrateVmCloud(r.id, { cloud: 'local' }), 409, 'CONFLICT', undefined, /on no remote cloud/);
  await remoteRejects(lApi().getCloudMigration(r.id), 404, 'NOT_FOUND');
  assert.deepEqual(await liveInstancesOf(r.id), []);
  const still = await lApi().getVm(r.id);
  assert.equal(still.state, 'running');
  assert.equal(still.host, h.localFleet.hosts[0]!.name);
  await lApi().vmAction(r.id, 'terminate-hard');
  await vmIn(r.id, ['terminated'], 'mig-run');
});

test('the remote refuses the launch (its quota): rolled back with the reason, the VM local and intact, nothing left on the remote', async () => {
  const tenancy = new TenancyClient(h.remote.url, h.remote.adminToken);
  await tenancy.setQuota({ user: h.remoteAdminId }, { vms: 0 });
  try {
    const { vm, digest } = await poweredOffWithData('mig-q', 0x3c);
    await lApi().migrateVmCloud(vm.id, { cloud: 'burst-1' });
    const m = await migrationEnded(vm.id);
    assert.equal(m.step, 'failed');
    assert.match(m.error ?? '', /^launch: .*InstanceLimitExceeded/);
    const v = await lApi().getVm(vm.id);
    assert.equal(v.state, 'poweroff');
    assert.equal(v.host, h.localFleet.hosts[0]!.name);
    assert.match(v.stateReason ?? '', /failed at launch and was rolled back/);
    assert.equal(await guestDigest(localDisk(vm.id)), digest, 'the local disk is intact');
    assert.deepEqual(await liveInstancesOf(vm.id), []);
    assert.deepEqual(await amisNamed(`nubo-migrate-${vm.id}-g1`), [], 'the AMI was deregistered');
    assert.equal((await lApi().getCloud('burst-1')).vms, 0, 'its place on the cloud given back');
    // Still the owner's to use.
    await lApi().vmAction(vm.id, 'start');
    await vmIn(vm.id, ['running'], 'mig-q');
    await lApi().vmAction(vm.id, 'terminate-hard');
    await vmIn(vm.id, ['terminated'], 'mig-q');
  } finally {
    await tenancy.setQuota({ user: h.remoteAdminId }, { vms: null });
  }
});

test('the remote unreachable mid-way: the VM waits local and intact with the reason, and moves once the remote is back', async () => {
  const { vm, digest } = await poweredOffWithData('mig-u', 0x21);
  await h.remote.stop();
  try {
    await lApi().migrateVmCloud(vm.id, { cloud: 'burst-1' });
    const waiting = await pollUntil('the reason naming the unreachable cloud', async () => {
      const v = await lApi().getVm(vm.id);
      return /migrating to cloud burst-1: export waits: .*retried/.test(v.stateReason ?? '') ? v : undefined;
    }, WAIT);
    assert.equal(waiting.state, 'poweroff');
    assert.equal(waiting.host, h.localFleet.hosts[0]!.name);
    assert.equal(await guestDigest(localDisk(vm.id)), digest);
    // Its other actions wait for the migration.
    await remoteRejects(lApi().vmAction(vm.id, 'start'), 409, 'CONFLICT', undefined, /migrating between a local host and a remote cloud/);
    // Nor may its disk be captured meanwhile (the migration exports it, then releases it).
    await remoteRejects(lApi().saveVmAs(vm.id, { image: 'mig-u-copy' }), 409, 'CONFLICT', undefined, /cannot save-as: it is migrating between a local host and a remote cloud/);
    assert.equal((await lApi().listImages()).some((i) => i.name === 'mig-u-copy'), false, 'no image made');
  } finally {
    h.remote = await h.startRemote(h.remote.adminToken);
  }
  const m = await migrationEnded(vm.id);
  assert.equal(m.step, 'done', m.error ?? '');
  assert.equal((await liveInstancesOf(vm.id)).length, 1);
  assert.equal(await remoteDisksWith(digest), 1);
  onCloud = { vm, digest };
});

/** mig-u, left on the cloud by the test above. */
let onCloud: { vm: VmView; digest: string } | undefined;

test('the remote refuses CreateImage on the way back (its image quota): rolled back, the VM still on the cloud and intact; back once there is room', async () => {
  assert.ok(onCloud);
  const { vm, digest } = onCloud;
  const tenancy = new TenancyClient(h.remote.url, h.remote.adminToken);
  await tenancy.setQuota({ user: h.remoteAdminId }, { images: 0 });
  let m: CloudMigrationView;
  try {
    await lApi().migrateVmCloud(vm.id, { cloud: 'local' });
    m = await migrationEnded(vm.id);
  } finally {
    await tenancy.setQuota({ user: h.remoteAdminId }, { images: null });
  }
  assert.equal(m.step, 'failed');
  assert.match(m.error ?? '', /^image: .*ResourceLimitExceeded/);
  const v = await lApi().getVm(vm.id);
  assert.equal(v.state, 'poweroff');
  assert.equal(v.host, null);
  assert.match(v.stateReason ?? '', /back from cloud burst-1 failed at image and was rolled back/);
  assert.deepEqual((await liveInstancesOf(vm.id)).map((i) => i.state), ['stopped'], 'its one instance is kept');
  assert.equal(await remoteDisksWith(digest), 1);
  assert.ok((await lApi().getCloud('burst-1')).instances.some((i) => i.vm === vm.id), 'still bound to the cloud');
  assert.equal((await lApi().listImages()).some((i) => i.name === `mig-u-from-cloud-${m.generation}`), false);

  await lApi().migrateVmCloud(vm.id, { cloud: 'local' });
  const home = await migrationEnded(vm.id);
  assert.equal(home.step, 'done', home.error ?? '');
  assert.equal(home.generation, m.generation + 1);
  const local = await vmIn(vm.id, ['poweroff'], 'mig-u');
  assert.equal(local.host, h.localFleet.hosts[0]!.name);
  assert.equal(await guestDigest(localDisk(vm.id)), digest);
  assert.deepEqual(await liveInstancesOf(vm.id), []);
});

/** Restarted with the failpoint armed, the migration asked for, the controller gone at the failpoint, restarted clean: the migration's end. */
async function crashAt(vm: VmView, failpoint: string, cloud: string, atCrash: () => Promise<void>): Promise<CloudMigrationView> {
  await h.local.stop();
  h.local = await h.startLocal({ adminToken: h.local.adminToken, failpoints: `${failpoint}=exit` });
  await lApi().migrateVmCloud(vm.id, { cloud });
  await exitedWithin(h.local, 120_000, `the controller did not reach ${failpoint}`);
  await atCrash();
  h.local = await h.startLocal({ adminToken: h.local.adminToken });
  const m = await migrationEnded(vm.id);
  assert.equal(m.step, 'done', `${failpoint}: ${m.error ?? ''}`);
  return m;
}

test('the controller killed at a step of each direction (after RunInstances, after the download, before the local copy is released, before the remote copy ends): after a restart one instance, one image, the same bytes', async () => {
  const { vm, digest } = await poweredOffWithData('mig-k', 0x77);

  // Out, killed between RunInstances' answer and recording its instance: the retry (same ClientToken) gets the same one back.
  let launched: { id: string; state: string }[] = [];
  await crashAt(vm, 'cloud.migrate.launched', 'burst-1', async () => {
    launched = await liveInstancesOf(vm.id);
    assert.equal(launched.length, 1, 'launched before the crash');
    assert.equal(await exists(localDisk(vm.id)), true, 'the local copy is kept until the remote one is confirmed');
  });
  assert.deepEqual((await liveInstancesOf(vm.id)).map((i) => i.id), launched.map((i) => i.id), 'the same one instance');
  assert.equal(await exists(localDisk(vm.id)), false);
  assert.equal(await remoteDisksWith(digest), 1);

  // Back, killed once the download is a local image but not yet journaled: the restart takes that image, makes no second one.
  await crashAt(vm, 'cloud.migrate.downloaded', 'local', async () => {
    // The controller is down: its store says what it made.
    const db = new BetterSqlite3(h.localDbPath, { readonly: true, fileMustExist: true });
    try {
      assert.equal((db.prepare('select count(*) as n from images where name = ?').get('mig-k-from-cloud-2') as { n: number }).n, 1, 'the download is an image already');
      assert.equal((db.prepare('select step from cloud_migrations where vm_id = ?').get(vm.id) as { step: string }).step, 'download', 'not yet journaled');
    } finally {
      db.close();
    }
    assert.equal((await liveInstancesOf(vm.id)).length, 1, 'the remote copy stays until the VM is placed locally');
  });
  assert.equal((await lApi().listImages()).filter((i) => i.name === 'mig-k-from-cloud-2').length, 1, 'one local image, not two');
  assert.equal(await guestDigest(localDisk(vm.id)), digest);
  assert.deepEqual(await liveInstancesOf(vm.id), []);

  // Out again (generation 3: a new token, a new instance), killed before the local copy is released.
  const out3 = await crashAt(vm, 'cloud.migrate.release', 'burst-1', async () => {
    assert.equal(await exists(localDisk(vm.id)), true, 'not yet released');
    assert.equal((await liveInstancesOf(vm.id)).length, 1);
  });
  assert.equal(out3.generation, 3);
  assert.equal((await liveInstancesOf(vm.id)).length, 1);
  assert.equal(await exists(localDisk(vm.id)), false);
  assert.equal((await lApi().getVm(vm.id)).host, null);

  // Back again, killed with the VM placed locally and before the remote copy is terminated.
  await crashAt(vm, 'cloud.migrate.terminate', 'local', async () => {
    assert.equal((await liveInstancesOf(vm.id)).length, 1, 'the remote copy stays until the local one is there');
    assert.equal(await exists(localDisk(vm.id)), true);
  });
  const v = await vmIn(vm.id, ['poweroff'], 'mig-k');
  assert.equal(v.host, h.localFleet.hosts[0]!.name);
  assert.equal(await guestDigest(localDisk(vm.id)), digest, 'the same bytes after two round trips and four crashes');
  assert.deepEqual(await liveInstancesOf(vm.id), []);
  assert.deepEqual(await bucketKeys('nubo-back/'), []);
  assert.equal((await lApi().getCloud('burst-1')).vms, 0, 'no VM bound to the cloud any more');
});

test('the controller killed after the upload (before RegisterImage) and once the remote export is done (before the download): one AMI, one instance, the same bytes', async () => {
  const { vm, digest } = await poweredOffWithData('mig-r', 0x5a);
  await crashAt(vm, 'cloud.migrate.register', 'burst-1', async () => {
    assert.equal(await exists(localDisk(vm.id)), true, 'nothing released yet');
    assert.deepEqual(await liveInstancesOf(vm.id), [], 'nothing launched yet');
  });
  assert.equal((await liveInstancesOf(vm.id)).length, 1, 'one instance after the restart');
  assert.equal(await remoteDisksWith(digest), 1, 'one remote disk with the bytes');
  await crashAt(vm, 'cloud.migrate.exported', 'local', async () => {
    assert.equal((await liveInstancesOf(vm.id)).length, 1, 'the remote copy stays');
  });
  assert.equal((await lApi().listImages()).filter((i) => i.name.startsWith('mig-r-from-cloud-')).length, 1, 'one local image');
  assert.equal(await guestDigest(localDisk(vm.id)), digest);
  assert.deepEqual(await liveInstancesOf(vm.id), []);
  // Its place on the local host is the later tests' to use.
  await lApi().vmAction(vm.id, 'terminate');
  await vmIn(vm.id, ['terminated'], 'mig-r');
});

test('the CLI: nubo vm migrate --cloud NAME --start --wait, and back with --cloud local --start; bad flags refused before anything is sent', async () => {
  const cli = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
    runCommand(process.execPath, [NUBO_CLI, 'vm', ...args, '--json', '--url', h.local.url, '--token', h.local.adminToken], { timeoutMs: 180_000 });
  const { vm, digest } = await poweredOffWithData('mig-c', 0x42);
  await assert.rejects(cli('migrate', vm.name, '--start'), /--start applies to a migration between clouds/);
  await assert.rejects(cli('migrate', vm.name, '--cloud', 'burst-1', '--to', h.localFleet.hosts[0]!.name), /--to names a local host/);
  await assert.rejects(cli('migrate', vm.name, '--cloud', 'burst-1', '--dry-run'), /--dry-run does not apply/);
  await assert.rejects(lApi().getCloudMigration(vm.id), /cloud migration/, 'nothing was sent');

  const out = JSON.parse((await cli('migrate', vm.name, '--cloud', 'burst-1', '--start', '--wait')).stdout) as CloudMigrationView;
  assert.deepEqual([out.step, out.direction, out.start], ['done', 'out', true]);
  // Started there: the instance runs, the VM is running on no local host.
  const there = await vmIn(vm.id, ['running'], 'mig-c');
  assert.equal(there.host, null);
  const live = await liveInstancesOf(vm.id);
  assert.deepEqual(live.map((i) => i.state), ['running']);
  await remoteRejects(lApi().migrateVmCloud(vm.id, { cloud: 'local' }), 409, 'INVALID_STATE', undefined, /running/);
  await lApi().vmAction(vm.id, 'poweroff');
  await vmIn(vm.id, ['poweroff'], 'mig-c');

  const back = JSON.parse((await cli('migrate', vm.name, '--cloud', 'local', '--start', '--wait')).stdout) as CloudMigrationView;
  assert.deepEqual([back.step, back.direction, back.start], ['done', 'back', true]);
  const home = await vmIn(vm.id, ['running'], 'mig-c');
  assert.equal(home.host, h.localFleet.hosts[0]!.name);
  assert.equal(await guestDigest(localDisk(vm.id)), digest);
  assert.deepEqual(await liveInstancesOf(vm.id), []);
});
