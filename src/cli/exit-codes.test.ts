import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { apiError, creds, emptyHome, runCli, startFakeApi, TOKEN, type FakeApi } from './cli-test-kit.js';
import { vm, vmDetail } from './cli-fixtures.js';

let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/vms': () => ({ body: [vm()] }),
    'GET /api/v1/vms/vm-404': () => apiError(404, 'NOT_FOUND', 'VM vm-404 not found'),
    'GET /api/v1/vms/vm-500': () => apiError(500, 'INTERNAL', 'internal error; see the server log'),
    'GET /api/v1/vms/vm-bad': () => ({ body: { ...vmDetail(), state: 'levitating' } }),
    'POST /api/v1/vms/vm-1/actions/suspend': () => apiError(409, 'INVALID_STATE', 'cannot suspend VM in state poweroff (allowed from: running)', { state: 'poweroff' }),
    'POST /api/v1/vms': () =>
      apiError(400, 'VALIDATION_FAILED', 'invalid request body: name: must be 1-63 chars', {
        location: 'body',
        issues: [{ field: 'name', message: 'must be 1-63 chars of letters, digits and ._-, starting with a letter or digit' }, { field: 'vcpus', message: 'too big' }],
      }),
  });
});
after(() => api.close());

test('no credentials anywhere: exit 2 and a hint to run `nubo up`', async () => {
  const r = await runCli(['vm', 'list']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error \[NO_CREDENTIALS\].*run `nubo up`/);
  assert.equal(r.stdout, '');
});

test('credentials come from NUBO_URL/NUBO_TOKEN, and from $NUBO_HOME/credentials.json', async () => {
  const fromEnv = await runCli(['vm', 'list'], { NUBO_URL: api.url, NUBO_TOKEN: TOKEN });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const home = emptyHome();
  writeFileSync(join(home, 'credentials.json'), JSON.stringify({ url: api.url, token: TOKEN }));
  const fromFile = await runCli(['vm', 'list'], { NUBO_HOME: home });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.match(fromFile.stdout, /web-1/);
});

test('a wrong token: 401 → exit 2', async () => {
  const r = await runCli(['vm', 'list', '--url', api.url, '--token', 'wrong-token']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error \[UNAUTHORIZED\]/);
});

test('400 VALIDATION_FAILED → exit 2, listing each field', async () => {
  const r = await runCli(['vm', 'create', ...creds(api), '--template', 'small', '--name', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error \[VALIDATION_FAILED\]: invalid request body/);
  assert.match(r.stderr, /\n {2}name: must be 1-63 chars/);
  assert.match(r.stderr, /\n {2}vcpus: too big/);
});

test('404 → exit 1 with "not found"', async () => {
  const r = await runCli(['vm', 'show', 'vm-404', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error \[NOT_FOUND\]: VM vm-404 not found/);
});

test('409 wrong state → exit 1 with the server message naming the state', async () => {
  const r = await runCli(['vm', 'suspend', 'vm-1', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error \[INVALID_STATE\]: cannot suspend VM in state poweroff/);
});

test('5xx → exit 1; an answer outside the contract → exit 1', async () => {
  const r = await runCli(['vm', 'show', 'vm-500', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error \[INTERNAL\]/);
  const bad = await runCli(['vm', 'show', 'vm-bad', ...creds(api)]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error \[BAD_RESPONSE\].*state/);
});

test('an unreachable controller → exit 1 and a hint', async () => {
  // A port that was free a moment ago: nothing listens on it.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const r = await runCli(['host', 'list', '--url', `http://127.0.0.1:${port}`, '--token', TOKEN]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`controller at http://127.0.0.1:${port} unreachable .*is \`nubo up\` running\\?`));
});

test('bad flags are usage errors (exit 2) and send nothing', async () => {
  const before = api.requests.length;
  const r = await runCli(['vm', 'create', ...creds(api), '--template', 't', '--vcpus', 'many']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--vcpus/);
  const missing = await runCli(['vm', 'create', '--user-data-file', '/nonexistent/file', '--template', 't', ...creds(api)]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /BAD_INPUT_FILE/);
  assert.equal(api.requests.length, before);
});
