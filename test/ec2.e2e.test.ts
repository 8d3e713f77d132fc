import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import {
  EC2Client, CreateKeyPairCommand, CreateImageCommand, CreateSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand, CreateTagsCommand,
  DeleteKeyPairCommand, DeleteSecurityGroupCommand, DeleteTagsCommand, DescribeAccountAttributesCommand, DescribeAvailabilityZonesCommand, DescribeImagesCommand,
  DescribeInstancesCommand, DescribeInstanceStatusCommand, DescribeInstanceTypesCommand, DescribeKeyPairsCommand, DescribeRegionsCommand,
  DescribeSecurityGroupsCommand, DescribeTagsCommand, GetConsoleOutputCommand, ImportKeyPairCommand, RevokeSecurityGroupIngressCommand, RunInstancesCommand,
  StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand, waitUntilInstanceRunning, waitUntilInstanceStopped, waitUntilInstanceTerminated,
} from '@aws-sdk/client-ec2';
import type { _InstanceType } from '@aws-sdk/client-ec2';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { awsCode } from './support/aws-code.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { AccessKeyClient } from '../src/client/access-key-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { Failpoints } from '../src/util/failpoints.js';
import { pollUntil } from '../src/util/deadline.js';
import type { ControllerVmSpec } from '../src/controller/controller-vm-spec.js';

// The EC2 Query API driven by the real clients — @aws-sdk/client-ec2, Debian's
// awscli and boto3 — against an in-process cloud with real QEMU (nubo-tiny,
// 128 MiB): key pairs, RunInstances with a key and user data, the SDK's
// waiters, console output, tags and filters, stop/start, CreateImage,
// terminate; then bad input, each answered with AWS's code and nothing written,
// and another user's instance looking exactly like a missing one.

const execFileP = promisify(execFile);
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
let cloud: InProcessCloud;
let endpoint: string;
let alice: EC2Client;
let bob: EC2Client;
let aliceId: string;
let aliceKey: { id: string; secret: string };
/** Bob's native API client (his own templates). */
let bobApi: NuboClient;
/** The controller's failpoints: RunInstances' steps (`ec2.run.claimed`, `ec2.run.created`, `ec2.run.recorded`). */
const failpoints = new Failpoints();
/** nubo's own sizes are not in the SDK's list of AWS types; it sends any string. */
const TINY = 'nubo.tiny' as _InstanceType;
const WAIT = { maxWaitTime: 600, minDelay: 1, maxDelay: 3 };

const client = (id: string, secret: string, extra: { systemClockOffset?: number } = {}): EC2Client =>
  new EC2Client({ endpoint, region: 'nubo-1', credentials: { accessKeyId: id, secretAccessKey: secret }, maxAttempts: 1, ...extra });

async function vmCount(): Promise<number> {
  return (await cloud.api.listVms()).length;
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-ec2-', logger, failpoints, ec2: { listen: { host: '127.0.0.1', port: 0 } } });
  const ec2 = cloud.controller.ec2;
  assert.ok(ec2, 'the controller serves EC2');
  endpoint = ec2.url;
  aliceId = (await cloud.controller.store.users.create({ name: 'alice' })).user.id;
  const bobMade = await cloud.controller.store.users.create({ name: 'bob' });
  const bobId = bobMade.user.id;
  bobApi = new NuboClient(cloud.api.baseUrl, bobMade.token);
  // Real access keys, verified by SigV4 on every request.
  const a = await cloud.controller.accessKeys.create(aliceId);
  const b = await cloud.controller.accessKeys.create(bobId);
  aliceKey = { id: a.key.id, secret: a.secretAccessKey };
  alice = client(a.key.id, a.secretAccessKey);
  bob = client(b.key.id, b.secretAccessKey);
});

after(async () => {
  alice.destroy();
  bob.destroy();
  await cloud.stop();
});

test('regions, zones, account attributes and instance types', async () => {
  const regions = await alice.send(new DescribeRegionsCommand({}));
  assert.deepEqual(regions.Regions?.map((r) => r.RegionName), ['nubo-1']);
  const zones = await alice.send(new DescribeAvailabilityZonesCommand({}));
  assert.deepEqual(zones.AvailabilityZones?.map((z) => [z.ZoneName, z.State]), [['nubo-1a', 'available']]);
  const attrs = await alice.send(new DescribeAccountAttributesCommand({ AttributeNames: ['supported-platforms'] }));
  assert.deepEqual(attrs.AccountAttributes?.[0]?.AttributeValues?.map((v) => v.AttributeValue), ['EC2']);
  const types = await alice.send(new DescribeInstanceTypesCommand({ InstanceTypes: [TINY] }));
  assert.deepEqual(types.InstanceTypes?.map((t) => [t.InstanceType, t.VCpuInfo?.DefaultVCpus, t.MemoryInfo?.SizeInMiB]), [['nubo.tiny', 1, 128]]);
  assert.match(await awsCode(alice.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['x9.huge' as _InstanceType] }))), /^InvalidInstanceType/);
});

test('a full instance life: key pair, RunInstances with key, user data and tags, waiter, console, filters, stop/start, CreateImage, terminate', async () => {
  const key = await alice.send(new CreateKeyPairCommand({ KeyName: 'alice-key', KeyType: 'ed25519' }));
  assert.match(key.KeyMaterial ?? '', /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  assert.match(key.KeyPairId ?? '', /^key-[0-9a-f]{17}$/);
  assert.match(await awsCode(alice.send(new CreateKeyPairCommand({ KeyName: 'alice-key' }))), /^InvalidKeyPair\.Duplicate/);
  const listed = await alice.send(new DescribeKeyPairsCommand({}));
  assert.deepEqual(listed.KeyPairs?.map((k) => [k.KeyName, k.KeyFingerprint]), [['alice-key', key.KeyFingerprint]]);
  assert.deepEqual((await bob.send(new DescribeKeyPairsCommand({}))).KeyPairs, [], 'bob sees none of alice\'s keys');

  const images = await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }));
  const ami = images.Images?.[0]?.ImageId;
  assert.match(ami ?? '', /^ami-[0-9a-f]{17}$/);

  const userData = Buffer.from('#!/bin/sh\necho EC2-USER-DATA-RAN\n').toString('base64');
  const runParams = {
    ImageId: ami, InstanceType: TINY, MinCount: 1, MaxCount: 1, KeyName: 'alice-key', UserData: userData, ClientToken: 'run-1',
    TagSpecifications: [{ ResourceType: 'instance' as const, Tags: [{ Key: 'Name', Value: 'web' }, { Key: 'role', Value: 'test' }] }],
  };
  const run = await alice.send(new RunInstancesCommand(runParams));
  const id = run.Instances?.[0]?.InstanceId ?? '';
  assert.match(id, /^i-[0-9a-f]{17}$/);
  assert.equal(run.Instances?.[0]?.InstanceType, 'nubo.tiny');
  assert.equal(run.Instances?.[0]?.KeyName, 'alice-key');
  assert.equal((await alice.send(new RunInstancesCommand(runParams))).Instances?.[0]?.InstanceId, id, 'the same ClientToken launches nothing new');
  assert.match(await awsCode(alice.send(new RunInstancesCommand({ ...runParams, MaxCount: 2 }))), /^IdempotentParameterMismatch/, 'the same ClientToken with other parameters is refused');

  await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [id] });
  const aliceKeys = (await cloud.controller.store.users.get(aliceId)).sshKeys;
  assert.ok(aliceKeys.some((k) => k.startsWith('ssh-ed25519 ') && k.endsWith(' alice-key')), 'the key pair is among the keys the config drive gets');

  let console = '';
  for (let i = 0; i < 120 && !(console.includes('NUBO-READY') && console.includes('EC2-USER-DATA-RAN')); i++) {
    const out = await alice.send(new GetConsoleOutputCommand({ InstanceId: id }));
    console = Buffer.from(out.Output ?? '', 'base64').toString('utf8');
    if (!console.includes('NUBO-READY')) await new Promise((r) => setTimeout(r, 1000));
  }
  assert.match(console, /NUBO-READY/);
  assert.match(console, /EC2-USER-DATA-RAN/, 'the user data ran in the guest');

  const running = await alice.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }, { Name: 'tag:role', Values: ['te*'] }] }));
  assert.deepEqual(running.Reservations?.flatMap((r) => r.Instances?.map((i) => i.InstanceId)), [id]);
  // The AMI it was launched from, in RunInstances' answer, a poll of its id and the whole list (its template's id mapped, not read).
  assert.equal(run.Instances?.[0]?.ImageId, ami);
  assert.equal((await alice.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.ImageId, ami);
  assert.deepEqual(running.Reservations?.flatMap((r) => r.Instances?.map((i) => i.ImageId)), [ami]);
  const none = await alice.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:role', Values: ['prod'] }] }));
  assert.deepEqual(none.Reservations, []);
  const status = await alice.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
  assert.equal(status.InstanceStatuses?.[0]?.InstanceState?.Name, 'running');

  await alice.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'tier', Value: 'front' }] }));
  const tags = await alice.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }));
  assert.deepEqual(tags.Tags?.map((t) => `${t.Key}=${t.Value}`).sort(), ['Name=web', 'role=test', 'tier=front']);
  await alice.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'tier' }] }));
  assert.equal((await alice.send(new DescribeTagsCommand({ Filters: [{ Name: 'key', Values: ['tier'] }] }))).Tags?.length, 0);

  // bob: alice's instance does not exist for him, whatever he tries.
  assert.match(await awsCode(bob.send(new DescribeInstancesCommand({ InstanceIds: [id] }))), /^InvalidInstanceID\.NotFound/);
  assert.match(await awsCode(bob.send(new TerminateInstancesCommand({ InstanceIds: [id] }))), /^InvalidInstanceID\.NotFound/);
  assert.match(await awsCode(bob.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'x', Value: 'y' }] }))), /^InvalidInstanceID\.NotFound/);
  assert.deepEqual((await bob.send(new DescribeInstancesCommand({}))).Reservations, []);

  const stopped = await alice.send(new StopInstancesCommand({ InstanceIds: [id] }));
  assert.equal(stopped.StoppingInstances?.[0]?.PreviousState?.Name, 'running');
  await waitUntilInstanceStopped({ client: alice, ...WAIT }, { InstanceIds: [id] });
  assert.match(await awsCode(alice.send(new StopInstancesCommand({ InstanceIds: [id] })).then(() => alice.send(new CreateTagsCommand({ Resources: ['i-00000000000000000'], Tags: [{ Key: 'a', Value: 'b' }] })))), /^InvalidInstanceID\.NotFound/);

  const image = await alice.send(new CreateImageCommand({ InstanceId: id, Name: 'web-image' }));
  assert.match(image.ImageId ?? '', /^ami-[0-9a-f]{17}$/);
  const mine = await alice.send(new DescribeImagesCommand({ Owners: ['self'] }));
  assert.deepEqual(mine.Images?.map((i) => [i.ImageId, i.Name, i.State]), [[image.ImageId, 'web-image', 'available']]);
  assert.match(await awsCode(alice.send(new CreateImageCommand({ InstanceId: id, Name: 'web-image' }))), /^InvalidAMIName\.Duplicate/);

  await alice.send(new StartInstancesCommand({ InstanceIds: [id] }));
  await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [id] });

  const term = await alice.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  assert.equal(term.TerminatingInstances?.[0]?.PreviousState?.Name, 'running');
  await waitUntilInstanceTerminated({ client: alice, ...WAIT }, { InstanceIds: [id] });
  await alice.send(new DeleteKeyPairCommand({ KeyName: 'alice-key' }));
  assert.deepEqual((await alice.send(new DescribeKeyPairsCommand({}))).KeyPairs, []);
});

test('bad input: AWS error codes naming the parameter, and nothing written', async () => {
  const ami = (await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
  const before = await vmCount();
  const checks: [Promise<unknown>, RegExp][] = [
    [alice.send(new RunInstancesCommand({ ImageId: 'ami-00000000000000000', MinCount: 1, MaxCount: 1 })), /^InvalidAMIID\.NotFound/],
    [alice.send(new RunInstancesCommand({ ImageId: 'ami-xyz', MinCount: 1, MaxCount: 1 })), /^InvalidAMIID\.Malformed/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 2, MaxCount: 1 })), /^InvalidParameterValue: .*MinCount/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, InstanceType: 'q9.nope' as _InstanceType })), /^InvalidParameterValue: .*InstanceType/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, KeyName: 'no-such-key' })), /^InvalidKeyPair\.NotFound/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, UserData: 'not base64!' })), /^InvalidParameterValue: .*UserData/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'us-east-1a' } })), /^InvalidParameterValue: .*Placement\.AvailabilityZone/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] }] })), /^InvalidParameterValue: .*TagSpecification\.1\.Tag\.1\.Key/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] }] })), /^InvalidParameterValue: .*Tag\.1\.Value/],
    [alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, SecurityGroupIds: ['sg-00000000000000000'] })), /^InvalidGroup\.NotFound/],
    [alice.send(new DescribeInstancesCommand({ InstanceIds: ['i-00000000000000000'] })), /^InvalidInstanceID\.NotFound/],
    [alice.send(new DescribeInstancesCommand({ InstanceIds: ['i-nope'] })), /^InvalidInstanceID\.Malformed/],
    [alice.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-stat-name', Values: ['running'] }] })), /^InvalidParameterValue: .*Filter\.1\.Name/],
    [alice.send(new DescribeInstancesCommand({ NextToken: 'bogus' })), /^InvalidNextToken/],
    [alice.send(new StartInstancesCommand({ InstanceIds: ['i-00000000000000000'] })), /^InvalidInstanceID\.NotFound/],
    [alice.send(new CreateTagsCommand({ Resources: ['vol-00000000000000000'], Tags: [{ Key: 'a', Value: 'b' }] })), /^InvalidVolume\.NotFound/],
    [alice.send(new CreateTagsCommand({ Resources: [ami ?? ''], Tags: [{ Key: 'aws:x', Value: 'b' }] })), /^InvalidParameterValue: .*Tag\.1\.Key/],
    [alice.send(new CreateTagsCommand({ Resources: [ami ?? ''], Tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) })), /^TagLimitExceeded/],
    [alice.send(new ImportKeyPairCommand({ KeyName: 'bad', PublicKeyMaterial: Buffer.from('ssh-rsa AAAA not-a-key') })), /^InvalidParameterValue: .*PublicKeyMaterial/],
  ];
  for (const [p, re] of checks) assert.match(await awsCode(p), re);
  assert.equal(await vmCount(), before, 'no VM was made');
  assert.deepEqual((await alice.send(new DescribeTagsCommand({}))).Tags?.filter((t) => t.ResourceId === ami), [], 'no tag was written');
  assert.deepEqual((await alice.send(new DescribeKeyPairsCommand({}))).KeyPairs, []);

  // Below the SDK (signed by its own signer): an unknown action, a repeated parameter, no Action, no credentials.
  const url = new URL(endpoint);
  const raw = async (body: string, sign = true): Promise<{ status: number; text: string; requestId: string | null }> => {
    let headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', host: url.host };
    if (sign) {
      const signer = new SignatureV4({ service: 'ec2', region: 'nubo-1', credentials: { accessKeyId: aliceKey.id, secretAccessKey: aliceKey.secret }, sha256: Sha256 });
      headers = (await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body })).headers;
    }
    const res = await fetch(endpoint, { method: 'POST', headers, body });
    return { status: res.status, text: await res.text(), requestId: res.headers.get('x-amzn-requestid') };
  };
  const unknown = await raw('Action=LaunchRockets&Version=2016-11-15');
  assert.equal(unknown.status, 400);
  assert.match(unknown.text, /<Code>InvalidAction<\/Code>/);
  assert.match(unknown.text, new RegExp(`<RequestID>${unknown.requestId ?? 'none'}</RequestID>`));
  assert.match((await raw('Action=DescribeRegions&Action=DescribeRegions')).text, /<Code>MalformedQueryString<\/Code>/);
  assert.match((await raw('Version=2016-11-15')).text, /<Code>MissingAction<\/Code>/);
  const noAuth = await raw('Action=DescribeRegions&Version=2016-11-15', false);
  assert.equal(noAuth.status, 401);
  assert.match(noAuth.text, /<Code>AuthFailure<\/Code>/);
  const ok = await raw('Action=DescribeRegions&Version=2016-11-15');
  assert.equal(ok.status, 200);
  assert.match(ok.text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<DescribeRegionsResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/"><requestId>/);
});

test('an AMI of another user\'s private template is unknown to RunInstances, with or without a key pair, and nothing is written', async () => {
  // RunInstances leaves the template's access check to the native create unless a key pair is written first: both ways refuse alike.
  await bobApi.createTemplate({ name: 'bob-private', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd' });
  const bobsAmi = (await bob.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['bob-private'] }] }))).Images?.[0]?.ImageId;
  assert.match(bobsAmi ?? '', /^ami-/, 'bob sees his template as an AMI');
  assert.match(await awsCode(alice.send(new DescribeImagesCommand({ ImageIds: [bobsAmi!] }))), /^InvalidAMIID\.NotFound/, 'alice does not');
  await alice.send(new CreateKeyPairCommand({ KeyName: 'alice-probe', KeyType: 'ed25519' }));
  const keysBefore = (await cloud.controller.store.users.get(aliceId)).sshKeys;
  const before = await vmCount();
  for (const KeyName of [undefined, 'alice-probe']) {
    const refusal = await awsCode(alice.send(new RunInstancesCommand({ ImageId: bobsAmi, MinCount: 1, MaxCount: 1, InstanceType: TINY, ...(KeyName === undefined ? {} : { KeyName }), ClientToken: `probe-${KeyName ?? 'none'}` })));
    assert.equal(refusal, `InvalidAMIID.NotFound: The image id '[${bobsAmi}]' does not exist`, `KeyName ${KeyName ?? '(none)'}`);
  }
  assert.equal(await vmCount(), before, 'no VM was made');
  assert.deepEqual((await cloud.controller.store.users.get(aliceId)).sshKeys, keysBefore, 'the key pair was not written into alice\'s keys');
  await alice.send(new DeleteKeyPairCommand({ KeyName: 'alice-probe' }));
  // The client tokens were given back: the same token launches once the AMI is one alice may use.
  const ami = (await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
  const run = await alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, InstanceType: TINY, ClientToken: 'probe-none' }));
  const id = run.Instances?.[0]?.InstanceId ?? '';
  assert.equal(await vmCount(), before + 1);
  await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [id] });
  await alice.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitUntilInstanceTerminated({ client: alice, ...WAIT }, { InstanceIds: [id] });
});

test('RunInstances under faults: a group edited while an instance is made still reaches it; a failure at each step after the create leaves no instance and gives the token back', async () => {
  const ami = (await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
  // The instance goes in alice's default group (made on first need: named here so that it exists before the edit).
  const sg = (await alice.send(new DescribeSecurityGroupsCommand({ GroupNames: ['default'] }))).SecurityGroups?.[0]?.GroupId ?? '';
  const rule = { IpProtocol: 'tcp', FromPort: 2222, ToPort: 2222, IpRanges: [{ CidrIp: '198.18.0.0/15' }] };
  const firewallOf = async (instanceId: string): Promise<unknown[] | null | undefined> => {
    const vmId = await cloud.controller.ec2!.records.nuboIdOf('instance', instanceId);
    return ((await cloud.controller.store.vms.get(vmId ?? '')).spec as unknown as ControllerVmSpec).agent.firewall?.rules;
  };
  // After the create read the group's rules and made the VM with them, before the instance is recorded (so the
  // AuthorizeSecurityGroupIngress below cannot name it): RunInstances' recheck must find the new rule.
  failpoints.arm('ec2.run.created', async () => { await alice.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [rule] })); });
  const run = await alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, InstanceType: TINY }));
  const id = run.Instances?.[0]?.InstanceId ?? '';
  assert.deepEqual(await firewallOf(id), [{ protocol: 'tcp', fromPort: 2222, toPort: 2222, cidr: '198.18.0.0/15' }], 'the VM\'s stored firewall has the rule added while it was made');
  await alice.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [rule] }));
  assert.deepEqual(await firewallOf(id), [], 'and follows the group afterwards');
  await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [id] });
  await alice.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitUntilInstanceTerminated({ client: alice, ...WAIT }, { InstanceIds: [id] });

  // A failure after the token's claim (before any create), after the create (before the record), after the record: the call fails, the VM it made (if any) is terminated, the token is free again.
  const live = async (): Promise<number> => (await cloud.api.listVms()).filter((v) => v.owner === 'alice' && v.state !== 'terminated').length;
  for (const point of ['ec2.run.claimed', 'ec2.run.created', 'ec2.run.recorded']) {
    const before = await live();
    failpoints.arm(point, () => { throw new Error(`failpoint ${point}`); });
    assert.match(await awsCode(alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, InstanceType: TINY, ClientToken: `fp-${point}` }))), /^InternalError/, point);
    await pollUntil(`${point}: the VM made is terminated`, async () => ((await live()) === before ? true : undefined), { timeoutMs: 120_000, intervalMs: 200 });
    const again = await alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, InstanceType: TINY, ClientToken: `fp-${point}` }));
    const againId = again.Instances?.[0]?.InstanceId ?? '';
    assert.equal(await live(), before + 1, `${point}: the token launches anew, once`);
    await waitUntilInstanceRunning({ client: alice, ...WAIT }, { InstanceIds: [againId] });
    await alice.send(new TerminateInstancesCommand({ InstanceIds: [againId] }));
    await waitUntilInstanceTerminated({ client: alice, ...WAIT }, { InstanceIds: [againId] });
  }
});

test('TerminateInstances of a pending instance (its boot still running) waits for the step and terminates it', async () => {
  const ami = (await alice.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
  let release = (): void => undefined;
  let reached = (): void => undefined;
  const atBoot = new Promise<void>((resolve) => (reached = resolve));
  // The boot step holds until released: the instance is pending, in nubo's `boot`, when the terminate comes.
  failpoints.arm('vm.boot', async () => { reached(); await new Promise<void>((resolve) => (release = resolve)); });
  const run = await alice.send(new RunInstancesCommand({ ImageId: ami, MinCount: 1, MaxCount: 1, InstanceType: TINY }));
  const id = run.Instances?.[0]?.InstanceId ?? '';
  let t;
  try {
    await atBoot;
    const vmId = await cloud.controller.ec2!.records.nuboIdOf('instance', id);
    assert.equal((await cloud.api.getVm(vmId ?? '')).state, 'boot');
    const terminating = alice.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    // Still waiting while the step runs: not refused with IncorrectInstanceState.
    const early = await Promise.race([terminating.then(() => 'answered', (err: unknown) => `failed: ${String(err)}`), new Promise((resolve) => setTimeout(() => resolve('waiting'), 500))]);
    assert.equal(early, 'waiting');
    release();
    t = await terminating;
  } finally {
    // A failed assertion must not leave the boot held (the suite's end would wait on it).
    release();
  }
  assert.equal(t.TerminatingInstances?.[0]?.InstanceId, id);
  assert.match(t.TerminatingInstances?.[0]?.CurrentState?.Name ?? '', /^(shutting-down|terminated)$/);
  await waitUntilInstanceTerminated({ client: alice, ...WAIT }, { InstanceIds: [id] });
  assert.equal((await cloud.api.getVm((await cloud.controller.ec2!.records.nuboIdOf('instance', id)) ?? '')).state, 'terminated');
});

test('SigV4: a wrong secret, an unknown key and a skewed clock are refused with EC2\'s codes, and nothing is done', async () => {
  const before = (await alice.send(new DescribeKeyPairsCommand({}))).KeyPairs?.length;
  const wrong = client(aliceKey.id, 'not-the-secret');
  assert.match(await awsCode(wrong.send(new CreateKeyPairCommand({ KeyName: 'forged' }))), /^AuthFailure/);
  const unknownKey = client('AKIAIOSFODNN7EXAMPLE', aliceKey.secret);
  assert.match(await awsCode(unknownKey.send(new CreateKeyPairCommand({ KeyName: 'forged' }))), /^InvalidAccessKeyId/);
  const skewed = client(aliceKey.id, aliceKey.secret, { systemClockOffset: -3_600_000 });
  assert.match(await awsCode(skewed.send(new CreateKeyPairCommand({ KeyName: 'forged' }))), /^RequestTimeTooSkewed/);
  for (const c of [wrong, unknownKey, skewed]) c.destroy();
  assert.equal((await alice.send(new DescribeKeyPairsCommand({}))).KeyPairs?.length, before, 'no key pair was made');
});

test('SigV4: a key revoked, or its user deleted, through the native API is refused by the very next request (the controller keeps opened keys)', async () => {
  const admin = cloud.api.token;
  const carol = await new TenancyClient(cloud.api.baseUrl, admin).createUser({ name: 'carol' });
  const keys = new AccessKeyClient(cloud.api.baseUrl, carol.token);
  const first = await keys.create('me', {});
  const second = await keys.create('me', {});
  const c1 = client(first.accessKeyId, first.secretAccessKey);
  const c2 = client(second.accessKeyId, second.secretAccessKey);
  try {
    // Each used once, so each is kept opened by the controller.
    assert.deepEqual((await c1.send(new DescribeKeyPairsCommand({}))).KeyPairs, []);
    assert.deepEqual((await c2.send(new DescribeKeyPairsCommand({}))).KeyPairs, []);
    await keys.delete('me', first.accessKeyId);
    assert.match(await awsCode(c1.send(new DescribeKeyPairsCommand({}))), /^InvalidAccessKeyId/, 'the revoked key, at once');
    assert.deepEqual((await c2.send(new DescribeKeyPairsCommand({}))).KeyPairs, [], 'the user\'s other key still works');
    await new TenancyClient(cloud.api.baseUrl, admin).deleteUser('carol');
    assert.match(await awsCode(c2.send(new DescribeKeyPairsCommand({}))), /^InvalidAccessKeyId/, 'a deleted user\'s key, at once');
  } finally {
    c1.destroy();
    c2.destroy();
  }
});

test('security groups: create, authorize, describe, duplicate and missing rules refused, revoke, delete', async () => {
  const g = await alice.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web servers' }));
  assert.match(g.GroupId ?? '', /^sg-[0-9a-f]{17}$/);
  assert.match(await awsCode(alice.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'again' }))), /^InvalidGroup\.Duplicate/);
  const rule = { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '198.18.0.0/15' }] };
  await alice.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: [rule] }));
  assert.match(await awsCode(alice.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: [rule] }))), /^InvalidPermission\.Duplicate/);
  assert.match(await awsCode(alice.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: [{ ...rule, FromPort: 90, ToPort: 80 }] }))), /^InvalidParameterValue: .*FromPort/);
  assert.match(await awsCode(alice.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: [{ ...rule, IpRanges: [{ CidrIp: '198.18.0.1/15' }] }] }))), /^InvalidParameterValue: .*CidrIp.*host bits/);
  const d = await alice.send(new DescribeSecurityGroupsCommand({ GroupIds: [g.GroupId ?? ''] }));
  assert.deepEqual(d.SecurityGroups?.[0]?.IpPermissions?.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.map((r) => r.CidrIp)]), [['tcp', 80, 80, ['198.18.0.0/15']]]);
  assert.match(await awsCode(bob.send(new DescribeSecurityGroupsCommand({ GroupIds: [g.GroupId ?? ''] }))), /^InvalidGroup\.NotFound/);
  await alice.send(new RevokeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: [rule] }));
  assert.match(await awsCode(alice.send(new RevokeSecurityGroupIngressCommand({ GroupId: g.GroupId, IpPermissions: [rule] }))), /^InvalidPermission\.NotFound/);
  await alice.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
  const names = (await alice.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups?.map((x) => x.GroupName);
  assert.deepEqual(names, ['default']);
});

test('awscli and boto3 speak to the same endpoint', async () => {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: aliceKey.id, AWS_SECRET_ACCESS_KEY: aliceKey.secret, AWS_DEFAULT_REGION: 'nubo-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PAGER: '' };
  const cli = await execFileP('/usr/bin/aws', ['ec2', 'describe-images', '--endpoint-url', endpoint, '--filters', 'Name=name,Values=tiny', '--output', 'json'], { env, timeout: 120_000 });
  const images = JSON.parse(cli.stdout) as { Images: { Name: string; ImageId: string }[] };
  assert.deepEqual(images.Images.map((i) => i.Name), ['tiny']);
  const created = await execFileP('/usr/bin/aws', ['ec2', 'create-key-pair', '--endpoint-url', endpoint, '--key-name', 'cli-key', '--output', 'json'], { env, timeout: 120_000 });
  assert.match((JSON.parse(created.stdout) as { KeyMaterial: string }).KeyMaterial, /BEGIN RSA PRIVATE KEY/);
  const py = [
    'import boto3, json, sys',
    `c = boto3.client("ec2", endpoint_url=${JSON.stringify(endpoint)}, region_name="nubo-1", aws_access_key_id=${JSON.stringify(aliceKey.id)}, aws_secret_access_key=${JSON.stringify(aliceKey.secret)})`,
    'keys = [k["KeyName"] for k in c.describe_key_pairs()["KeyPairs"]]',
    'zones = [z["ZoneName"] for z in c.describe_availability_zones()["AvailabilityZones"]]',
    'try:',
    '    c.describe_instances(InstanceIds=["i-00000000000000000"])',
    '    err = None',
    'except c.exceptions.ClientError as e:',
    '    err = e.response["Error"]["Code"]',
    'print(json.dumps({"keys": keys, "zones": zones, "err": err}))',
  ].join('\n');
  const out = await execFileP('/usr/bin/python3', ['-c', py], { env, timeout: 120_000 });
  assert.deepEqual(JSON.parse(out.stdout), { keys: ['cli-key'], zones: ['nubo-1a'], err: 'InvalidInstanceID.NotFound' });
});
