import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsAuthError, type AwsAuthReason } from './aws-auth-error.js';
import { verifySigV4, type AccessKeySecret, type SigV4Options, type SigV4Request } from './verify-sigv4.js';

const KEY = { accessKeyId: 'AKIANUBOTEST00000001', secretAccessKey: 'nubo/Secret+Key/0123456789abcdefghijklmn' };
const AT = new Date('2026-12-05T04:30:00Z');
const UNSIGNED = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };

/** The keys a test knows; `lookups` counts calls so a test can see a refusal before the lookup. */
function keyring(): { keys: Map<string, AccessKeySecret>; lookup: SigV4Options['lookupSecret']; lookups: () => number } {
  const keys = new Map<string, AccessKeySecret>([[KEY.accessKeyId, { secret: KEY.secretAccessKey, userId: 'user-1' }]]);
  let n = 0;
  return { keys, lookup: async (id) => { n += 1; return keys.get(id); }, lookups: () => n };
}

interface PlainRequest { method: string; path: string; query?: Record<string, string>; headers: Record<string, string>; body?: string }

const signer = (service = 's3', region = 'nubo-1'): SignatureV4 =>
  new SignatureV4({ credentials: KEY, region, service, sha256: Sha256, uriEscapePath: service !== 's3' });

const toUrl = (path: string, query: Record<string, string | string[] | null> = {}): string => {
  const q = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v ?? ''))}`).join('&');
  return q === '' ? path : `${path}?${q}`;
};

const lower = (h: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

/** A request signed by the AWS SDK's own signer (@smithy/signature-v4), as the server would see it. */
async function signed(r: PlainRequest, o: { service?: string; region?: string; at?: Date } = {}): Promise<SigV4Request> {
  const s = await signer(o.service, o.region).sign(
    { method: r.method, protocol: 'http:', hostname: 'localhost', port: 7491, path: r.path, query: r.query ?? {}, headers: { host: 'localhost:7491', ...r.headers }, body: r.body },
    { signingDate: o.at ?? AT },
  );
  return { method: s.method, url: toUrl(s.path, s.query), headers: lower(s.headers) };
}

async function presigned(r: PlainRequest, expiresIn: number, at = AT): Promise<SigV4Request> {
  const s = await signer().presign(
    // As @aws-sdk/s3-request-presigner does: the payload is unsigned, and the claim travels in the query.
    { method: r.method, protocol: 'http:', hostname: 'localhost', port: 7491, path: r.path, query: r.query ?? {}, headers: { host: 'localhost:7491', ...UNSIGNED, ...r.headers } },
    { signingDate: at, expiresIn },
  );
  return { method: s.method, url: toUrl(s.path, s.query), headers: lower(s.headers) };
}

const opts = (lookup: SigV4Options['lookupSecret'], now = AT, service = 's3'): SigV4Options => ({ region: 'nubo-1', service, lookupSecret: lookup, now });

async function refused(p: Promise<unknown>, reason: AwsAuthReason): Promise<AwsAuthError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof AwsAuthError, `expected AwsAuthError(${reason}), got ${String(err)}`);
  assert.equal(err.reason, reason, err.message);
  return err;
}


test('a GET signed by the AWS SDK\'s signer verifies and names the key\'s user', async () => {
  const k = keyring();
  const req = await signed({ method: 'GET', path: '/bucket/dir/a%20key~%2A.txt', query: { 'list-type': '2', prefix: 'a b/ü' }, headers: UNSIGNED });
  const v = await verifySigV4(req, opts(k.lookup));
  assert.deepEqual({ id: v.accessKeyId, user: v.userId, payload: v.payload.kind, presigned: v.presigned }, { id: KEY.accessKeyId, user: 'user-1', payload: 'unsigned', presigned: false });
});

test('a signed sha256 payload is handed back for the body reader to check', async () => {
  const body = 'hello';
  const sha = createHash('sha256').update(body).digest('hex');
  const v = await verifySigV4(await signed({ method: 'PUT', path: '/b/k', headers: { 'x-amz-content-sha256': sha }, body }), opts(keyring().lookup));
  assert.deepEqual(v.payload, { kind: 'sha256', sha256: sha });
});

test('a tampered signature, path, query or signed header is SignatureDoesNotMatch (S3) / AuthFailure (EC2)', async () => {
  const k = keyring();
  const req = await signed({ method: 'GET', path: '/b/k', query: { a: '1' }, headers: { ...UNSIGNED, 'x-amz-meta-x': 'v' } });
  const auth = req.headers.authorization as string;
  const flipped = auth.replace(/Signature=(.)/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`);
  const e = await refused(verifySigV4({ ...req, headers: { ...req.headers, authorization: flipped } }, opts(k.lookup)), 'signature');
  assert.equal(e.awsCode('s3'), 'SignatureDoesNotMatch');
  assert.equal(e.awsCode('ec2'), 'AuthFailure');
  await refused(verifySigV4({ ...req, url: req.url.replace('/b/k', '/b/other') }, opts(k.lookup)), 'signature');
  await refused(verifySigV4({ ...req, url: req.url.replace('a=1', 'a=2') }, opts(k.lookup)), 'signature');
  await refused(verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-meta-x': 'w' } }, opts(k.lookup)), 'signature');
  await refused(verifySigV4({ ...req, method: 'DELETE' }, opts(k.lookup)), 'signature');
});

test('a clock more than 15 minutes off is RequestTimeTooSkewed, checked before the key is looked up', async () => {
  const k = keyring();
  const req = await signed({ method: 'GET', path: '/', headers: UNSIGNED });
  await verifySigV4(req, opts(k.lookup, new Date(AT.getTime() + 14 * 60_000)));
  await verifySigV4(req, opts(k.lookup, new Date(AT.getTime() - 14 * 60_000)));
  const before = k.lookups();
  for (const off of [16, -16]) {
    const e = await refused(verifySigV4(req, opts(k.lookup, new Date(AT.getTime() + off * 60_000))), 'skewed');
    assert.equal(e.awsCode('s3'), 'RequestTimeTooSkewed');
  }
  assert.equal(k.lookups(), before);
});

test('a credential scoped to another region or service is refused', async () => {
  const k = keyring();
  const e = await refused(verifySigV4(await signed({ method: 'GET', path: '/', headers: UNSIGNED }, { region: 'us-east-1' }), opts(k.lookup)), 'wrong-scope');
  assert.match(e.message, /region 'us-east-1' is wrong; expecting 'nubo-1'/);
  await refused(verifySigV4(await signed({ method: 'GET', path: '/', headers: UNSIGNED }, { service: 'ec2' }), opts(k.lookup)), 'wrong-scope');
  await refused(verifySigV4(await signed({ method: 'GET', path: '/', headers: UNSIGNED }), opts(k.lookup, AT, 'ec2')), 'wrong-scope');
});

test('an unknown or revoked access key is InvalidAccessKeyId, and revocation holds for the very next request', async () => {
  const k = keyring();
  const req = await signed({ method: 'GET', path: '/', headers: UNSIGNED });
  await verifySigV4(req, opts(k.lookup));
  k.keys.delete(KEY.accessKeyId);
  const e = await refused(verifySigV4(req, opts(k.lookup)), 'unknown-key');
  assert.equal(e.awsCode('s3'), 'InvalidAccessKeyId');
});

test('a key with another secret does not verify', async () => {
  const k = keyring();
  k.keys.set(KEY.accessKeyId, { secret: 'another-secret', userId: 'user-1' });
  await refused(verifySigV4(await signed({ method: 'GET', path: '/', headers: UNSIGNED }), opts(k.lookup)), 'signature');
});

test('a presigned URL verifies until its X-Amz-Expires and is refused after, and a tampered one never', async () => {
  const k = keyring();
  const req = await presigned({ method: 'GET', path: '/b/obj', headers: {} }, 60);
  const v = await verifySigV4(req, opts(k.lookup, new Date(AT.getTime() + 59_000)));
  assert.deepEqual({ presigned: v.presigned, payload: v.payload.kind }, { presigned: true, payload: 'unsigned' });
  const e = await refused(verifySigV4(req, opts(k.lookup, new Date(AT.getTime() + 61_000))), 'expired');
  assert.equal(e.awsCode('s3'), 'AccessDenied');
  assert.equal(e.message, 'Request has expired');
  await refused(verifySigV4({ ...req, url: req.url.replace('X-Amz-Expires=60', 'X-Amz-Expires=600') }, opts(k.lookup)), 'signature');
  await refused(verifySigV4({ ...req, url: req.url.replace('/b/obj', '/b/obj2') }, opts(k.lookup)), 'signature');
  await refused(verifySigV4({ ...req, url: req.url.replace('X-Amz-Expires=60', 'X-Amz-Expires=0') }, opts(k.lookup)), 'malformed');
});

test('an EC2 form body is verified by the hash of the body the server holds', async () => {
  const k = keyring();
  const body = 'Action=DescribeInstances&Version=2016-11-15';
  const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const req = await signed({ method: 'POST', path: '/', headers, body }, { service: 'ec2' });
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
  const v = await verifySigV4({ ...req, bodySha256: sha(body) }, opts(k.lookup, AT, 'ec2'));
  assert.equal(v.userId, 'user-1');
  const e = await refused(verifySigV4({ ...req, bodySha256: sha(`${body}&InstanceId.1=i-1`) }, opts(k.lookup, AT, 'ec2')), 'signature');
  assert.equal(e.awsCode('ec2'), 'AuthFailure');
});

test('an unsigned request, a malformed header or a non-SigV4 algorithm is refused with what is wrong', async () => {
  const k = keyring();
  const e = await refused(verifySigV4({ method: 'GET', url: '/', headers: { host: 'h' } }, opts(k.lookup)), 'missing');
  assert.equal(e.awsCode('s3'), 'AccessDenied');
  await refused(verifySigV4({ method: 'GET', url: '/', headers: { host: 'h', authorization: 'AWS AKIA:sig' } }, opts(k.lookup)), 'malformed');
  const req = await signed({ method: 'GET', path: '/', headers: UNSIGNED });
  await refused(verifySigV4({ ...req, headers: { ...req.headers, authorization: (req.headers.authorization as string).replace(/SignedHeaders=[^,]*,/, '') } }, opts(k.lookup)), 'malformed');
  await refused(verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-date': '2026-12-05' } }, opts(k.lookup)), 'malformed');
  const noSha = { ...req.headers };
  delete noSha['x-amz-content-sha256'];
  await refused(verifySigV4({ ...req, headers: noSha }, opts(k.lookup)), 'malformed');
  await refused(verifySigV4({ ...req, url: '/%zz' }, opts(k.lookup)), 'malformed');
  assert.equal(k.lookups(), 0);
});
