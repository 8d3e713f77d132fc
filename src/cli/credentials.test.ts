import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveCredentials } from './credentials.js';
import { emptyHome } from './cli-test-kit.js';
import { UsageError } from './usage-error.js';

test('flags win over the environment, which wins over credentials.json; a trailing slash is dropped', async () => {
  const home = emptyHome();
  writeFileSync(join(home, 'credentials.json'), JSON.stringify({ url: 'http://file:1', token: 'file-token' }));
  assert.deepEqual(await resolveCredentials({}, { NUBO_HOME: home }), { url: 'http://file:1', token: 'file-token' });
  assert.deepEqual(await resolveCredentials({}, { NUBO_HOME: home, NUBO_URL: 'http://env:2/', NUBO_TOKEN: 'env-token' }), { url: 'http://env:2', token: 'env-token' });
  assert.deepEqual(await resolveCredentials({ url: 'http://flag:3', token: 'flag-token' }, { NUBO_HOME: home, NUBO_URL: 'http://env:2' }), { url: 'http://flag:3', token: 'flag-token' });
  // Each field on its own: URL from the flag, token from the file.
  assert.deepEqual(await resolveCredentials({ url: 'http://flag:3' }, { NUBO_HOME: home }), { url: 'http://flag:3', token: 'file-token' });
});

test('nothing configured, a broken file and a bad URL are usage errors', async () => {
  const home = emptyHome();
  await assert.rejects(resolveCredentials({}, { NUBO_HOME: home }), (e: unknown) => e instanceof UsageError && e.code === 'NO_CREDENTIALS' && /nubo up/.test(e.message));
  await assert.rejects(resolveCredentials({ url: 'http://x:1' }, { NUBO_HOME: home }), (e: unknown) => e instanceof UsageError && /no controller token/.test(e.message));
  writeFileSync(join(home, 'credentials.json'), '{nope');
  await assert.rejects(resolveCredentials({}, { NUBO_HOME: home }), (e: unknown) => e instanceof UsageError && e.code === 'BAD_CREDENTIALS');
  await assert.rejects(resolveCredentials({ url: 'ftp://x', token: 't' }, { NUBO_HOME: home }), (e: unknown) => e instanceof UsageError && e.code === 'BAD_CREDENTIALS');
});
