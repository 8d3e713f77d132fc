import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeAvailabilityZonesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { NuboClient } from '../src/client/nubo-client.js';
import { FailpointError } from '../src/util/failpoint-error.js';
import { pollUntil } from '../src/util/deadline.js';
import { MigrationLab, refusal } from './support/migration-lab.js';
import { awsCode } from './support/aws-code.js';

/**
 * Clusters and zones (issue 18) on real QEMU: a 3-host lab in two clusters
 * (`lab up --clusters 2`: h1, h2 in c1; h3 in c2). A VM placed by a
 * `cluster ==` requirement and one on a network bound to c1 land in their
 * clusters; a live migration across clusters is refused naming why, one
 * chosen inside the cluster runs; EC2 RunInstances with
 * Placement.AvailabilityZone lands in that cluster and DescribeInstances shows
 * the zone; add-host of a host whose VMs are tied to its cluster is refused,
 * and a fault before or after add-host's transaction leaves the host wholly
 * moved or not at all. Every refusal changes nothing.
 */

const lab = new MigrationLab();
lab.clusters = 2;
const api = (): NuboClient => lab.api;
const name = (i: number): string => lab.host(i).name;
let ec2: EC2Client;
let userApi: NuboClient;

/** Every host's cluster and the VMs, to show a refusal changed nothing. */
async function snapshot(): Promise<unknown> {
  return {
    clusters: (await api().listClusters()).map((c) => [c.name, c.hosts, c.networks]),
    vms: (await api().listVms()).map((v) => [v.name, v.state, v.host]).sort(),
  };
}

before(async () => {
  await lab.start(3, 'in-process', { ec2: { listen: { host: '127.0.0.1', port: 0 } } });
  const controller = lab.controller!;
  const { user, token } = await controller.store.users.create({ name: 'alice' });
  userApi = new NuboClient(controller.url, token);
  const key = await controller.accessKeys.create(user.id);
  ec2 = new EC2Client({ endpoint: controller.ec2!.url, region: 'nubo-1', credentials: { accessKeyId: key.key.id, secretAccessKey: key.secretAccessKey }, maxAttempts: 1 });
  await api().createNetwork({ name: 'net-c1', cidr: '198.18.67.0/24', gateway: '198.18.67.254', cluster: 'c1' });
});

after(async () => {
  ec2?.destroy();
  await lab.stop();
});

test('the lab made two clusters; admins manage them, users only see zones; bad input changes nothing', async () => {
  const clusters = await api().listClusters();
  assert.deepEqual(clusters.map((c) => [c.name, c.hosts, c.networks]), [['c1', [name(1), name(2)], ['net-c1']], ['c2', [name(3)], []], ['default', [], []]]);
  assert.equal((await api().getHost(name(3))).cluster, 'c2');
  const before = await snapshot();
  // One at a time, each started in its turn (no refusal left unawaited).
  const cases: [() => Promise<unknown>, number, string, RegExp][] = [
    [() => api().createCluster({ name: 'c1' }), 409, 'CONFLICT', /already exists/],
    [() => api().createCluster({ name: 'bad name' }), 400, 'VALIDATION_FAILED', /name/],
    [() => api().addClusterHost('c9', name(1)), 404, 'NOT_FOUND', /cluster/],
    [() => api().addClusterHost('c1', 'no-such-host'), 404, 'NOT_FOUND', /host/],
    [() => api().deleteCluster('c2'), 409, 'CONFLICT', new RegExp(`is not empty: host ${name(3)}`)],
    [() => api().deleteCluster('c1'), 409, 'CONFLICT', /is not empty: hosts .*; network net-c1/],
    [() => api().deleteCluster('default'), 409, 'CONFLICT', /cannot be deleted/],
    [() => userApi.listClusters(), 403, 'FORBIDDEN', /cluster/],
    [() => userApi.createCluster({ name: 'mine' }), 403, 'FORBIDDEN', /cluster/],
    [() => userApi.addClusterHost('c1', name(3)), 403, 'FORBIDDEN', /cluster/],
    [() => api().createNetwork({ name: 'net-c9', cidr: '198.18.68.0/24', cluster: 'c9' }), 400, 'VALIDATION_FAILED', /no cluster c9/],
  ];
  for (const [p, status, code, message] of cases) {
    const e = await refusal(p());
    assert.deepEqual([e.status, e.code], [status, code], e.message);
    assert.match(e.message + JSON.stringify(e.details), message);
  }
  assert.deepEqual(await snapshot(), before);
  assert.deepEqual((await userApi.listZones()).map((z) => [z.name, z.hosts]), [['c1', 2], ['c2', 1], ['default', 0]]);
});

test('placement: a `cluster ==` requirement and a network bound to a cluster put each VM there; impossible asks are refused at create', async () => {
  const byReq = await api().createVm({ template: 'tiny-mig', name: 'req-c2', requirements: 'cluster == "c2"' });
  const bound = await api().createVm({ template: 'tiny-mig', name: 'bound-c1', nics: [{ network: 'net-c1' }] });
  const a = await lab.waitState(byReq.id, 'running');
  const b = await lab.waitState(bound.id, 'running');
  assert.deepEqual([a.host, a.cluster], [name(3), 'c2']);
  assert.ok([name(1), name(2)].includes(b.host ?? ''), `bound-c1 on ${b.host}`);
  assert.equal(b.cluster, 'c1');
  const before = await snapshot();
  const bad = await refusal(api().createVm({ template: 'tiny-mig', name: 'torn', cluster: 'c2', nics: [{ network: 'net-c1' }] }));
  assert.deepEqual([bad.status, bad.code], [400, 'VALIDATION_FAILED']);
  assert.match(JSON.stringify(bad.details), /no host can take the VM: it asks for cluster c2; network net-c1 is bound to cluster c1/);
  const unknown = await refusal(api().createVm({ template: 'tiny-mig', name: 'lost', cluster: 'c9' }));
  assert.match(JSON.stringify(unknown.details), /"field":"cluster","message":"no cluster c9"/);
  assert.deepEqual(await snapshot(), before);
});

test('live migration: across clusters refused with the reason, the VM untouched; a chosen destination stays in the cluster and the move runs', async () => {
  const vms = await api().listVms();
  const bound = vms.find((v) => v.name === 'bound-c1')!;
  const byReq = vms.find((v) => v.name === 'req-c2')!;
  const across = await refusal(api().migrateVm(bound.id, { to: name(3) }));
  assert.deepEqual([across.status, across.details['check']], [409, 'cluster']);
  assert.match(across.message, new RegExp(`host ${name(3)} is in cluster c2, the VM's host ${bound.host} in cluster c1, and network net-c1 is bound to cluster c1`));
  // The only host of c2: no destination is chosen outside it.
  const alone = await refusal(api().migrateVm(byReq.id, {}));
  assert.deepEqual([alone.status, alone.details['check']], [409, 'cluster'], alone.message);
  assert.equal((await api().getVm(bound.id)).host, bound.host, 'nothing moved');
  // Nothing of this one's is bound to a cluster: it may cross when the destination is named, and the dry run says why.
  const roamer = await api().createVm({ template: 'tiny-mig', name: 'roamer', host: name(1) });
  await lab.waitState(roamer.id, 'running');
  const cross = await api().dryRunMigration(roamer.id, { to: name(3) });
  assert.equal(cross.destination, name(3));
  assert.equal(cross.crossing, 'from cluster c1 to c2: its network mig and its local disk (copied with the migration) are available in every cluster');
  assert.equal((await api().dryRunMigration(roamer.id, {})).crossing, null, 'a chosen destination: within c1');
  await api().vmAction(roamer.id, 'terminate-hard');
  const other = bound.host === name(1) ? name(2) : name(1);
  const dry = await api().dryRunMigration(bound.id, {});
  assert.equal(dry.destination, other);
  assert.equal(dry.crossing, null);
  const started = await api().migrateVm(bound.id, {});
  assert.equal(started.destination, other);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', m.reason ?? '');
  const after = await lab.waitState(bound.id, 'running');
  assert.deepEqual([after.host, after.cluster], [other, 'c1']);
});

test('EC2: one zone per cluster; RunInstances honours Placement.AvailabilityZone and DescribeInstances shows it; an unknown zone launches nothing', async () => {
  const zones = await ec2.send(new DescribeAvailabilityZonesCommand({}));
  assert.deepEqual(zones.AvailabilityZones?.map((z) => [z.ZoneName, z.State]), [['nubo-1-c1', 'available'], ['nubo-1-c2', 'available'], ['nubo-1a', 'unavailable']]);
  const ami = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny-mig'] }] }))).Images?.[0]?.ImageId;
  assert.ok(ami, 'the admin\'s template is an AMI');
  const count = (await api().listVms()).length;
  assert.match(await awsCode(ec2.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'nubo-1-c9' } }))), /^InvalidParameterValue: .*Placement\.AvailabilityZone.*nubo-1-c1, nubo-1-c2, nubo-1a/);
  assert.match(await awsCode(ec2.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'us-east-1a' } }))), /^InvalidParameterValue: .*Placement\.AvailabilityZone/);
  assert.equal((await api().listVms()).length, count, 'refused: nothing launched');
  const run = await ec2.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'nubo-1-c2' } }));
  const id = run.Instances?.[0]?.InstanceId;
  assert.ok(id);
  const described = await pollUntil(`${id} running`, async () => {
    const i = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];
    return i?.State?.Name === 'running' ? i : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal(described.Placement?.AvailabilityZone, 'nubo-1-c2');
  const vm = (await api().listVms()).find((v) => v.state === 'running' && v.owner === 'alice');
  assert.deepEqual([vm?.host, vm?.cluster], [name(3), 'c2']);
  const filtered = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'availability-zone', Values: ['nubo-1-c1'] }] }));
  assert.deepEqual(filtered.Reservations ?? [], [], 'no instance of hers in c1');
});

test('add-host: refused while its VMs are tied to the cluster (nothing written); a fault before or after the transaction leaves the host wholly in one cluster', async () => {
  const before = await snapshot();
  const e = await refusal(api().addClusterHost('c1', name(3)));
  assert.deepEqual([e.status, e.code], [409, 'CONFLICT']);
  // The VM placed by requirement, and the instance that asked for zone c2.
  assert.match(e.message, new RegExp(`cannot move to cluster c1: .*VM req-c2: its requirements \\(cluster == "c2"\\) would not hold`));
  assert.match(e.message, /the VM asks for cluster c2/);
  assert.deepEqual(await snapshot(), before);
  assert.equal((await api().getHost(name(3))).cluster, 'c2');

  // A host with nothing tied to c1 (bound-c1 now runs on the other one).
  const bound = (await api().listVms()).find((v) => v.name === 'bound-c1')!;
  const free = bound.host === name(1) ? name(2) : name(1);
  const failpoint = (point: string): void => lab.failpoints.arm(point, () => { throw new FailpointError(point); });
  failpoint('cluster-add-host');
  const early = await refusal(api().addClusterHost('c2', free));
  assert.equal(early.status, 500, early.message);
  assert.equal((await api().getHost(free)).cluster, 'c1', 'a fault before the transaction: not moved');
  failpoint('cluster-add-host.done');
  const late = await refusal(api().addClusterHost('c2', free));
  assert.equal(late.status, 500, late.message);
  assert.equal((await api().getHost(free)).cluster, 'c2', 'a fault after it: moved, whole');
  // The retry an operator makes after either answer is harmless.
  assert.equal((await api().addClusterHost('c2', free)).host.cluster, 'c2');
  assert.equal((await api().addClusterHost('c1', free)).host.cluster, 'c1');
  assert.deepEqual((await api().getCluster('c1')).hosts, [name(1), name(2)]);
});
