import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import {
  EC2Client, AttachVolumeCommand, CreateSnapshotCommand, CreateTagsCommand, CreateVolumeCommand, DeleteSnapshotCommand, DeleteVolumeCommand,
  DescribeImagesCommand, DescribeInstanceAttributeCommand, DescribeSnapshotsCommand, DescribeTagsCommand, DescribeVolumesCommand, DetachVolumeCommand,
  DescribeInstancesCommand, ModifyInstanceAttributeCommand, RunInstancesCommand, StartInstancesCommand, StopInstancesCommand, waitUntilInstanceRunning, waitUntilInstanceStopped,
} from '@aws-sdk/client-ec2';
import type { _InstanceType } from '@aws-sdk/client-ec2';
import { pollUntil } from '../src/util/deadline.js';
import { consoleProbes, freshConsoleProbe } from './support/console-probes.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { awsCode } from './support/aws-code.js';
import { DEFAULT_INSTANCE_TYPES } from '../src/ec2/ec2-instance-types.js';

// EC2 volumes and snapshots, ModifyInstanceAttribute and DescribeImages'
// owners, driven by @aws-sdk/client-ec2 and Debian's awscli against an
// in-process cloud with one real QEMU guest (nubo-tiny, 128 MiB) that prints
// its block devices on its serial console every second: a 1 GiB volume is
// hot-plugged into it and out again, the instance's root volume is
// snapshotted, and each bad request is answered with AWS's code and changes
// nothing; another user's volume and snapshot look exactly like missing ones.

const execFileP = promisify(execFile);
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const TINY = 'nubo.tiny' as _InstanceType;
const WAIT = { maxWaitTime: 600, minDelay: 1, maxDelay: 3 };
// The probe: block devices, then the vCPUs and memory (kB) the guest sees (for the resize of a stopped instance).
const USER_DATA = '#!/bin/sh\nwhile :; do echo "PROBE $(ls /sys/block | tr \'\\n\' ,) $(grep -c ^processor /proc/cpuinfo) $(grep MemTotal /proc/meminfo | tr -s \' \' | cut -d\' \' -f2)"; sleep 1; done\n';
/** A size of the test's own for the resize (2 vCPUs, still a small guest), beside the defaults. */
const INSTANCE_TYPES = [...DEFAULT_INSTANCE_TYPES, { name: 'nubo.duo', vcpus: 2, memoryMiB: 256 }];

let cloud: InProcessCloud;
let endpoint: string;
let alice: EC2Client;
let bob: EC2Client;
let aliceKey: { id: string; secret: string };
let instanceId: string;
let vmId: string;

const client = (id: string, secret: string): EC2Client =>
  new EC2Client({ endpoint, region: 'nubo-1', credentials: { accessKeyId: id, secretAccessKey: secret }, maxAttempts: 1 });

/** Debian's awscli as alice, JSON out. */
const aws = async (...args: string[]): Promise<unknown> => {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: aliceKey.id, AWS_SECRET_ACCESS_KEY: aliceKey.secret, AWS_DEFAULT_REGION: 'nubo-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PAGER: '' };
  const out = await execFileP('/usr/bin/aws', ['ec2', ...args, '--endpoint-url', endpoint, '--output', 'json'], { env, timeout: 120_000 });
  return out.stdout.trim() === '' ? undefined : JSON.parse(out.stdout);
};
/** What the guest sees: [vCPUs, MemTotal kB] from a probe printed after this call. */
const guestSize = async (): Promise<[number, number]> => {
  const p = await freshConsoleProbe(cloud.api, vmId, 120_000);
  return [Number(p[1]), Number(p[2])];
};
const blocks = async (): Promise<string[]> => ((await freshConsoleProbe(cloud.api, vmId))[0] ?? '').split(',').filter(Boolean);
const nativeVolumes = async (): Promise<string> => JSON.stringify(await cloud.api.listVolumes());

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-ec2vol-', logger, ec2: { listen: { host: '127.0.0.1', port: 0 }, instanceTypes: INSTANCE_TYPES } });
  endpoint = cloud.controller.ec2!.url;
  const aliceId = (await cloud.controller.store.users.create({ name: 'alice' })).user.id;
  const bobId = (await cloud.controller.store.users.create({ name: 'bob' })).user.id;
  const a = await cloud.controller.accessKeys.create(aliceId);
  const b = await cloud.controller.accessKeys.create(bobId);
  aliceKey = { id: a.key.id, secret: a.secretAccessKey };
  alice = client(a.key.id, a.secretAccessKey);
  bob = client(b.key.id, b.secretAccessKey);
  const ami = (await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
  const run = await alice.send(new RunInstancesCommand({ ImageId: ami, InstanceType: TINY, MinCount: 1, MaxCount: 1, UserData: Buffer.from(USER_DATA).toString('base64') }));
  instanceId = run.Instances?.[0]?.InstanceId ?? '';
  await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [instanceId] });
  vmId = (await cloud.controller.ec2!.records.nuboIdOf('instance', instanceId))!;
});

after(async () => {
  alice.destroy();
  bob.destroy();
  await cloud.stop();
});

test('a 1 GiB volume: created, hot-plugged into the running guest, refused deletion while attached, detached, deleted; bad input changes nothing', async () => {
  const before = await blocks();
  const none = await nativeVolumes();
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'us-east-1a' }))), /^InvalidParameterValue: .*AvailabilityZone.*nubo-1a/);
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ Size: -1, AvailabilityZone: 'nubo-1a' }))), /^InvalidParameterValue: .*Size/);
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ AvailabilityZone: 'nubo-1a' }))), /^MissingParameter: .*Size/);
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1a', VolumeType: 'fast' as 'gp2' }))), /^InvalidParameterValue: .*VolumeType/);
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1a', TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }] }))), /^InvalidParameterValue: .*TagSpecification\.1\.ResourceType/);
  assert.equal(await nativeVolumes(), none, 'no refused CreateVolume made a volume');

  const created = await alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1a', VolumeType: 'gp2', TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'data' }] }] }));
  const volumeId = created.VolumeId ?? '';
  assert.match(volumeId, /^vol-[0-9a-f]{17}$/);
  assert.deepEqual([created.Size, created.State, created.AvailabilityZone, created.VolumeType, created.Tags], [1, 'available', 'nubo-1a', 'standard', [{ Key: 'Name', Value: 'data' }]]);
  assert.equal((await cloud.api.listVolumes())[0]?.sizeMiB, 1024);

  // Filters: the new volume by status and tag, the instance's root volume by its attachment.
  const available = await alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: ['available'] }, { Name: 'tag:Name', Values: ['d*'] }] }));
  assert.deepEqual(available.Volumes?.map((v) => v.VolumeId), [volumeId]);
  const roots = await alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }));
  assert.deepEqual(roots.Volumes?.map((v) => [v.State, v.Attachments?.[0]?.Device, v.Attachments?.[0]?.State]), [['in-use', '/dev/vda', 'attached']]);
  const paged = await alice.send(new DescribeVolumesCommand({ MaxResults: 5 }));
  assert.equal(paged.Volumes?.length, 2);
  assert.equal(paged.NextToken, undefined);
  assert.match(await awsCode(alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'colour', Values: ['x'] }] }))), /^InvalidParameterValue: .*Filter\.1\.Name/);

  // Another user's volume is a missing one; unknown ids and a bad device are refused.
  assert.match(await awsCode(bob.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))), /^InvalidVolume\.NotFound/);
  assert.match(await awsCode(bob.send(new DeleteVolumeCommand({ VolumeId: volumeId }))), /^InvalidVolume\.NotFound/);
  assert.deepEqual((await bob.send(new DescribeVolumesCommand({}))).Volumes, []);
  assert.match(await awsCode(alice.send(new AttachVolumeCommand({ VolumeId: 'vol-0123456789abcdef0', InstanceId: instanceId, Device: '/dev/sdf' }))), /^InvalidVolume\.NotFound/);
  assert.match(await awsCode(alice.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: 'i-0123456789abcdef0', Device: '/dev/sdf' }))), /^InvalidInstanceID\.NotFound/);
  assert.match(await awsCode(alice.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sda' }))), /^InvalidParameterValue: .*Device.*root/);
  assert.match(await awsCode(alice.send(new DetachVolumeCommand({ VolumeId: volumeId }))), /^IncorrectState/);
  assert.match(await awsCode(alice.send(new DeleteVolumeCommand({ VolumeId: roots.Volumes?.[0]?.VolumeId }))), /^VolumeInUse/);

  const attached = await alice.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }));
  assert.deepEqual([attached.State, attached.Device, attached.InstanceId], ['attached', '/dev/sdf', instanceId]);
  const seen = await pollUntil('the guest sees the volume', async () => {
    const b = await blocks();
    return b.length === before.length + 1 ? b : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  const added = seen.filter((b) => !before.includes(b));
  assert.equal(added.length, 1);
  assert.match(added[0]!, /^vd[a-z]$/);
  const inUse = (await alice.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0];
  assert.deepEqual([inUse?.State, inUse?.Attachments?.[0]?.InstanceId, inUse?.Attachments?.[0]?.State], ['in-use', instanceId, 'attached']);
  assert.deepEqual((await alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }))).Volumes?.length, 2);

  const attachedNative = await nativeVolumes();
  assert.match(await awsCode(alice.send(new DeleteVolumeCommand({ VolumeId: volumeId }))), /^VolumeInUse/);
  assert.match(await awsCode(alice.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdg' }))), /^VolumeInUse/);
  assert.match(await awsCode(alice.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdz' }))), /^InvalidAttachment\.NotFound/);
  assert.equal(await nativeVolumes(), attachedNative, 'refused calls left the attachment as it was');

  const detached = await alice.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Force: true }));
  assert.deepEqual([detached.State, detached.InstanceId], ['detached', instanceId]);
  await pollUntil('the guest lost the volume', async () => ((await blocks()).includes(added[0]!) ? undefined : true), { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal((await alice.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0]?.State, 'available');

  const tags = await alice.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['volume'] }] }));
  assert.deepEqual(tags.Tags?.map((t) => [t.ResourceId, t.Key, t.Value]), [[volumeId, 'Name', 'data']]);
  await alice.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
  assert.equal(await nativeVolumes(), none);
  assert.match(await awsCode(alice.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))), /^InvalidVolume\.NotFound/);
  assert.deepEqual((await alice.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['volume'] }] }))).Tags, []);
});

test('snapshots of the root volume: created with tags, described by owner and filters, hidden from another user, deleted; a data volume is refused', async () => {
  const root = (await alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }, { Name: 'attachment.device', Values: ['/dev/vda'] }] }))).Volumes?.[0]?.VolumeId ?? '';
  const data = await alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1a' }));
  assert.match(await awsCode(alice.send(new CreateSnapshotCommand({ VolumeId: data.VolumeId }))), /^InvalidParameterValue: .*VolumeId.*root volume/);
  assert.match(await awsCode(alice.send(new CreateSnapshotCommand({ VolumeId: 'vol-0123456789abcdef0' }))), /^InvalidVolume\.NotFound/);
  assert.match(await awsCode(bob.send(new CreateSnapshotCommand({ VolumeId: root }))), /^InvalidVolume\.NotFound/);
  assert.deepEqual(await cloud.api.listSnapshots(vmId), [], 'no refused CreateSnapshot took one');

  const snap = await alice.send(new CreateSnapshotCommand({ VolumeId: root, Description: 'before upgrade', TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'stage', Value: 'one' }] }] }));
  const snapshotId = snap.SnapshotId ?? '';
  assert.match(snapshotId, /^snap-[0-9a-f]{17}$/);
  assert.deepEqual([snap.VolumeId, snap.State, snap.Description], [root, 'completed', 'before upgrade']);
  assert.equal((await cloud.api.listSnapshots(vmId)).length, 1, 'a nubo disk snapshot of the instance');

  const mine = await alice.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'volume-id', Values: [root] }, { Name: 'tag:stage', Values: ['one'] }] }));
  assert.deepEqual(mine.Snapshots?.map((s) => [s.SnapshotId, s.State, s.Progress]), [[snapshotId, 'completed', '100%']]);
  assert.deepEqual((await alice.send(new DescribeSnapshotsCommand({ OwnerIds: ['amazon'] }))).Snapshots, []);
  assert.deepEqual((await alice.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:stage', Values: ['two'] }] }))).Snapshots, []);
  assert.deepEqual((await alice.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['snapshot'] }] }))).Tags?.map((t) => t.ResourceId), [snapshotId]);
  assert.deepEqual((await bob.send(new DescribeSnapshotsCommand({}))).Snapshots, []);
  assert.match(await awsCode(bob.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))), /^InvalidSnapshot\.NotFound/);
  assert.match(await awsCode(bob.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }))), /^InvalidSnapshot\.NotFound/);
  assert.match(await awsCode(bob.send(new CreateTagsCommand({ Resources: [snapshotId], Tags: [{ Key: 'x', Value: 'y' }] }))), /^InvalidSnapshot\.NotFound/);
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1a', SnapshotId: snapshotId }))), /^InvalidParameterValue: .*SnapshotId.*cannot make a volume from a snapshot/);

  await alice.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
  assert.deepEqual(await cloud.api.listSnapshots(vmId), []);
  assert.match(await awsCode(alice.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }))), /^InvalidSnapshot\.NotFound/);
  await alice.send(new DeleteVolumeCommand({ VolumeId: data.VolumeId }));
});

test('DescribeImages: owners self / amazon / account id, executable users, tag filters', async () => {
  const all = (await alice.send(new DescribeImagesCommand({}))).Images ?? [];
  const tiny = all.find((i) => i.Name === 'tiny');
  assert.ok(tiny?.ImageId);
  assert.deepEqual((await alice.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images, []);
  assert.deepEqual((await alice.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images, [], 'alice owns no image');
  assert.deepEqual((await alice.send(new DescribeImagesCommand({ Owners: [tiny.OwnerId ?? ''] }))).Images?.map((i) => i.ImageId), [tiny.ImageId]);
  assert.deepEqual((await alice.send(new DescribeImagesCommand({ ExecutableUsers: ['self'] }))).Images?.map((i) => i.ImageId), all.map((i) => i.ImageId));
  await alice.send(new CreateTagsCommand({ Resources: [tiny.ImageId], Tags: [{ Key: 'os', Value: 'busybox' }] }));
  assert.deepEqual((await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'tag:os', Values: ['busy*'] }] }))).Images?.map((i) => i.ImageId), [tiny.ImageId]);
  assert.deepEqual((await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'tag:os', Values: ['debian'] }] }))).Images, []);
});

test('ModifyInstanceAttribute: refused while running, for other attributes and unknown types; a stopped instance resized by awscli starts with the new type\'s vCPUs and memory', async () => {
  const before = await cloud.api.getVm(vmId);
  assert.equal((await alice.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'instanceType' }))).InstanceType?.Value, 'nubo.tiny');
  assert.match(await awsCode(alice.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'nubo.small' } }))), /^IncorrectInstanceState/);
  assert.match(await awsCode(alice.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'x9.huge' } }))), /^InvalidParameterValue: .*InstanceType/);
  assert.match(await awsCode(alice.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, DisableApiTermination: { Value: true } }))), /^InvalidParameterValue: .*disableApiTermination/);
  assert.match(await awsCode(bob.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'nubo.small' } }))), /^InvalidInstanceID\.NotFound/);
  const after = await cloud.api.getVm(vmId);
  assert.deepEqual([after.vcpus, after.memoryMiB, after.state], [before.vcpus, before.memoryMiB, 'running']);

  const [cpus0, mem0] = await guestSize();
  assert.equal(cpus0, 1, 'a nubo.tiny guest sees one vCPU');

  await alice.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  await waitUntilInstanceStopped({ client: alice, ...WAIT }, { InstanceIds: [instanceId] });
  await alice.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'nubo.tiny' } }));
  const stopped = await cloud.api.getVm(vmId);
  assert.match(await awsCode(alice.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'x9.huge' } }))), /^InvalidParameterValue: .*InstanceType/);
  assert.match(await awsCode(bob.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'nubo.duo' } }))), /^InvalidInstanceID\.NotFound/);
  assert.deepEqual(await cloud.api.getVm(vmId), stopped, 'refused changes of a stopped instance change nothing');

  // Stopped: awscli changes the type, the instance starts with it, and the guest sees 2 vCPUs and 128 MiB more.
  await aws('modify-instance-attribute', '--instance-id', instanceId, '--instance-type', 'Value=nubo.duo');
  const resized = await cloud.api.getVm(vmId);
  assert.deepEqual([resized.vcpus, resized.memoryMiB, resized.state], [2, 256, 'poweroff']);
  assert.equal((await alice.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'instanceType' }))).InstanceType?.Value, 'nubo.duo');
  await alice.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [instanceId] });
  const described = await aws('describe-instances', '--instance-ids', instanceId) as { Reservations: { Instances: { InstanceType: string }[] }[] };
  assert.equal(described.Reservations[0]?.Instances[0]?.InstanceType, 'nubo.duo');
  // Every probe of the first boot says 1 vCPU: one that says 2 is from the boot with the new size (so, whether the log was kept or not).
  const [cpus1, mem1] = await pollUntil('the guest sees two vCPUs after the boot with the new size', async () => {
    const last = (await consoleProbes(cloud.api, vmId)).at(-1);
    return last?.[1] === '2' ? [Number(last[1]), Number(last[2])] as const : undefined;
  }, { timeoutMs: 240_000, intervalMs: 1_000 });
  assert.equal(cpus1, 2);
  assert.ok(mem1 - mem0 > 100 * 1024, `the guest sees about 128 MiB more memory: ${mem0} kB → ${mem1} kB`);
  assert.match(await awsCode(alice.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, InstanceType: { Value: 'nubo.tiny' } }))), /^IncorrectInstanceState/);
  assert.equal((await alice.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0]?.InstanceType, 'nubo.duo');
});

test('awscli: create-volume, describe-volumes with a filter, delete-volume', async () => {
  const created = await aws('create-volume', '--size', '1', '--availability-zone', 'nubo-1a', '--volume-type', 'standard') as { VolumeId: string; State: string };
  assert.equal(created.State, 'available');
  const listed = await aws('describe-volumes', '--filters', 'Name=status,Values=available') as { Volumes: { VolumeId: string; Size: number }[] };
  assert.deepEqual(listed.Volumes.map((v) => [v.VolumeId, v.Size]), [[created.VolumeId, 1]]);
  await aws('delete-volume', '--volume-id', created.VolumeId);
  assert.match(await awsCode(alice.send(new DescribeVolumesCommand({ VolumeIds: [created.VolumeId] }))), /^InvalidVolume\.NotFound/);
});

test('volumes in zones: CreateVolume in another cluster\'s zone, DescribeVolumes by zone, AttachVolume across zones is InvalidVolume.ZoneMismatch and attaches nothing', async () => {
  await cloud.api.createCluster({ name: 'east' });
  const none = await nativeVolumes();
  assert.match(await awsCode(alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1-west' }))), /^InvalidParameterValue: .*AvailabilityZone.*nubo-1-west.*\(nubo-1a, nubo-1-east\)/);
  assert.equal(await nativeVolumes(), none, 'an unknown zone creates nothing');
  const east = await alice.send(new CreateVolumeCommand({ Size: 1, AvailabilityZone: 'nubo-1-east' }));
  assert.equal(east.AvailabilityZone, 'nubo-1-east');
  const native = (await cloud.api.listVolumes()).find((v) => v.cluster === 'east');
  assert.ok(native, 'the native volume lives in cluster east');
  const byZone = async (zone: string): Promise<string[]> =>
    ((await alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'availability-zone', Values: [zone] }] }))).Volumes ?? []).map((v) => v.VolumeId ?? '');
  assert.deepEqual(await byZone('nubo-1-east'), [east.VolumeId]);
  assert.ok(!(await byZone('nubo-1a')).includes(east.VolumeId ?? ''), 'not in the default zone');
  const root = (await alice.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }))).Volumes?.[0];
  assert.equal(root?.AvailabilityZone, 'nubo-1a', 'the root disk is in its instance\'s zone');
  const before = await nativeVolumes();
  assert.match(await awsCode(alice.send(new AttachVolumeCommand({ VolumeId: east.VolumeId, InstanceId: instanceId, Device: '/dev/sdf' }))), /^InvalidVolume\.ZoneMismatch: .*nubo-1-east, nubo-1a/);
  // The native API refuses it as well, in the attaching transaction.
  await assert.rejects(cloud.api.attachVolume(vmId, { volume: native.id }), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'CONFLICT');
    assert.match(String((err as Error).message), /is in cluster east and the VM's host \S+ in cluster default/);
    return true;
  });
  assert.equal(await nativeVolumes(), before, 'nothing attached');
  assert.equal((await alice.send(new DescribeVolumesCommand({ VolumeIds: [east.VolumeId ?? ''] }))).Volumes?.[0]?.State, 'available');
  await alice.send(new DeleteVolumeCommand({ VolumeId: east.VolumeId }));
  await cloud.api.deleteCluster('east');
});
