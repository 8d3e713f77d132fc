import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';

// A user registers their ssh public keys through the API (PUT replaces the
// list), reads them back from /users/me; bad keys are refused naming the
// field, and nothing is written. A real controller; no agent is needed.

interface ErrorBody { code: string; message: string; details: { issues?: { field: string; message: string }[] } }
interface Answer { status: number; body: { error?: ErrorBody } & Record<string, unknown> }

let root: string;
let controller: ControllerDaemon;
let alice: string;
let bob: string;
const keys: Record<'ed25519' | 'ecdsa' | 'rsa', string> = { ed25519: '', ecdsa: '', rsa: '' };

async function call(method: string, path: string, token: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${controller.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Answer['body'] };
}

const me = async (token: string): Promise<string[]> => {
  const a = await call('GET', '/api/v1/users/me', token);
  assert.equal(a.status, 200);
  return a.body['sshKeys'] as string[];
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-sshkeys-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  alice = (await controller.store.users.create({ name: 'alice' })).token;
  bob = (await controller.store.users.create({ name: 'bob' })).token;
  // Real keys, made by ssh-keygen as a user would.
  for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
    const file = join(root, `id_${type}`);
    execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `alice@${type}`, '-f', file]);
    keys[type] = (await readFile(`${file}.pub`, 'utf8')).trim();
  }
});

after(async () => {
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('PUT /users/me/ssh-keys replaces the caller\'s keys; /users/me shows them; another user\'s stay as they were', async () => {
  const bobKeys = [keys.rsa];
  assert.equal((await call('PUT', '/api/v1/users/me/ssh-keys', bob, { sshKeys: bobKeys })).status, 200);

  const set = await call('PUT', '/api/v1/users/me/ssh-keys', alice, { sshKeys: [keys.ed25519, keys.ecdsa] });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body['name'], 'alice');
  assert.deepEqual(set.body['sshKeys'], [keys.ed25519, keys.ecdsa]);
  assert.deepEqual(await me(alice), [keys.ed25519, keys.ecdsa]);
  assert.deepEqual((await controller.store.users.findByName('alice'))?.sshKeys, [keys.ed25519, keys.ecdsa], 'stored, so the config drive of her next VM has them');

  // Replaces, not appends; an empty list removes them all.
  assert.equal((await call('PUT', '/api/v1/users/me/ssh-keys', alice, { sshKeys: [keys.ecdsa] })).status, 200);
  assert.deepEqual(await me(alice), [keys.ecdsa]);
  assert.equal((await call('PUT', '/api/v1/users/me/ssh-keys', alice, { sshKeys: [] })).status, 200);
  assert.deepEqual(await me(alice), []);
  assert.deepEqual(await me(bob), bobKeys);
});

test('a key is kept as one line without the surrounding whitespace or line end a .pub file has', async () => {
  const a = await call('PUT', '/api/v1/users/me/ssh-keys', alice, { sshKeys: [`${keys.ed25519}\n`] });
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.deepEqual(await me(alice), [keys.ed25519]);
});

test('bad keys: 400 VALIDATION_FAILED naming sshKeys.N (or sshKeys), and nothing changed', async () => {
  assert.equal((await call('PUT', '/api/v1/users/me/ssh-keys', alice, { sshKeys: [keys.ed25519] })).status, 200);
  const blob = keys.ed25519.split(' ')[1]!;
  const cases: readonly (readonly [string, unknown, string])[] = [
    ['two lines in one key', { sshKeys: [keys.ecdsa, `${keys.ed25519}\n${keys.rsa}`] }, 'sshKeys.1'],
    ['a key with an embedded line end', { sshKeys: [`ssh-ed25519 ${blob} a\nruncmd: [reboot]`] }, 'sshKeys.0'],
    ['too long', { sshKeys: [`${keys.ed25519} ${'x'.repeat(8192)}`] }, 'sshKeys.0'],
    ['33 keys', { sshKeys: Array.from({ length: 33 }, () => keys.ed25519) }, 'sshKeys'],
    ['not a key', { sshKeys: [keys.ecdsa, 'not a key'] }, 'sshKeys.1'],
    ['an unknown key type', { sshKeys: [`ssh-foo ${blob}`] }, 'sshKeys.0'],
    ['a blob that is not base64', { sshKeys: ['ssh-ed25519 AAAA!!!! me@x'] }, 'sshKeys.0'],
    ['a blob of another type than the line says', { sshKeys: [`ssh-rsa ${blob}`] }, 'sshKeys.0'],
    ['a private key', { sshKeys: ['-----BEGIN OPENSSH PRIVATE KEY-----'] }, 'sshKeys.0'],
    ['an empty key', { sshKeys: [''] }, 'sshKeys.0'],
    ['not a string', { sshKeys: [42] }, 'sshKeys.0'],
    ['no list', {}, 'sshKeys'],
    ['an unknown field', { sshKeys: [], admin: true }, 'admin'],
  ];
  for (const [what, body, field] of cases) {
    const before = await controller.store.users.list();
    const a = await call('PUT', '/api/v1/users/me/ssh-keys', alice, body);
    assert.equal(a.status, 400, `${what}: ${JSON.stringify(a.body)}`);
    assert.equal(a.body.error?.code, 'VALIDATION_FAILED', what);
    const fields = (a.body.error?.details.issues ?? []).map((i) => i.field);
    assert.ok(fields.includes(field), `${what}: names ${field} in ${JSON.stringify(a.body.error)}`);
    assert.deepEqual(await controller.store.users.list(), before, `${what}: nothing written`);
  }
  assert.deepEqual(await me(alice), [keys.ed25519]);
});

test('without a token: 401 and nothing written', async () => {
  const before = await controller.store.users.list();
  const res = await fetch(`${controller.url}/api/v1/users/me/ssh-keys`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sshKeys: [keys.rsa] }) });
  assert.equal(res.status, 401);
  assert.deepEqual(await controller.store.users.list(), before);
});

test('the OpenAPI document describes the route', async () => {
  const doc = (await call('GET', '/api/v1/openapi.json', alice)).body as { paths: Record<string, Record<string, { requestBody?: unknown; tags?: string[] }>> };
  const put = doc.paths['/api/v1/users/me/ssh-keys']?.['put'];
  assert.ok(put, 'PUT /api/v1/users/me/ssh-keys is documented');
  assert.ok(put.requestBody, 'with its body');
  assert.deepEqual(put.tags, ['users']);
});
