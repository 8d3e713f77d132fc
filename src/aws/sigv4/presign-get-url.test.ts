import { test } from 'node:test';
import assert from 'node:assert/strict';
import { presignGetUrl } from './presign-get-url.js';
import { verifySigV4 } from './verify-sigv4.js';
import { AwsAuthError } from './aws-auth-error.js';

const now = new Date('2026-01-02T03:04:05Z');
const input = { endpoint: 'http://127.0.0.1:7491', bucket: '_nubo-images', key: 'images/a b+c.qcow2', accessKeyId: 'AKIANUBOSYSTEM000001', secret: 'sekrit', region: 'nubo-1', expiresSeconds: 300, now };
const lookupSecret = async (id: string) => (id === input.accessKeyId ? { secret: 'sekrit', userId: 'nubo-system' } : undefined);

function requestOf(url: string, method = 'GET'): { method: string; url: string; headers: Record<string, string> } {
  const u = new URL(url);
  return { method, url: u.pathname + u.search, headers: { host: u.host } };
}

test('a presigned GET verifies as the signer, within its expiry', async () => {
  const url = presignGetUrl(input);
  assert.match(url, /^http:\/\/127\.0\.0\.1:7491\/_nubo-images\/images\/a%20b%2Bc\.qcow2\?X-Amz-Algorithm=AWS4-HMAC-SHA256&/);
  const v = await verifySigV4(requestOf(url), { region: 'nubo-1', service: 's3', lookupSecret, now: new Date(now.getTime() + 299_000) });
  assert.equal(v.userId, 'nubo-system');
  assert.equal(v.presigned, true);
});

test('a presigned GET is refused once expired, for another key, or with another secret', async () => {
  const url = presignGetUrl(input);
  await assert.rejects(verifySigV4(requestOf(url), { region: 'nubo-1', service: 's3', lookupSecret, now: new Date(now.getTime() + 301_000) }), (e: unknown) => e instanceof AwsAuthError && e.reason === 'expired');
  const tampered = url.replace('images%2F', 'images/').replace('a%20b', 'a%20c');
  await assert.rejects(verifySigV4(requestOf(tampered), { region: 'nubo-1', service: 's3', lookupSecret, now }), (e: unknown) => e instanceof AwsAuthError && e.reason === 'signature');
  const other = presignGetUrl({ ...input, secret: 'other' });
  await assert.rejects(verifySigV4(requestOf(other), { region: 'nubo-1', service: 's3', lookupSecret, now }), (e: unknown) => e instanceof AwsAuthError && e.reason === 'signature');
});

test('a presigned PUT verifies as a PUT with an unsigned body, and not as a GET (nor a GET\'s URL as a PUT)', async () => {
  const put = presignGetUrl({ ...input, method: 'PUT' });
  const v = await verifySigV4(requestOf(put, 'PUT'), { region: 'nubo-1', service: 's3', lookupSecret, now });
  assert.equal(v.userId, 'nubo-system');
  assert.deepEqual(v.payload, { kind: 'unsigned' });
  await assert.rejects(verifySigV4(requestOf(put, 'GET'), { region: 'nubo-1', service: 's3', lookupSecret, now }), (e: unknown) => e instanceof AwsAuthError && e.reason === 'signature');
  await assert.rejects(verifySigV4(requestOf(presignGetUrl(input), 'PUT'), { region: 'nubo-1', service: 's3', lookupSecret, now }), (e: unknown) => e instanceof AwsAuthError && e.reason === 'signature');
});
