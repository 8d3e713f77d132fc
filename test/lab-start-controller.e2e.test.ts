import { after, before, test } from 'node:test';
import { DescribeAvailabilityZonesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NuboClient } from '../src/client/nubo-client.js';
import { labCredentialsFile, type LabCredentials } from '../src/lab/lab-controller.js';
import { LAB_NETWORK } from '../src/lab/lab-catalog.js';
import { labDown } from '../src/lab/lab.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { httpGet } from './support/http-get.js';
import { labLeftovers } from './support/lab-checks.js';

/**
 * The README's first steps in the lab (run under `flock /tmp/nubo-lab.lock`):
 * `nubo lab up --hosts 1 --start-controller` gives its controller the tiny
 * images, the `lab` network and the `tiny` template; a VM made from it
 * answers HTTP from the root namespace through the fabric; its EC2 and S3
 * listeners answer on the fabric address with a key made by `nubo user
 * access-key create`; `lab down` leaves nothing.
 */

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'nubo.js');
const prefix = `ns${randomBytes(3).toString('hex')}`;
let root: string;
let dir: string;
let env: NodeJS.ProcessEnv;

const cli = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, timeout: 500_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-labcat-'));
  dir = join(root, 'lab');
  env = { ...process.env, NUBO_HOME: root, NUBO_IMAGE_CACHE: imageCacheDir() };
  delete env['NUBO_URL'];
  delete env['NUBO_TOKEN'];
});

after(async () => {
  await labDown(dir).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

test('lab up --start-controller: a tiny VM on the lab network answers HTTP from the root namespace', async () => {
  const port = await freePort();
  const ec2Port = await freePort();
  const s3Port = await freePort();
  const up = await cli(['lab', 'up', '--hosts', '1', '--start-controller', '--controller-port', String(port), '--ec2-port', String(ec2Port), '--s3-port', String(s3Port), '--prefix', prefix, '--dir', dir]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /template tiny/);
  assert.match(up.stdout, new RegExp(`EC2 endpoint http://198\\.18\\.0\\.1:${ec2Port} `));
  assert.match(up.stdout, new RegExp(`S3 endpoint http://198\\.18\\.0\\.1:${s3Port} `));
  const creds = JSON.parse(await readFile(labCredentialsFile(dir), 'utf8')) as LabCredentials;
  const api = new NuboClient(creds.url, creds.token);
  assert.deepEqual((await api.listTemplates()).map((t) => t.name), ['tiny']);
  assert.equal((await api.listNetworks())[0]?.cidr, LAB_NETWORK.cidr);

  // A second `up` finds the catalog complete.
  const again = await cli(['lab', 'up', '--hosts', '1', '--start-controller', '--controller-port', String(port), '--prefix', prefix, '--dir', dir]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /the lab was complete already/);

  const as = { NUBO_URL: creds.url, NUBO_TOKEN: creds.token };
  const status = await cli(['lab', 'status', '--prefix', prefix, '--dir', dir]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`EC2 endpoint http://198\\.18\\.0\\.1:${ec2Port}, S3 endpoint http://198\\.18\\.0\\.1:${s3Port}`));

  // The README's `aws --endpoint-url http://198.18.0.1:7490 ec2 describe-availability-zones` on the lab: the listeners are there.
  const keyOut = await cli(['user', 'access-key', 'create', '--json'], as);
  assert.equal(keyOut.code, 0, keyOut.stderr);
  const key = JSON.parse(keyOut.stdout) as { accessKeyId: string; secretAccessKey: string };
  const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  const ec2 = new EC2Client({ endpoint: `http://198.18.0.1:${ec2Port}`, region: 'nubo-1', credentials, maxAttempts: 1 });
  const s3 = new S3Client({ endpoint: `http://198.18.0.1:${s3Port}`, region: 'nubo-1', forcePathStyle: true, credentials, maxAttempts: 1 });
  try {
    const zones = await ec2.send(new DescribeAvailabilityZonesCommand({}));
    assert.deepEqual(zones.AvailabilityZones?.map((z) => [z.ZoneName, z.State]), [['nubo-1a', 'available']]);
    await s3.send(new CreateBucketCommand({ Bucket: 'lab-bucket' }));
    assert.deepEqual((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['lab-bucket']);
  } finally {
    ec2.destroy();
    s3.destroy();
  }
  const created = await cli(['vm', 'create', '--template', 'tiny', '--name', 'first', '--wait', '--json'], as);
  assert.equal(created.code, 0, created.stderr);
  const id = (JSON.parse(created.stdout) as { id: string }).id;
  const address = (await api.getVm(id)).nics[0]?.address?.split('/')[0];
  assert.ok(address !== undefined && address !== LAB_NETWORK.gateway, `a lease on the lab network: ${address}`);
  const page = await pollUntil(`GET http://${address}/`, async () => httpGet(`http://${address}/`, 3_000).catch(() => undefined), { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal(page.status, 200);

  const gone = await cli(['vm', 'terminate', id, '--wait'], as);
  assert.equal(gone.code, 0, gone.stderr);
  const down = await cli(['lab', 'down', '--prefix', prefix, '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await labLeftovers(prefix), []);
});
