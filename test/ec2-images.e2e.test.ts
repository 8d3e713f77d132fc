import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { EC2Client, DescribeImagesCommand, waitUntilInstanceRunning, waitUntilInstanceStopped, waitUntilInstanceTerminated } from '@aws-sdk/client-ec2';
import { GetObjectCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { IMAGE_BUCKET } from '../src/controller/image-objects.js';
import { pollUntil } from '../src/util/deadline.js';

// Images as objects, driven end to end by the real clients against an
// in-process cloud with real QEMU: awscli uploads a qcow2 with multipart and
// registers it (RegisterImage), boto3 launches it with a key pair and user
// data, the SDK's waiters follow it, the agent fetches the image from the
// system bucket by a presigned GET, console output, stop/start, CreateImage,
// terminate; then RegisterImage with bad objects, another user's object and a
// missing key — each an AWS error with nothing registered.

const execFileP = promisify(execFile);
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const WAIT = { maxWaitTime: 600, minDelay: 1, maxDelay: 3 };
let cloud: InProcessCloud;
let ec2Url: string;
let s3Url: string;
let alice: { id: string; secret: string };
let bob: { id: string; secret: string };
let work: string;

function env(key: { id: string; secret: string }): NodeJS.ProcessEnv {
  return {
    ...process.env, AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret, AWS_DEFAULT_REGION: 'nubo-1', AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(work, 'aws-config'), AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PAGER: '',
  };
}

/** `/usr/bin/aws … --output json` as the given user; the parsed answer. */
async function aws(key: { id: string; secret: string }, args: string[]): Promise<Record<string, unknown>> {
  const endpoint = args[0] === 's3' || args[0] === 's3api' ? s3Url : ec2Url;
  const out = await execFileP('/usr/bin/aws', [...args, '--endpoint-url', endpoint, '--output', 'json'], { env: env(key), timeout: 300_000 });
  // The high-level `aws s3` commands print text, not JSON.
  return args[0] === 's3' || out.stdout.trim() === '' ? {} : (JSON.parse(out.stdout) as Record<string, unknown>);
}

/** The AWS error code of an awscli call that must fail, with its message. */
async function awsFails(key: { id: string; secret: string }, args: string[]): Promise<string> {
  try {
    await aws(key, args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    const m = /An error occurred \(([^)]+)\)[^:]*: (.*)/.exec(stderr);
    return m ? `${m[1]}: ${m[2]}` : stderr;
  }
  assert.fail(`aws ${args.join(' ')} succeeded`);
}

async function boto3(key: { id: string; secret: string }, lines: string[]): Promise<unknown> {
  const py = [
    'import boto3, json',
    `c = boto3.client("ec2", endpoint_url=${JSON.stringify(ec2Url)}, region_name="nubo-1", aws_access_key_id=${JSON.stringify(key.id)}, aws_secret_access_key=${JSON.stringify(key.secret)})`,
    ...lines,
  ].join('\n');
  const out = await execFileP('/usr/bin/python3', ['-c', py], { env: env(key), timeout: 300_000 });
  return JSON.parse(out.stdout);
}

/** What a registration could leave behind: images, templates, the system bucket's objects and the blob files. */
async function registered(): Promise<string> {
  const s = cloud.controller.store;
  return JSON.stringify({
    images: (await s.images.list()).map((i) => i.name).sort(),
    templates: (await s.templates.list()).map((t) => t.name).sort(),
    objects: (await s.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 100 })).map((o) => o.key),
    blobs: (await readdir(join(cloud.root, 'controller', 's3'))).length,
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** S3's multipart ETag: the MD5 of the parts' MD5s. */
function multipartMd5(b: Buffer, partSize: number): string {
  const all = createHash('md5');
  for (let at = 0; at < b.length; at += partSize) all.update(createHash('md5').update(b.subarray(at, at + partSize)).digest());
  return all.digest('hex');
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-ec2img-', logger, ec2: { listen: { host: '127.0.0.1', port: 0 } }, s3: { host: '127.0.0.1', port: 0 } });
  ec2Url = cloud.controller.ec2!.url;
  s3Url = cloud.controller.s3!.url;
  work = cloud.root;
  const a = (await cloud.controller.store.users.create({ name: 'alice' })).user.id;
  const b = (await cloud.controller.store.users.create({ name: 'bob' })).user.id;
  const ak = await cloud.controller.accessKeys.create(a);
  const bk = await cloud.controller.accessKeys.create(b);
  alice = { id: ak.key.id, secret: ak.secretAccessKey };
  bob = { id: bk.key.id, secret: bk.secretAccessKey };
  // A low threshold and 8 MiB parts: awscli uploads the 64 MiB disk below as a multipart upload of several parts.
  await writeFile(join(work, 'aws-config'), '[default]\nregion = nubo-1\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 8MB\n  addressing_style = path\n');
  // The tiny guest's data disk, written out in full (preallocated) so that it is big enough for several parts.
  await execFileP('qemu-img', ['convert', '-O', 'qcow2', '-o', 'preallocation=full', cloud.image.dataDisk, join(work, 'disk.qcow2')], { timeout: 120_000 });
  await writeFile(join(work, 'not-a-disk.qcow2'), 'this is text, not a disk image\n'.repeat(100));
  await execFileP('qemu-img', ['create', '-f', 'qcow2', '-b', join(work, 'disk.qcow2'), '-F', 'qcow2', join(work, 'overlay.qcow2')], { timeout: 60_000 });
});

after(async () => {
  await cloud?.stop();
});

test('awscli multipart upload, register-image, boto3 run_instances, SDK waiters, console, stop/start, create-image, terminate', async () => {
  await aws(alice, ['s3', 'mb', 's3://alice-images']);
  await aws(alice, ['s3', 'cp', join(work, 'disk.qcow2'), 's3://alice-images/tiny/disk.qcow2']);
  const object = await cloud.controller.store.s3.getObject('alice-images', 'tiny/disk.qcow2');
  const diskBytes = await readFile(join(work, 'disk.qcow2'));
  assert.equal(object?.size, diskBytes.length);
  // 64 MiB of data and the qcow2 metadata in 8 MiB parts: 9 of them.
  assert.equal(object?.etag, `${multipartMd5(diskBytes, 8 * 1024 ** 2)}-${Math.ceil(diskBytes.length / (8 * 1024 ** 2))}`, 'awscli used a multipart upload');
  assert.ok(Math.ceil(diskBytes.length / (8 * 1024 ** 2)) > 1);

  // The tiny template's kernel and initrd, named as DescribeImageAttribute shows them.
  const tiny = (await aws(alice, ['ec2', 'describe-images', '--filters', 'Name=name,Values=tiny'])) as { Images: { ImageId: string }[] };
  const tinyAmi = tiny.Images[0]?.ImageId ?? '';
  const kernel = ((await aws(alice, ['ec2', 'describe-image-attribute', '--image-id', tinyAmi, '--attribute', 'kernel'])) as { KernelId: { Value: string } }).KernelId.Value;
  const ramdisk = ((await aws(alice, ['ec2', 'describe-image-attribute', '--image-id', tinyAmi, '--attribute', 'ramdisk'])) as { RamdiskId: { Value: string } }).RamdiskId.Value;
  assert.deepEqual([kernel, ramdisk], ['tiny-kernel', 'tiny-initrd']);

  const reg = await aws(alice, ['ec2', 'register-image', '--name', 'alice-tiny', '--image-location', 'alice-images/tiny/disk.qcow2', '--architecture', 'x86_64', '--root-device-name', '/dev/vda', '--kernel-id', kernel, '--ramdisk-id', ramdisk]);
  const ami = String(reg['ImageId']);
  assert.match(ami, /^ami-[0-9a-f]{17}$/);
  // One store: the image's bytes are an object of the system bucket, a copy of alice's (she may delete hers).
  const img = (await cloud.controller.store.images.list()).find((i) => i.name === 'alice-tiny');
  assert.ok(img);
  // Every image is an object (the cloud's own uploaded ones too): this one's is a copy of alice's, its ETag her object's MD5.
  const objectsBefore = await cloud.controller.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 100 });
  const objects = objectsBefore.filter((o) => img.path === join(cloud.root, 'controller', 's3', o.blobId));
  assert.equal(objects.length, 1);
  assert.equal(objects[0]?.etag, createHash('md5').update(diskBytes).digest('hex'));
  assert.equal(img.sha256, sha256(diskBytes));
  await aws(alice, ['s3', 'rm', 's3://alice-images/tiny/disk.qcow2']);

  // Users neither see nor read the system bucket.
  const s3 = new S3Client({ endpoint: s3Url, region: 'nubo-1', forcePathStyle: true, credentials: { accessKeyId: alice.id, secretAccessKey: alice.secret } });
  assert.deepEqual((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['alice-images']);
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: IMAGE_BUCKET, Key: objects[0]?.key })), (e: Error) => e.name === 'AccessDenied');
  s3.destroy();

  // boto3 launches it with a key pair and user data (boto3 base64-encodes UserData itself).
  const launched = await boto3(alice, [
    'k = c.create_key_pair(KeyName="boto-key")',
    'r = c.run_instances(ImageId=' + JSON.stringify(ami) + ', InstanceType="nubo.tiny", MinCount=1, MaxCount=1, KeyName="boto-key", UserData="#!/bin/sh\\necho BOTO3-USER-DATA-RAN\\n")',
    'print(json.dumps({"id": r["Instances"][0]["InstanceId"], "key": k["KeyMaterial"][:10]}))',
  ]) as { id: string; key: string };
  assert.match(launched.id, /^i-[0-9a-f]{17}$/);
  const sdk = new EC2Client({ endpoint: ec2Url, region: 'nubo-1', credentials: { accessKeyId: alice.id, secretAccessKey: alice.secret }, maxAttempts: 1 });
  await waitUntilInstanceRunning({ client: sdk, ...WAIT }, { InstanceIds: [launched.id] });

  // The agent fetched the image through the S3 listener: the data route hands out a presigned GET of the system object.
  const host = await cloud.controller.store.hosts.list();
  const res = await fetch(`${cloud.controller.url}/api/v1/images/${img.id}/data`, { headers: { authorization: `Bearer ${host[0]?.agentToken ?? ''}` }, redirect: 'manual' });
  assert.equal(res.status, 307);
  const location = res.headers.get('location') ?? '';
  assert.ok(location.startsWith(`${s3Url}/${IMAGE_BUCKET}/images/`), location);
  assert.match(location, /X-Amz-Expires=300&.*X-Amz-Signature=[0-9a-f]{64}$/);
  assert.equal(sha256(Buffer.from(await (await fetch(location)).arrayBuffer())), img.sha256);
  const cached = (await readdir(join(cloud.hostDir('h1')), { recursive: true })).filter((f) => f.endsWith(`${img.id}.qcow2`));
  assert.equal(cached.length, 1, 'the host cached the image');
  assert.equal((await stat(join(cloud.hostDir('h1'), cached[0] ?? ''))).size, diskBytes.length);

  const consoleText = await pollUntil('NUBO-READY and the user data on the console', async () => {
    const out = (await aws(alice, ['ec2', 'get-console-output', '--instance-id', launched.id])) as { Output?: string };
    // awscli decodes the base64 output itself.
    const text = out.Output ?? '';
    return text.includes('NUBO-READY') && text.includes('BOTO3-USER-DATA-RAN') ? text : undefined;
  }, { timeoutMs: 300_000, intervalMs: 2_000 });
  assert.match(consoleText, /NUBO-READY/);

  await aws(alice, ['ec2', 'stop-instances', '--instance-ids', launched.id]);
  await waitUntilInstanceStopped({ client: sdk, ...WAIT }, { InstanceIds: [launched.id] });
  await aws(alice, ['ec2', 'start-instances', '--instance-ids', launched.id]);
  await waitUntilInstanceRunning({ client: sdk, ...WAIT }, { InstanceIds: [launched.id] });

  const saved = await aws(alice, ['ec2', 'create-image', '--instance-id', launched.id, '--name', 'alice-saved']);
  const savedAmi = String(saved['ImageId']);
  const mine = await sdk.send(new DescribeImagesCommand({ Owners: ['self'] }));
  assert.deepEqual(mine.Images?.map((i) => [i.ImageId, i.Name]).sort(), [[ami, 'alice-tiny'], [savedAmi, 'alice-saved']].sort());

  const terminated = await boto3(alice, [`r = c.terminate_instances(InstanceIds=[${JSON.stringify(launched.id)}])`, 'print(json.dumps(r["TerminatingInstances"][0]["InstanceId"]))']);
  assert.equal(terminated, launched.id);
  await waitUntilInstanceTerminated({ client: sdk, ...WAIT }, { InstanceIds: [launched.id] });
  // Deregistering leaves the image; deleting it takes its object and bytes out of the system bucket.
  await aws(alice, ['ec2', 'deregister-image', '--image-id', ami]);
  await cloud.api.deleteImage(img.id);
  const objectsAfter = (await cloud.controller.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 100 })).map((o) => o.key);
  assert.equal(objectsAfter.includes(objects[0]?.key ?? ''), false, 'the deleted image\'s object is gone');
  // CreateImage's disk is an object too: the cloud's images, then alice-saved's.
  const savedImg = (await cloud.controller.store.images.list()).find((i) => i.name === 'alice-saved');
  assert.ok(savedImg);
  assert.deepEqual(objectsAfter.sort(), [...objectsBefore.filter((o) => o.key !== objects[0]?.key).map((o) => o.key), `images/${savedImg.path.split('/').pop() ?? ''}`].sort());
  await assert.rejects(stat(img.path), /ENOENT/);
  sdk.destroy();
});

test('RegisterImage refuses bad objects, another user\'s object and a missing key with AWS codes, registering nothing', async () => {
  await aws(alice, ['s3', 'mb', 's3://alice-bad']);
  await aws(alice, ['s3', 'cp', join(work, 'not-a-disk.qcow2'), 's3://alice-bad/text.qcow2']);
  await aws(alice, ['s3', 'cp', join(work, 'overlay.qcow2'), 's3://alice-bad/overlay.qcow2']);
  await aws(bob, ['s3', 'mb', 's3://bob-images']);
  await aws(bob, ['s3', 'cp', join(work, 'disk.qcow2'), 's3://bob-images/disk.qcow2']);
  const before = await registered();
  const reg = (location: string, name = 'bad', extra: string[] = []): Promise<string> => awsFails(alice, ['ec2', 'register-image', '--name', name, '--image-location', location, ...extra]);

  assert.match(await reg('alice-bad/text.qcow2'), /^InvalidParameterValue: .*ImageLocation.*not a qcow2 image: qemu-img detects raw/);
  assert.match(await reg('alice-bad/overlay.qcow2'), /^InvalidParameterValue: .*ImageLocation.*has a backing file/);
  assert.match(await reg('bob-images/disk.qcow2'), /^InvalidParameterValue: .*ImageLocation.*no bucket bob-images of yours/);
  assert.match(await reg('alice-bad/missing.qcow2'), /^InvalidParameterValue: .*ImageLocation.*no object missing\.qcow2 in bucket alice-bad/);
  assert.match(await reg('no-such-bucket/x.qcow2'), /^InvalidParameterValue: .*ImageLocation.*no bucket no-such-bucket/);
  assert.match(await reg('just-a-bucket'), /^InvalidParameterValue: .*ImageLocation.*not bucket\/key/);
  assert.match(await reg(`${IMAGE_BUCKET}/images/x`), /^InvalidParameterValue: .*ImageLocation.*no bucket _nubo-images of yours/);
  assert.match(await reg('bob-images/disk.qcow2', 'x'), /^InvalidParameterValue: .*Name/);
  assert.match(await reg('alice-bad/text.qcow2', 'bad', ['--architecture', 'arm64']), /^InvalidParameterValue: .*Architecture/);
  assert.match(await reg('alice-bad/text.qcow2', 'bad', ['--kernel-id', 'no-such-kernel']), /^InvalidParameterValue: .*KernelId/);
  assert.match(await reg('alice-bad/text.qcow2', 'bad', ['--kernel-id', 'tiny-initrd']), /^InvalidParameterValue: .*KernelId.*not a kernel/);
  assert.match(await awsFails(alice, ['ec2', 'register-image', '--name', 'bad']), /^MissingParameter: .*ImageLocation/);
  assert.match(await reg('alice-bad/text.qcow2', 'tiny-saved', ['--block-device-mappings', 'DeviceName=/dev/vda,Ebs={SnapshotId=snap-00000000000000000}']), /^InvalidParameterCombination/);
  assert.equal(await registered(), before, 'nothing was registered, copied or left behind');

  // A good one, then the same name again: InvalidAMIName.Duplicate before any copy.
  await aws(alice, ['s3', 'cp', join(work, 'disk.qcow2'), 's3://alice-bad/good.qcow2']);
  const ok = await aws(alice, ['ec2', 'register-image', '--name', 'alice-good', '--image-location', 'alice-bad/good.qcow2']);
  assert.match(String(ok['ImageId']), /^ami-/);
  const afterGood = await registered();
  assert.match(await reg('alice-bad/good.qcow2', 'alice-good'), /^InvalidAMIName\.Duplicate/);
  assert.equal(await registered(), afterGood);
});
