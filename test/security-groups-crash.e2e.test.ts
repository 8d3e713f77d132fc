import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  EC2Client, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeImagesCommand, RunInstancesCommand, waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { AccessKeyClient } from '../src/client/access-key-client.js';
import type { NuboClient } from '../src/client/nubo-client.js';
import { labDown, labFabricUp } from '../src/lab/lab.js';
import { FABRIC_ADDRESS } from '../src/lab/lab-state.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { DaemonProcess } from './support/daemon-process.js';
import { enrolLabHost } from './support/enrol-lab-host.js';
import { httpGet } from './support/http-get.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';

// The controller SIGKILLed at `firewall.stored`: a security group's new rule is
// in the store (each member VM's spec, with a revision) and was never pushed
// to the host. With the real processes: `nubo controller --ec2-listen` on a
// lab fabric of one host namespace, a guest serving HTTP on port 80 in a group
// with no rule — launched with that failpoint armed, which it must not reach:
// the group's rules are in the VM's spec from its create, so the first boot is
// filtered without any push. AuthorizeSecurityGroupIngress kills the controller at that
// step; the host keeps enforcing the old rules (closed); the restarted
// controller pushes the stored change once the host's heartbeat shows the
// older revision, and port 80 answers. Run under `flock /tmp/nubo-lab.lock`.

const prefix = `sg${randomBytes(3).toString('hex')}`;
const GATEWAY = '198.18.66.254';
const HTTP_80 = [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '198.18.0.0/15' }] }];
let root = '';
let dir = '';
let port: number;
let ec2Port: number;
let controller: DaemonProcess | undefined;
let api: NuboClient | undefined;
let ec2: EC2Client | undefined;
let fabricUp = false;

const startController = (failpoints?: string): DaemonProcess =>
  DaemonProcess.start(['controller', '--listen', `${FABRIC_ADDRESS}:${port}`, '--ec2-listen', `127.0.0.1:${ec2Port}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '500'],
    { NUBO_HOME: root, ...(failpoints !== undefined ? { NUBO_FAILPOINTS: failpoints } : {}) });

const reachable = async (ip: string): Promise<boolean> => httpGet(`http://${ip}/`, 2_500).then((r) => r.status > 0, () => false);

before(async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-sgcrash-'));
  dir = join(root, 'lab');
  port = await freePort();
  ec2Port = await freePort();
  fabricUp = true;
  await labFabricUp(prefix, dir);
  controller = startController();
  api = await enrolLabHost({ prefix, dir, port, controller });
  await uploadTinyImages(api, image);
  await api.createNetwork({ name: 'sg', cidr: '198.18.66.0/24', gateway: GATEWAY });
  await runCommand('ip', ['addr', 'add', `${GATEWAY}/24`, 'dev', `${prefix}-fab`]);
  await api.createTemplate({ name: 'tiny-sg', vcpus: 1, memoryMiB: 128, ...tinyBoot(image), nics: [{ network: 'sg' }] });
  const key = await new AccessKeyClient(api.baseUrl, api.token).create('me', {});
  ec2 = new EC2Client({ endpoint: `http://127.0.0.1:${ec2Port}`, region: 'nubo-1', credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, maxAttempts: 1 });
});

after(async () => {
  ec2?.destroy();
  for (const vm of api ? await api.listVms().catch(() => []) : []) {
    if (vm.state !== 'terminated') await api!.vmAction(vm.id, 'terminate-hard').catch(() => {});
  }
  if (api) await pollUntil('VMs terminated', async () => ((await api!.listVms().catch(() => [])).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  // The lab's agents and their QEMUs go by the pids the lab recorded; the fabric (and the gateway address on it) by its name.
  if (fabricUp) await labDown(dir).catch(() => {});
  await controller?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('controller SIGKILLed after a rule change is stored and before it is pushed: the host keeps the old rules, the restarted controller pushes the new one', async () => {
  const ami = (await ec2!.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny-sg'] }] }))).Images?.[0]?.ImageId;
  assert.ok(ami);
  const sg = await ec2!.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web servers' }));
  // Armed before the launch: the instance's first firewall is in its spec from the create, so RunInstances stores and pushes
  // nothing later (the old code died here, and until a push landed the guest could boot unfiltered).
  await controller!.stop();
  controller = startController('firewall.stored=exit');
  await controller.waitFor(/controller listening/, 60_000);
  await pollUntil('the EC2 listener answers', async () => (await ec2!.send(new DescribeImagesCommand({})).then(() => true, () => undefined)), { timeoutMs: 60_000, intervalMs: 250 });
  const run = await ec2!.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, SecurityGroupIds: [sg.GroupId!] }));
  const instanceId = run.Instances?.[0]?.InstanceId ?? '';
  await waitUntilInstanceRunning({ client: ec2!, maxWaitTime: 300, minDelay: 1, maxDelay: 3 }, { InstanceIds: [instanceId] });
  const vm = (await api!.listVms()).find((v) => v.state === 'running');
  assert.ok(vm);
  const ip = (await api!.getVm(vm.id)).nics[0]?.address?.split('/')[0] ?? '';
  assert.match(ip, /^198\.18\.66\.\d+$/);
  // The guest's web server comes up with its init; until the rule it must stay unreachable, so wait on the console's readiness.
  await pollUntil('the guest is ready', async () => (/NUBO-READY/.test(await api!.vmConsole(vm.id)) ? true : undefined), { timeoutMs: 180_000, intervalMs: 500 });
  assert.equal(await reachable(ip), false, 'port 80 is closed while the group has no rule');
  assert.equal(controller.alive, true, 'the launch stored no firewall change: the first one came with the create');

  await assert.rejects(ec2!.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: HTTP_80 })), 'the controller died under the request');
  await pollUntil('the controller killed at firewall.stored', () => (controller!.alive ? undefined : true), { timeoutMs: 30_000, intervalMs: 100 });
  assert.equal(controller.child.signalCode, 'SIGKILL');
  assert.equal(await reachable(ip), false, 'the change was never pushed: the host still enforces the old rules');

  controller = startController();
  await controller.waitFor(/controller listening/, 60_000);
  await pollUntil('port 80 answers once the restarted controller pushed the stored rule', async () => ((await reachable(ip)) ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal((await httpGet(`http://${ip}/`)).status, 200);
});
