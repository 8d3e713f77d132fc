import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  EC2Client, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeImagesCommand, DescribeInstancesCommand,
  RevokeSecurityGroupIngressCommand, RunInstancesCommand, TerminateInstancesCommand, waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import type { IpPermission } from '@aws-sdk/client-ec2';
import { MigrationLab } from './support/migration-lab.js';
import { httpGet } from './support/http-get.js';
import { freshConsoleProbe } from './support/console-probes.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { tapName } from '../src/agent/hypervisor-vm-spec.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { firewallTableName } from '../src/network/vm-firewall.js';
import { firewallOf } from '../src/controller/vm-firewall-service.js';

// Security groups enforced for real: a lab of two host namespaces, the EC2 API
// driven by @aws-sdk/client-ec2, a guest serving HTTP on port 80 and pinging
// its gateway in a loop. This process sits on the fabric (the gateway address
// is on the fabric bridge), so it is the client from outside.
// Run under `flock /tmp/nubo-lab.lock`.

const lab = new MigrationLab();
let ec2: EC2Client;
const GATEWAY = '198.18.66.254';
const HTTP_80: IpPermission[] = [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '198.18.0.0/15' }] }];
// The guest's own probe: whether it reaches its gateway (egress and replies through its firewall).
const PING_PROBE = ['#!/bin/sh', 'while true; do', `  if ping -c 1 -W 2 ${GATEWAY} >/dev/null 2>&1; then echo "PROBE ping ok"; else echo "PROBE ping fail"; fi`, '  sleep 1', 'done', ''].join('\n');

async function reachable(ip: string): Promise<boolean> {
  return httpGet(`http://${ip}/`, 2_500).then((r) => r.status > 0, () => false);
}

async function until(what: string, ip: string, want: boolean, timeoutMs = 60_000): Promise<void> {
  await pollUntil(`${ip}:80 ${what}`, async () => ((await reachable(ip)) === want ? true : undefined), { timeoutMs, intervalMs: 300 });
}

async function tables(netns: string): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['netns', 'exec', netns, '/usr/sbin/nft', 'list', 'tables', 'bridge'], { timeoutMs: 20_000 });
  return stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('table bridge nubo_sg_')).map((l) => l.slice('table bridge '.length));
}

before(async () => {
  await lab.start(2, 'in-process', { ec2: { listen: { host: '127.0.0.1', port: 0 } } });
  const controller = lab.controller!;
  const admin = await controller.store.users.findByToken(lab.token);
  assert.ok(admin && controller.ec2);
  const key = await controller.accessKeys.create(admin.id);
  ec2 = new EC2Client({ endpoint: controller.ec2.url, region: 'nubo-1', credentials: { accessKeyId: key.key.id, secretAccessKey: key.secretAccessKey }, maxAttempts: 1 });
});

after(async () => {
  ec2?.destroy();
  await lab.stop();
});

test('a security group is enforced on the guest\'s TAP: closed, opened, closed again, follows a live migration, survives an agent killed before the push, and goes with the VM', async (t) => {
  const t0 = Date.now();
  const step = (what: string): void => t.diagnostic(`${Math.round((Date.now() - t0) / 1000)} s: ${what}`);
  const images = await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny-mig'] }] }));
  const ami = images.Images?.[0]?.ImageId;
  assert.ok(ami);
  const sg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web servers' }));
  const run = await ec2.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, SecurityGroupIds: [sg.GroupId!], UserData: Buffer.from(PING_PROBE).toString('base64') }));
  const instanceId = run.Instances?.[0]?.InstanceId ?? '';
  step('RunInstances answered');
  await waitUntilInstanceRunning({ client: ec2, maxWaitTime: 240, minDelay: 1, maxDelay: 3 }, { InstanceIds: [instanceId] });
  step('running');
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  assert.deepEqual(described.Reservations?.[0]?.Instances?.[0]?.SecurityGroups?.map((g) => g.GroupId), [sg.GroupId]);
  const vmId = await lab.controller!.ec2!.records.nuboIdOf('instance', instanceId);
  assert.ok(vmId);
  const vm = await lab.api.getVm(vmId);
  const ip = vm.nics[0]?.address?.split('/')[0] ?? '';
  assert.match(ip, /^198\.18\.66\.\d+$/);
  const table = firewallTableName(tapName(agentVmId(vmId), 0));
  const first = lab.hosts.find((h) => h.name === vm.host)!;
  const other = lab.hosts.find((h) => h.name !== vm.host)!;

  step('ids mapped');
  // The guest is up (its probe runs after httpd started) and reaches its gateway through its firewall …
  assert.deepEqual(await pollUntil('the guest pings its gateway', async () => {
    const p = await freshConsoleProbe(lab.api, vmId, 90_000);
    return p[1] === 'ok' ? p : undefined;
  }, { timeoutMs: 120_000 }), ['ping', 'ok']);
  step('guest pings');
  assert.deepEqual(await tables(first.netns), [table], 'the VM\'s table is on its host');
  assert.deepEqual(await tables(other.netns), [], 'and nowhere else');
  // … but nothing reaches its port 80: the group allows no ingress yet.
  assert.equal(await reachable(ip), false, 'port 80 is closed while the group has no rule');

  step('closed checked');
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: HTTP_80 }));
  await until('reachable after AuthorizeSecurityGroupIngress', ip, true);
  assert.equal((await httpGet(`http://${ip}/`)).status, 200);

  await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: HTTP_80 }));
  step('revoked');
  await until('closed after RevokeSecurityGroupIngress', ip, false);
  assert.deepEqual(await freshConsoleProbe(lab.api, vmId), ['ping', 'ok'], 'egress keeps working with ingress closed');

  step('closed again');
  // The rules follow the VM: live-migrated with port 80 open, it is open on the destination and the source keeps no table.
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: HTTP_80 }));
  await until('reachable before the migration', ip, true);
  step('migrating');
  const m = await lab.api.migrateVm(vmId, { to: other.name });
  assert.equal((await lab.waitMigration(m.id)).state, 'succeeded');
  await until('reachable on the destination', ip, true);
  await pollUntil('the source host keeps no table', async () => ((await tables(first.netns)).length === 0 ? true : undefined), { timeoutMs: 30_000 });
  assert.deepEqual(await tables(other.netns), [table]);

  step('migrated');
  // The agent is killed before the rule change is pushed: the change is stored, its push fails, and the
  // restarted agent gets it after its first heartbeat.
  const agent = lab.host(other.index).agent;
  assert.ok(agent);
  process.kill(agent.pid, 'SIGKILL');
  await pollUntil('the agent is gone', async () => (await reachableAgent(other.agentUrl) ? undefined : true), { timeoutMs: 10_000 });
  const before = firewallOf(await lab.controller!.store.vms.get(vmId))!.revision;
  await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: HTTP_80 }));
  const stored = firewallOf(await lab.controller!.store.vms.get(vmId))!;
  assert.deepEqual([stored.revision, stored.rules], [before + 1, []], 'the change is in the store');
  assert.equal(await reachable(ip), true, 'with its agent down, the host still enforces the old rules');
  step('agent down, change stored');
  await lab.agentsUp(2);
  await until('closed once the restarted agent has the change', ip, false);

  step('closed after the restart');
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  await lab.waitState(vmId, 'terminated');
  await pollUntil('no table left on the host', async () => ((await tables(other.netns)).length === 0 ? true : undefined), { timeoutMs: 30_000 });
});

async function reachableAgent(url: string): Promise<boolean> {
  return httpGet(`${url}/agent/v1/host`, 2_000).then(() => true, () => false);
}
