import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { RemoteError } from '../client/remote-error.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import type { VmView } from '../contract/vm-schemas.js';
import { openStore, type Store } from '../store/open-store.js';
import { Ec2ApiError } from './ec2-api-error.js';
import type { Ec2Context, Ec2Handler } from './ec2-context.js';
import { compileInstanceTypes } from './ec2-instance-types.js';
import { Ec2Params } from './ec2-params.js';
import { Ec2Records, type Ec2Tables } from './ec2-records.js';
import { createSnapshot } from './ec2-snapshots.js';
import { attachVolume, createVolume, deleteVolume, describeVolumes, detachVolume } from './ec2-volumes.js';
import { ec2ResponseXml } from './ec2-xml.js';
import { modifyInstanceAttribute } from './ec2-instance-attribute.js';

// The volume actions over a fake native API (the routes they call, recorded)
// and the real EC2 records on SQLite: the XML they answer, their filters, and
// that every refusal is decided before any native call that changes something.

const VM: VmView = {
  id: 'vm-1', name: 'web', owner: 'alice', template: 'tiny', state: 'running', stateReason: null, host: 'h1', cluster: 'default', vcpus: 1, memoryMiB: 128,
  allowedActions: ['poweroff'], createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
};
const volume = (over: Partial<VolumeView> = {}): VolumeView => ({
  id: 'v-1', name: 'ec2-1', owner: 'alice', sizeMiB: 2048, host: null, vm: null, vmName: null, slot: null, state: 'available', createdAt: '2026-01-02T00:00:00.000Z', cluster: 'default', ...over,
});

let dir: string;
let store: Store;
let records: Ec2Records;
let volumes: VolumeView[];
let calls: string[];

const api = {
  async call<T>(_user: string, method: string, path: string, body?: unknown): Promise<T> {
    calls.push(`${method} ${path}`);
    const found = (v: unknown): T => v as T;
    if (method === 'GET' && path === '/api/v1/volumes') return found(volumes);
    if (method === 'GET' && path.startsWith('/api/v1/volumes/')) {
      const v = volumes.find((x) => x.id === path.split('/').at(-1));
      if (!v) throw new RemoteError(404, 'NOT_FOUND', 'no such volume', {});
      return found(v);
    }
    if (method === 'GET' && path === '/api/v1/zones') return found([{ name: 'default', hosts: 1 }, { name: 'east', hosts: 1 }]);
    if (method === 'POST' && path === '/api/v1/volumes') {
      const b = body as { name: string; sizeMiB: number; cluster: string };
      const v = volume({ id: `v-${volumes.length + 1}`, name: b.name, sizeMiB: b.sizeMiB, cluster: b.cluster });
      volumes.push(v);
      return found(v);
    }
    if (method === 'GET' && path === '/api/v1/vms') return found([VM]);
    if (method === 'GET' && path === '/api/v1/vms/vm-1') return found(VM);
    if (method === 'GET' && path === '/api/v1/vms/vm-east') return found({ ...VM, id: 'vm-east', host: 'h3', cluster: 'east' });
    if (method === 'POST' && path.match(/^\/api\/v1\/vms\/[^/]+\/volumes$/)) {
      const v = volumes.find((x) => x.id === (body as { volume: string }).volume)!;
      return found({ ...v, vm: path.split('/')[4], slot: 0, state: 'attached' });
    }
    if (method === 'GET' && path === '/api/v1/vms/vm-off') return found({ ...VM, id: 'vm-off', state: 'poweroff' });
    if (method === 'GET' && path === '/api/v1/vms/vm-susp') return found({ ...VM, id: 'vm-susp', state: 'suspended' });
    if (method === 'POST' && path === '/api/v1/vms/vm-off/resize') {
      const b = body as { vcpus: number; memoryMiB: number };
      if (b.memoryMiB > 4096) throw new RemoteError(409, 'CAPACITY', 'host h1 cannot take 1 cpus, 8064 MiB memory: not enough memoryMib', {});
      return found({ ...VM, id: 'vm-off', state: 'poweroff', ...b });
    }
    if (method === 'GET' && path.startsWith('/api/v1/vms/')) throw new RemoteError(404, 'NOT_FOUND', 'no such vm', {});
    if (method === 'GET' && path === '/api/v1/templates') return found([{ id: 't-1', name: 'tiny', image: 'tiny' }]);
    if (method === 'GET' && path === '/api/v1/images/tiny') return found({ virtualSizeBytes: 3 * 1024 ** 3 });
    if (method === 'GET' && path === '/api/v1/users/me') return found({ id: 'u-alice', name: 'alice' });
    throw new RemoteError(500, 'UNEXPECTED', `the fake has no ${method} ${path}`, {});
  },
};

const ctx = (): Ec2Context => ({ api, records, instanceTypes: compileInstanceTypes(), endpoint: 'http://127.0.0.1' });
const run = (h: Ec2Handler, params: Record<string, string>) => h(ctx(), { userId: 'u-alice', accessKeyId: 'AK', params: Ec2Params.of(params), requestId: 'r-1' });
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Ec2ApiError, String(err));
    return `${err.awsCode}: ${err.message}`;
  }
  assert.fail('no error');
}
const writes = (): string[] => calls.filter((c) => !c.startsWith('GET '));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nubo-ec2vol-'));
  store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  records = new Ec2Records(store.db as unknown as Kysely<Ec2Tables>);
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('EC2 volume actions', () => {
  it('CreateVolume: the size in GiB becomes MiB, tags are kept, the answer has EC2\'s shape', async () => {
    volumes = [];
    calls = [];
    const out = await run(createVolume, { Size: '2', AvailabilityZone: 'nubo-1a', VolumeType: 'gp3', 'TagSpecification.1.ResourceType': 'volume', 'TagSpecification.1.Tag.1.Key': 'Name', 'TagSpecification.1.Tag.1.Value': 'db' });
    assert.equal(volumes[0]?.sizeMiB, 2048);
    const xml = ec2ResponseXml('CreateVolume', 'r-1', out);
    assert.match(xml, /<volumeId>vol-[0-9a-f]{17}<\/volumeId><size>2<\/size><snapshotId><\/snapshotId><availabilityZone>nubo-1a<\/availabilityZone><status>available<\/status>/);
    assert.match(xml, /<volumeType>standard<\/volumeType>.*<tagSet><item><key>Name<\/key><value>db<\/value><\/item><\/tagSet>/s);
    assert.doesNotMatch(xml, /attachmentSet/);
  });

  it('CreateVolume refuses a wrong zone, a bad size, a bad type, encryption and a wrong tag type before creating anything', async () => {
    volumes = [];
    calls = [];
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZone: 'eu-west-1a' })), /^InvalidParameterValue: .*AvailabilityZone/);
    assert.match(await refusal(run(createVolume, { Size: '1' })), /^MissingParameter: .*AvailabilityZone/);
    assert.match(await refusal(run(createVolume, { Size: '0', AvailabilityZone: 'nubo-1a' })), /^InvalidParameterValue: .*Size/);
    assert.match(await refusal(run(createVolume, { Size: '-5', AvailabilityZone: 'nubo-1a' })), /^InvalidParameterValue: .*Size/);
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1a', Encrypted: 'true' })), /^InvalidParameterValue: .*Encrypted/);
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1a', VolumeType: 'ssd' })), /^InvalidParameterValue: .*VolumeType/);
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1a', 'TagSpecification.1.ResourceType': 'instance', 'TagSpecification.1.Tag.1.Key': 'k' })), /TagSpecification\.1\.ResourceType/);
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1a', SnapshotId: 'snap-0123456789abcdef0' })), /^InvalidSnapshot\.NotFound/);
    assert.deepEqual(writes(), []);
  });

  it('volumes in zones: CreateVolume\'s zone (name or id) is the volume\'s cluster; an unknown one creates nothing; DescribeVolumes shows and filters the zone', async () => {
    volumes = [];
    calls = [];
    const east = await run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1-east' }) as { volumeId: string; availabilityZone: string };
    assert.equal(east.availabilityZone, 'nubo-1-east');
    assert.equal(volumes[0]?.cluster, 'east');
    const byId = await run(createVolume, { Size: '1', AvailabilityZoneId: 'nubo-1-az-east' }) as { availabilityZone: string };
    assert.equal(byId.availabilityZone, 'nubo-1-east');
    const dflt = await run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1a' }) as { volumeId: string; availabilityZone: string };
    assert.deepEqual([dflt.availabilityZone, volumes[2]?.cluster], ['nubo-1a', 'default']);
    const made = writes().length;
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZone: 'nubo-1-west' })), /^InvalidParameterValue: .*AvailabilityZone.*nubo-1-west.*not a zone of this cloud \(nubo-1a, nubo-1-east\)/);
    assert.match(await refusal(run(createVolume, { Size: '1', AvailabilityZoneId: 'nubo-1-az-west' })), /^InvalidParameterValue: .*AvailabilityZoneId/);
    assert.equal(writes().length, made, 'refused: nothing created');
    const ids = (o: unknown) => ((o as { volumeSet: { volumeId: string }[] }).volumeSet).map((v) => v.volumeId);
    const inEast = ids(await run(describeVolumes, { 'Filter.1.Name': 'availability-zone', 'Filter.1.Value.1': 'nubo-1-east' }));
    assert.equal(inEast.length, 2);
    assert.ok(inEast.includes(east.volumeId));
    const inDefault = ids(await run(describeVolumes, { 'Filter.1.Name': 'availability-zone', 'Filter.1.Value.1': 'nubo-1a' }));
    assert.ok(inDefault.includes(dflt.volumeId) && !inDefault.includes(east.volumeId));
    assert.equal(inDefault.length, 2, 'the default zone\'s data volume and the root disk of the instance there');
  });

  it('AttachVolume: a volume in another zone than the instance is InvalidVolume.ZoneMismatch before any change; in its own zone it attaches', async () => {
    volumes = [volume({ id: 'v-e', cluster: 'east' }), volume({ id: 'v-n', cluster: null })];
    const e = await records.awsIdOf('volume', 'v-e');
    const n = await records.awsIdOf('volume', 'v-n');
    const web = await records.awsIdOf('instance', 'vm-1');
    const inEast = await records.awsIdOf('instance', 'vm-east');
    calls = [];
    assert.match(await refusal(run(attachVolume, { VolumeId: e, InstanceId: web, Device: '/dev/sdf' })), new RegExp(`^InvalidVolume\\.ZoneMismatch: .*'${e}'.*'${web}' \\(nubo-1-east, nubo-1a\\)`));
    assert.deepEqual(writes(), []);
    const ok = await run(attachVolume, { VolumeId: e, InstanceId: inEast, Device: '/dev/sdf' }) as { status: string; device: string };
    assert.deepEqual([ok.status, ok.device], ['attached', '/dev/sdf']);
    assert.deepEqual(writes(), ['POST /api/v1/vms/vm-east/volumes']);
    // A native volume made in no cluster and never attached is in no zone yet: shown in the default one, it attaches to an instance of any.
    assert.equal(((await run(describeVolumes, { 'VolumeId.1': n })) as { volumeSet: { availabilityZone: string }[] }).volumeSet[0]?.availabilityZone, 'nubo-1a');
    await run(attachVolume, { VolumeId: n, InstanceId: inEast, Device: '/dev/sdg' });
    assert.deepEqual(writes(), ['POST /api/v1/vms/vm-east/volumes', 'POST /api/v1/vms/vm-east/volumes']);
  });

  it('DescribeVolumes: data volumes and root disks, EC2 states, filters on status, attachment and tags, paging', async () => {
    volumes = [volume({ id: 'v-a' }), volume({ id: 'v-b', vm: 'vm-1', slot: 1, state: 'attached', host: 'h1' })];
    const a = await records.awsIdOf('volume', 'v-a');
    const b = await records.awsIdOf('volume', 'v-b');
    const i = await records.awsIdOf('instance', 'vm-1');
    await records.setTags('u-alice', [a], [{ key: 'tier', value: 'cold' }]);
    const all = await run(describeVolumes, {});
    const xml = ec2ResponseXml('DescribeVolumes', 'r-1', all);
    assert.match(xml, new RegExp(`<volumeId>${b}</volumeId><size>2</size>.*<status>in-use</status>.*<attachmentSet><item><volumeId>${b}</volumeId><instanceId>${i}</instanceId><device>/dev/sdg</device><status>attached</status>`, 's'));
    assert.match(xml, /<device>\/dev\/vda<\/device><status>attached<\/status>.*<deleteOnTermination>true<\/deleteOnTermination>/s, 'the root disk is a volume too');
    const ids = (o: unknown) => ((o as { volumeSet: { volumeId: string; size: number }[] }).volumeSet).map((v) => v.volumeId);
    assert.deepEqual(ids(await run(describeVolumes, { 'Filter.1.Name': 'status', 'Filter.1.Value.1': 'available' })), [a]);
    assert.deepEqual(ids(await run(describeVolumes, { 'Filter.1.Name': 'tag:tier', 'Filter.1.Value.1': 'c*' })), [a]);
    assert.equal(ids(await run(describeVolumes, { 'Filter.1.Name': 'attachment.instance-id', 'Filter.1.Value.1': i })).length, 2);
    const root = (all as { volumeSet: { volumeId: string; size: number }[] }).volumeSet.find((v) => v.volumeId !== a && v.volumeId !== b);
    assert.equal(root?.size, 3, 'a root volume is as big as its image');
    const first = await run(describeVolumes, { MaxResults: '5' }) as { volumeSet: unknown[]; nextToken?: string };
    assert.equal(first.volumeSet.length, 3);
    assert.equal(first.nextToken, undefined);
    assert.match(await refusal(run(describeVolumes, { 'VolumeId.1': a, MaxResults: '5' })), /^InvalidParameterCombination/);
    assert.match(await refusal(run(describeVolumes, { 'VolumeId.1': 'vol-x' })), /^InvalidVolumeID\.Malformed/);
    assert.match(await refusal(run(describeVolumes, { 'Filter.1.Name': 'colour', 'Filter.1.Value.1': 'x' })), /Filter\.1\.Name/);
  });

  it('Delete/Attach/Detach refuse in EC2\'s terms before any change', async () => {
    volumes = [volume({ id: 'v-a' }), volume({ id: 'v-b', vm: 'vm-1', slot: 0, state: 'attached', host: 'h1' })];
    const a = await records.awsIdOf('volume', 'v-a');
    const b = await records.awsIdOf('volume', 'v-b');
    const i = await records.awsIdOf('instance', 'vm-1');
    const root = await records.awsIdOf('volume', 'root:vm-1');
    calls = [];
    assert.match(await refusal(run(deleteVolume, { VolumeId: b })), /^VolumeInUse/);
    assert.match(await refusal(run(deleteVolume, { VolumeId: root })), /^VolumeInUse/);
    assert.match(await refusal(run(deleteVolume, { VolumeId: 'vol-0123456789abcdef0' })), /^InvalidVolume\.NotFound/);
    assert.match(await refusal(run(attachVolume, { VolumeId: b, InstanceId: i, Device: '/dev/sdh' })), /^VolumeInUse/);
    assert.match(await refusal(run(attachVolume, { VolumeId: a, InstanceId: 'i-0123456789abcdef0', Device: '/dev/sdh' })), /^InvalidInstanceID\.NotFound/);
    assert.match(await refusal(run(attachVolume, { VolumeId: a, InstanceId: i })), /^MissingParameter: .*Device/);
    assert.match(await refusal(run(detachVolume, { VolumeId: a })), /^IncorrectState/);
    assert.match(await refusal(run(detachVolume, { VolumeId: root })), /^OperationNotPermitted/);
    assert.match(await refusal(run(detachVolume, { VolumeId: b, InstanceId: 'i-0123456789abcdef0' })), /^InvalidAttachment\.NotFound/);
    assert.match(await refusal(run(createSnapshot, { VolumeId: a })), /^InvalidParameterValue: .*VolumeId.*root volume/);
    assert.deepEqual(writes(), []);
  });

  it('ModifyInstanceAttribute refuses a running instance, unknown types and other attributes, changing nothing', async () => {
    const i = await records.awsIdOf('instance', 'vm-1');
    calls = [];
    assert.match(await refusal(run(modifyInstanceAttribute, { InstanceId: i, 'InstanceType.Value': 'nubo.small' })), /^IncorrectInstanceState/);
    assert.match(await refusal(run(modifyInstanceAttribute, { InstanceId: i, 'InstanceType.Value': 'z9.mega' })), /^InvalidParameterValue: .*InstanceType/);
    assert.match(await refusal(run(modifyInstanceAttribute, { InstanceId: i, Attribute: 'kernel', Value: 'k' })), /^InvalidParameterValue: .*kernel/);
    const suspended = await records.awsIdOf('instance', 'vm-susp');
    assert.match(await refusal(run(modifyInstanceAttribute, { InstanceId: suspended, 'InstanceType.Value': 'nubo.small' })), /^IncorrectInstanceState: .*memory saved/);
    assert.deepEqual(writes(), []);
  });

  it('ModifyInstanceAttribute resizes a stopped (powered-off) instance through the native resize; no room on its host is InsufficientInstanceCapacity', async () => {
    const off = await records.awsIdOf('instance', 'vm-off');
    calls = [];
    assert.deepEqual(await run(modifyInstanceAttribute, { InstanceId: off, 'InstanceType.Value': 'nubo.small' }), { return: true });
    assert.deepEqual(writes(), ['POST /api/v1/vms/vm-off/resize']);
    assert.match(await refusal(run(modifyInstanceAttribute, { InstanceId: off, 'InstanceType.Value': 'm5.large' })), /^InsufficientInstanceCapacity: .*memoryMib/);
  });
});
