import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { s3StoreSnapshot } from './support/s3-store-snapshot.js';

// The S3 listener driven by the clients users have: Debian's awscli
// (`aws s3 …`, `aws s3api …`) and boto3 (test/support/s3_boto3_flow.py),
// each run with an environment of its own (temp HOME, config and credential
// files), so nothing of this machine's AWS setup leaks in.

const AWS = '/usr/bin/aws';
const PYTHON = '/usr/bin/python3';
const BOTO3_FLOW = fileURLToPath(new URL('../../test/support/s3_boto3_flow.py', import.meta.url));

let root: string;
let work: string;
let controller: ControllerDaemon;
let env: NodeJS.ProcessEnv;
let key: { id: string; secret: string };

interface Run { code: number; stdout: string; stderr: string }

function run(cmd: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...env, ...extraEnv }, cwd: work, maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function aws(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await run(AWS, ['--endpoint-url', controller.s3!.url, ...args], extraEnv);
  assert.equal(r.code, 0, `aws ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** An awscli command that must fail with the given S3 error code. */
async function awsFails(args: readonly string[], code: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
  const r = await run(AWS, ['--endpoint-url', controller.s3!.url, ...args], extraEnv);
  assert.notEqual(r.code, 0, `aws ${args.join(' ')} should have failed`);
  assert.match(r.stderr, new RegExp(`\\(${code}\\)`), r.stderr);
}

const s3api = async (args: readonly string[]): Promise<Record<string, unknown>> => {
  const out = await aws(['s3api', ...args, '--output', 'json']);
  return out.trim() === '' ? {} : JSON.parse(out) as Record<string, unknown>;
};

const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');
const multipartEtag = (parts: readonly Buffer[]): string =>
  `"${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-${parts.length}"`;

const snapshot = (): Promise<string> => s3StoreSnapshot(controller.store, join(root, 'controller', 's3'));

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-s3cli-'));
  work = join(root, 'client');
  await mkdir(join(work, 'home'), { recursive: true });
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, s3: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  await controller.bootstrapAdmin();
  const alice = (await controller.store.users.create({ name: 'alice' })).user;
  const k = await controller.accessKeys.create(alice.id);
  key = { id: k.key.id, secret: k.secretAccessKey };
  // awscli's transfer settings: 20 MiB goes up in 5 MiB parts (4 of them).
  await writeFile(join(work, 'config'), '[default]\nregion = nubo-1\ns3 =\n  multipart_threshold = 8MB\n  multipart_chunksize = 5MB\n');
  await writeFile(join(work, 'credentials'), '');
  env = {
    PATH: '/usr/bin:/bin',
    HOME: join(work, 'home'),
    AWS_CONFIG_FILE: join(work, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'credentials'),
    AWS_ACCESS_KEY_ID: key.id,
    AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_DEFAULT_REGION: 'nubo-1',
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
});

after(async () => {
  await controller?.stop();
  await rm(root, { recursive: true, force: true });
});

test('aws s3: mb, cp up and down of 20 MiB in 4 parts, ls with a prefix, sync, presign, rm, rb', async () => {
  await aws(['s3', 'mb', 's3://cli-high']);
  const big = randomBytes(20 << 20);
  await writeFile(join(work, 'big.bin'), big);
  await aws(['s3', 'cp', 'big.bin', 's3://cli-high/disks/big.bin']);
  const head = await s3api(['head-object', '--bucket', 'cli-high', '--key', 'disks/big.bin']);
  const parts = [0, 1, 2, 3].map((i) => big.subarray(i * (5 << 20), (i + 1) * (5 << 20)));
  assert.equal(head.ETag, multipartEtag(parts), 'S3\'s multipart ETag: md5 of the part md5s, -4');
  assert.equal(head.ContentLength, big.length);
  await aws(['s3', 'cp', 's3://cli-high/disks/big.bin', 'big.down']);
  assert.ok((await readFile(join(work, 'big.down'))).equals(big), 'the bytes came back');

  await mkdir(join(work, 'site', 'css'), { recursive: true });
  await writeFile(join(work, 'site', 'index.html'), '<h1>nubo</h1>');
  await writeFile(join(work, 'site', 'css', 'a.css'), 'h1{}');
  await aws(['s3', 'sync', 'site', 's3://cli-high/site']);
  await writeFile(join(work, 'site', 'about.html'), 'about');
  const second = await aws(['s3', 'sync', 'site', 's3://cli-high/site']);
  assert.match(second, /upload: site\/about\.html/);
  assert.doesNotMatch(second, /index\.html/, 'sync uploads only what changed');
  const ls = await aws(['s3', 'ls', 's3://cli-high/site/']);
  assert.match(ls, /PRE css\//);
  assert.match(ls, /\s13 index\.html/);
  assert.match(ls, /\s5 about\.html/);
  assert.doesNotMatch(ls, /big\.bin/, 'the prefix limits the listing');

  const url = (await aws(['s3', 'presign', 's3://cli-high/site/index.html', '--expires-in', '60'])).trim();
  const got = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  assert.equal(got.status, 200);
  assert.equal(await got.text(), '<h1>nubo</h1>');

  await aws(['s3', 'rm', '--recursive', 's3://cli-high/']);
  await aws(['s3', 'rb', 's3://cli-high']);
  assert.equal(await controller.store.db.selectFrom('s3_buckets').where('name', '=', 'cli-high').select('name').executeTakeFirst(), undefined);
  assert.deepEqual(await readdir(join(root, 'controller', 's3')), [], 'no blob is left');
});

test('aws s3api: put-object with metadata, head-object, get-object --range, copy-object, delete-objects, list-object-versions', async () => {
  await aws(['s3api', 'create-bucket', '--bucket', 'cli-api']);
  const body = 'hello from awscli s3api';
  await writeFile(join(work, 'hello.txt'), body);
  const put = await s3api(['put-object', '--bucket', 'cli-api', '--key', 'docs/hello.txt', '--body', 'hello.txt', '--content-type', 'text/plain', '--metadata', 'colour=blue,owner=alice']);
  assert.equal(put.ETag, `"${md5(body)}"`);
  const head = await s3api(['head-object', '--bucket', 'cli-api', '--key', 'docs/hello.txt']);
  assert.deepEqual(head.Metadata, { colour: 'blue', owner: 'alice' });
  assert.equal(head.ContentType, 'text/plain');
  assert.equal(head.ContentLength, body.length);
  const range = await s3api(['get-object', '--bucket', 'cli-api', '--key', 'docs/hello.txt', '--range', 'bytes=6-9', 'range.out']);
  assert.equal(range.ContentRange, `bytes 6-9/${body.length}`);
  assert.equal(await readFile(join(work, 'range.out'), 'utf8'), 'from');
  const copy = await s3api(['copy-object', '--bucket', 'cli-api', '--key', 'docs/copy.txt', '--copy-source', 'cli-api/docs/hello.txt']);
  assert.equal((copy.CopyObjectResult as { ETag: string }).ETag, `"${md5(body)}"`);
  await s3api(['copy-object', '--bucket', 'cli-api', '--key', 'docs/meta.txt', '--copy-source', 'cli-api/docs/hello.txt', '--metadata-directive', 'REPLACE', '--metadata', 'colour=red']);
  const stored = await controller.store.db.selectFrom('s3_objects').where('bucket', '=', 'cli-api').where('key', '=', 'docs/meta.txt').select('headers').executeTakeFirstOrThrow();
  assert.equal((JSON.parse(stored.headers) as Record<string, string>)['x-amz-meta-colour'], 'red', 'REPLACE took the new metadata');
  const versions = await s3api(['list-object-versions', '--bucket', 'cli-api', '--prefix', 'docs/']);
  assert.deepEqual((versions.Versions as { Key: string; VersionId: string; IsLatest: boolean }[]).map((v) => [v.Key, v.VersionId, v.IsLatest]),
    [['docs/copy.txt', 'null', true], ['docs/hello.txt', 'null', true], ['docs/meta.txt', 'null', true]]);
  const del = await s3api(['delete-objects', '--bucket', 'cli-api', '--delete', JSON.stringify({ Objects: [{ Key: 'docs/copy.txt' }, { Key: 'docs/meta.txt' }, { Key: 'nope' }] })]);
  assert.deepEqual((del.Deleted as { Key: string }[]).map((d) => d.Key).sort(), ['docs/copy.txt', 'docs/meta.txt', 'nope']);
  const left = await s3api(['list-objects-v2', '--bucket', 'cli-api']);
  assert.deepEqual((left.Contents as { Key: string }[]).map((c) => c.Key), ['docs/hello.txt']);
  await awsFails(['s3api', 'get-object', '--bucket', 'cli-api', '--key', 'docs/hello.txt', '--range', 'bytes=999-', 'x.out'], 'InvalidRange');
});

test('boto3: upload_fileobj in 3 parts, download, list_objects_v2 paginator with a delimiter, presigned PUT and GET, head metadata, delete_objects; path-like keys opaque, NUL refused', async () => {
  const outside = (await readdir(root)).sort();
  const r = await run(PYTHON, [BOTO3_FLOW, controller.s3!.url, 'boto-flow', work, 'flow']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    multipartEtag: string; partMd5s: string[]; headMetadata: Record<string, string>; headLength: number; downloadEqual: boolean;
    listing: { keys: string[]; prefixes: string[]; pages: number }; presignedPut: number; presignedGet: [number, string];
    deleted: string[]; left: string[]; pathKeys: Record<string, string>; nulKey: string | null;
  };
  const expected = `"${createHash('md5').update(Buffer.concat(out.partMd5s.map((h) => Buffer.from(h, 'hex')))).digest('hex')}-3"`;
  assert.equal(out.partMd5s.length, 3);
  assert.equal(out.multipartEtag, expected);
  assert.deepEqual(out.headMetadata, { origin: 'boto3' });
  assert.equal(out.headLength, 12 << 20);
  assert.equal(out.downloadEqual, true);
  assert.deepEqual(out.listing.keys, ['tree/c']);
  assert.deepEqual(out.listing.prefixes, ['tree/a/', 'tree/b/', 'tree/d/']);
  assert.ok(out.listing.pages >= 2, `the paginator followed continuation tokens (${out.listing.pages} pages)`);
  assert.equal(out.presignedPut, 200);
  assert.deepEqual(out.presignedGet, [200, 'put through a boto3 presigned URL']);
  assert.deepEqual(out.deleted, ['never-was', 'tree/a/1', 'tree/c']);
  assert.deepEqual(out.left, ['tree/a/2', 'tree/b/1', 'tree/d/x/y']);
  assert.deepEqual(out.pathKeys, Object.fromEntries(['../x', '/abs', 'a/../../b', '..', './.'].map((k) => [k, `value of ${k}`])), 'keys that look like paths are opaque');
  assert.deepEqual((await readdir(root)).sort(), outside, 'nothing appeared beside the data directory');
  assert.ok((await readdir(join(root, 'controller', 's3'))).every((f) => /^[0-9a-f-]{36}$/.test(f)), 'blobs are named by id only');
  assert.equal(out.nulKey, 'InvalidArgument', 'NUL is refused with S3\'s code (the error document stays parseable)');
});

test('SigV4 refusals through awscli and boto3: wrong secret, unknown key, wrong region, skewed clock, expired presigned URL, wrong service — nothing changes', async () => {
  await aws(['s3', 'mb', 's3://cli-auth']);
  await writeFile(join(work, 'x.txt'), 'x');
  await aws(['s3', 'cp', 'x.txt', 's3://cli-auth/kept']);
  const before = await snapshot();
  const put = ['s3api', 'put-object', '--bucket', 'cli-auth', '--key', 'refused', '--body', 'x.txt'];
  // Independent refusals, run side by side: each awscli start costs seconds on a loaded machine.
  const [r] = await Promise.all([
    run(PYTHON, [BOTO3_FLOW, controller.s3!.url, 'cli-auth', work, 'refusals']),
    awsFails(put, 'SignatureDoesNotMatch', { AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) }),
    awsFails(put, 'InvalidAccessKeyId', { AWS_ACCESS_KEY_ID: 'AKIAAAAAAAAAAAAAAAAA' }),
    awsFails([...put, '--region', 'us-east-1'], 'AuthorizationHeaderMalformed'),
    awsFails(['s3', 'rb', 's3://cli-auth', '--force'], 'SignatureDoesNotMatch', { AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) }),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(out.wrongSecret, 'SignatureDoesNotMatch');
  assert.equal(out.unknownKey, 'InvalidAccessKeyId');
  assert.equal(out.wrongRegion, 'AuthorizationHeaderMalformed');
  assert.equal(out.skewed, 'RequestTimeTooSkewed');
  const [expiredStatus, expiredBody] = out.expiredPresigned as [number, string];
  assert.equal(expiredStatus, 403);
  assert.match(expiredBody, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  const [serviceStatus, serviceBody] = out.wrongService as [number, string];
  assert.equal(serviceStatus, 400);
  assert.match(serviceBody, /<Code>AuthorizationHeaderMalformed<\/Code>/);
  assert.equal(await snapshot(), before, 'no refusal changed anything');
  assert.match(await aws(['s3', 'ls', 's3://cli-auth/']), /^\S+ \S+\s+1 kept\n$/, 'the bucket lists as before: only what was put');
});
