import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiError, creds, emptyHome, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';

// `nubo user show` and `nubo user ssh-key add|list|remove` against a fake API
// that keeps one user's keys as the controller would (PUT replaces them).

const home = emptyHome();
const ssh = join(home, '.ssh');
mkdirSync(ssh);
const made: Record<string, { line: string; fingerprint: string }> = {};
for (const type of ['ed25519', 'ecdsa', 'rsa']) {
  const file = join(ssh, `id_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `me@${type}`, '-f', file]);
  made[type] = {
    line: readFileSync(`${file}.pub`, 'utf8').trim(),
    fingerprint: execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!,
  };
}
const key = (t: string): { line: string; fingerprint: string } => made[t]!;

let keys: string[] = [];
const me = (): Record<string, unknown> => ({ id: 'u-1', name: 'alice', role: 'user', sshKeys: keys, createdAt: '2026-12-04T10:00:00.000Z' });
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/users/me': () => ({ body: me() }),
    'PUT /api/v1/users/me/ssh-keys': (r: RecordedRequest) => {
      const body = r.body as { sshKeys: string[] };
      if (body.sshKeys.length > 32) return apiError(400, 'VALIDATION_FAILED', 'invalid request body', { issues: [{ field: 'sshKeys', message: 'too many' }] });
      keys = body.sshKeys;
      return { body: me() };
    },
  });
});
after(() => api.close());
beforeEach(() => {
  keys = [];
});

/** The CLI with HOME at the test's, so that ~/.ssh is the one with the keys made above. */
const nubo = (args: readonly string[], env: Record<string, string> = {}) => runCli([...args, ...creds(api)], { HOME: home, ...env });
const puts = (): RecordedRequest[] => api.requests.filter((r) => r.method === 'PUT');

test('user show: who the token belongs to, with the number of keys; --json is the API\'s answer', async () => {
  keys = [key('ed25519').line];
  const r = await nubo(['user', 'show']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^name:\s+alice$/m);
  assert.match(r.stdout, /^role:\s+user$/m);
  assert.match(r.stdout, /^ssh keys:\s+1$/m);
  const j = await nubo(['user', 'show', '--json']);
  assert.deepEqual(JSON.parse(j.stdout), me());
});

test('ssh-key add FILE appends the key to the registered ones and says when it takes effect', async () => {
  keys = [key('rsa').line];
  const before = puts().length;
  const r = await nubo(['user', 'ssh-key', 'add', join(ssh, 'id_ecdsa.pub')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(puts().length, before + 1);
  assert.deepEqual(puts().at(-1)!.body, { sshKeys: [key('rsa').line, key('ecdsa').line] });
  assert.match(r.stdout, new RegExp(`added ssh key ${key('ecdsa').fingerprint.replace(/[+/]/g, '\\$&')} \\(me@ecdsa\\)`));
  assert.match(r.stdout, /VMs created from now on/);
});

test('ssh-key add without a file takes ~/.ssh/id_ed25519.pub, then id_ecdsa.pub, then id_rsa.pub', async () => {
  const r = await nubo(['user', 'ssh-key', 'add']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(keys, [key('ed25519').line]);
  const noEd = emptyHome();
  mkdirSync(join(noEd, '.ssh'));
  writeFileSync(join(noEd, '.ssh', 'id_rsa.pub'), `${key('rsa').line}\n`);
  writeFileSync(join(noEd, '.ssh', 'id_ecdsa.pub'), `${key('ecdsa').line}\n`);
  keys = [];
  const s = await nubo(['user', 'ssh-key', 'add'], { HOME: noEd });
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(keys, [key('ecdsa').line]);
  const none = emptyHome();
  const n = await nubo(['user', 'ssh-key', 'add'], { HOME: none });
  assert.equal(n.code, 2);
  assert.match(n.stderr, /id_ed25519\.pub/);
  assert.match(n.stderr, /ssh-keygen/);
});

test('ssh-key add - reads the key from standard input', async () => {
  const cli = fileURLToPath(new URL('../nubo.js', import.meta.url));
  // runCli gives the CLI no standard input; this one pipes the key in.
  const child = spawn(process.execPath, [cli, 'user', 'ssh-key', 'add', '-', '--url', api.url, '--token', TOKEN], { env: { PATH: process.env['PATH'] ?? '', HOME: home, NUBO_HOME: emptyHome() } });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.end(`${key('rsa').line}\n`);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, err);
  assert.deepEqual(keys, [key('rsa').line]);
});

test('ssh-key add of a key already registered changes nothing', async () => {
  keys = [key('ed25519').line];
  const before = puts().length;
  const r = await nubo(['user', 'ssh-key', 'add', join(ssh, 'id_ed25519.pub')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(puts().length, before, 'no request that writes');
  assert.match(r.stdout, /already registered/);
});

test('ssh-key add refuses a private key, a file that is no key and a missing file (exit 2, nothing sent)', async () => {
  writeFileSync(join(home, 'junk.pub'), 'hello world\n');
  const before = puts().length;
  for (const [file, message] of [
    [join(ssh, 'id_ed25519'), /private key.*\.pub/],
    [join(home, 'junk.pub'), /junk\.pub line 1: .*not an ssh public key type/],
    [join(home, 'missing.pub'), /missing\.pub/],
  ] as const) {
    const r = await nubo(['user', 'ssh-key', 'add', file]);
    assert.equal(r.code, 2, `${file}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(puts().length, before);
  assert.deepEqual(keys, []);
});

test('ssh-key list: index, type, fingerprint and comment; --json is the list', async () => {
  keys = [key('ed25519').line, key('rsa').line];
  const r = await nubo(['user', 'ssh-key', 'list']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.split('\n').some((l) => /^0\s+ssh-ed25519\s+/.test(l) && l.includes(key('ed25519').fingerprint) && l.endsWith('me@ed25519')), r.stdout);
  assert.ok(r.stdout.split('\n').some((l) => /^1\s+ssh-rsa\s+/.test(l) && l.includes(key('rsa').fingerprint)), r.stdout);
  assert.deepEqual(JSON.parse((await nubo(['user', 'ssh-key', 'list', '--json'])).stdout), keys);
  keys = [];
  assert.match((await nubo(['user', 'ssh-key', 'list'])).stdout, /^\(none\)$/m);
});

test('ssh-key remove N or FINGERPRINT removes that key and keeps the others', async () => {
  keys = [key('ed25519').line, key('ecdsa').line, key('rsa').line];
  const r = await nubo(['user', 'ssh-key', 'remove', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(puts().at(-1)!.body, { sshKeys: [key('ed25519').line, key('rsa').line] });
  assert.match(r.stdout, /removed ssh key 1/);
  const f = await nubo(['user', 'ssh-key', 'remove', key('rsa').fingerprint]);
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(keys, [key('ed25519').line]);
  const before = puts().length;
  for (const ref of ['5', 'SHA256:nope', 'x']) {
    const n = await nubo(['user', 'ssh-key', 'remove', ref]);
    assert.equal(n.code, 2, `${ref}: ${n.stderr}`);
    assert.match(n.stderr, /ssh-key list/);
  }
  assert.equal(puts().length, before);
  assert.deepEqual(keys, [key('ed25519').line]);
});

test('a refusal of the controller is reported with the field it names (exit 2)', async () => {
  keys = Array.from({ length: 32 }, () => key('rsa').line);
  const r = await nubo(['user', 'ssh-key', 'add', join(ssh, 'id_ed25519.pub')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /sshKeys/);
});

test('the help says that keys reach the VMs created afterwards', async () => {
  const r = await runCli(['user', 'ssh-key', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /created/);
  assert.match(r.stdout, /add/);
  assert.match(r.stdout, /remove/);
});
