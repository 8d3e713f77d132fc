import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { classifyCloudError, CloudEc2Client } from './cloud-ec2-client.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';

const sdkError = (name: string, status: number, fault: 'client' | 'server'): Error => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, $fault: fault });

test('a 4xx with an AWS code is the remote\'s refusal; capacity codes are marked', () => {
  const e = classifyCloudError('burst-1', sdkError('InsufficientInstanceCapacity', 400, 'client'));
  assert.ok(e instanceof CloudRefusedError);
  assert.equal(e.awsCode, 'InsufficientInstanceCapacity');
  assert.equal(e.capacity, true);
  assert.match(e.message, /^cloud burst-1 refused: InsufficientInstanceCapacity/);
  const quota = classifyCloudError('burst-1', sdkError('InstanceLimitExceeded', 400, 'client'));
  assert.ok(quota instanceof CloudRefusedError && quota.capacity);
  const ami = classifyCloudError('burst-1', sdkError('InvalidAMIID.NotFound', 400, 'client'));
  assert.ok(ami instanceof CloudRefusedError && !ami.capacity);
});

test('no connection, a time-out or a 5xx gave no verdict: unreachable', () => {
  assert.ok(classifyCloudError('c', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })) instanceof CloudUnreachableError);
  assert.ok(classifyCloudError('c', sdkError('InternalError', 500, 'server')) instanceof CloudUnreachableError);
  assert.ok(classifyCloudError('c', sdkError('TimeoutError', 400, 'client')) instanceof CloudUnreachableError);
  assert.ok(classifyCloudError('c', 'a string') instanceof CloudUnreachableError);
});

test('a closed port is reported unreachable through the SDK itself', async () => {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  const c = new CloudEc2Client({ name: 'gone', endpoint: `http://127.0.0.1:${port}`, region: 'nubo-1', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x'.repeat(40), requestTimeoutMs: 2_000 });
  try {
    await assert.rejects(c.describe(AbortSignal.timeout(10_000)), (e: unknown) => e instanceof CloudUnreachableError && /cloud gone unreachable/.test(e.message));
  } finally {
    c.destroy();
  }
});
