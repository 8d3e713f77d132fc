import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { AccessKeyClient } from '../src/client/access-key-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { remoteRejects } from './support/remote-rejects.js';

// Access keys through the real native API: a user's own, an admin's for
// anyone, another user's refused as if absent; every refusal changes nothing;
// the secret is stored sealed and revocation is immediate.

let root: string;
let controller: ControllerDaemon;
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
const keys = (who: keyof typeof tokens): AccessKeyClient => new AccessKeyClient(controller.url, tokens[who]);
const rows = async (): Promise<string> => JSON.stringify(await controller.store.db.selectFrom('access_keys').selectAll().orderBy('id').execute());

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-akeys-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  tokens.admin = (await controller.bootstrapAdmin())!;
  const ten = new TenancyClient(controller.url, tokens.admin);
  tokens.alice = (await ten.createUser({ name: 'alice' })).token;
  tokens.bob = (await ten.createUser({ name: 'bob' })).token;
});

after(async () => {
  await controller?.stop();
  await rm(root, { recursive: true, force: true });
});

test('a user makes, lists and deletes their own access keys; the secret is shown once and stored sealed', async () => {
  const made = await keys('alice').create('me', { description: 'laptop' });
  assert.match(made.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
  assert.equal(made.secretAccessKey.length, 40);
  const listed = await keys('alice').list('me');
  assert.deepEqual(listed.map((k) => [k.accessKeyId, k.description]), [[made.accessKeyId, 'laptop']]);
  assert.ok(!JSON.stringify(listed).includes(made.secretAccessKey), 'a listing never holds the secret');
  const row = await controller.store.db.selectFrom('access_keys').selectAll().where('id', '=', made.accessKeyId).executeTakeFirstOrThrow();
  assert.ok(!row.secret_sealed.includes(made.secretAccessKey), 'the store holds the secret sealed, not as it is');
  const keyFile = join(root, 'controller', 'access-keys.key');
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  assert.equal((await readFile(keyFile)).length, 32);
  assert.equal((await controller.accessKeys.lookupSecret(made.accessKeyId))?.secret, made.secretAccessKey);
  await keys('alice').delete('me', made.accessKeyId);
  assert.equal(await controller.accessKeys.lookupSecret(made.accessKeyId), undefined, 'revoked for the very next lookup');
  await remoteRejects(keys('alice').delete('me', made.accessKeyId), 404, 'NOT_FOUND');
});

test('another user\'s keys are out of reach (404, nothing changed); an admin manages anyone\'s', async () => {
  const alices = await keys('alice').create('me', {});
  const before = await rows();
  await remoteRejects(keys('bob').list('alice'), 404, 'NOT_FOUND');
  await remoteRejects(keys('bob').create('alice', {}), 404, 'NOT_FOUND');
  await remoteRejects(keys('bob').delete('alice', alices.accessKeyId), 404, 'NOT_FOUND');
  await remoteRejects(keys('bob').delete('me', alices.accessKeyId), 404, 'NOT_FOUND');
  assert.equal(await rows(), before);
  const byAdmin = await keys('admin').create('alice', { description: 'ci' });
  assert.equal(byAdmin.userId, (await keys('alice').list('me'))[0]!.userId);
  assert.deepEqual((await keys('admin').list('alice')).map((k) => k.accessKeyId).sort(), [alices.accessKeyId, byAdmin.accessKeyId].sort());
  await keys('admin').delete('alice', byAdmin.accessKeyId);
  assert.deepEqual((await keys('alice').list('me')).map((k) => k.accessKeyId), [alices.accessKeyId]);
});

test('bad input is refused naming the field, and writes nothing', async () => {
  const before = await rows();
  await remoteRejects(keys('alice').create('me', { description: 'a\u0007b' }), 400, 'VALIDATION_FAILED', 'description');
  await remoteRejects(keys('alice').create('me', { description: 'x'.repeat(257) }), 400, 'VALIDATION_FAILED', 'description');
  await remoteRejects(keys('alice').delete('me', 'not-a-key-id'), 400, 'VALIDATION_FAILED', 'key');
  assert.equal(await rows(), before);
});

test('a restarted controller opens the secrets it sealed (same key file)', async () => {
  const made = await keys('alice').create('me', {});
  const dataDir = join(root, 'controller');
  await controller.stop();
  controller = await ControllerDaemon.start({ dataDir, listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  assert.equal((await controller.accessKeys.lookupSecret(made.accessKeyId))?.secret, made.secretAccessKey);
});
