import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHostSecretFile } from './host-secret-file.js';
import { UsageError } from './usage-error.js';

test('the host secret is the file\'s trimmed text', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-secret-'));
  try {
    await writeFile(join(dir, 'h1.token'), 'abc123\n');
    assert.equal(await readHostSecretFile(join(dir, 'h1.token')), 'abc123');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing or empty token file is an input error saying how to make one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-secret-'));
  try {
    const missing = join(dir, 'h1.token');
    await assert.rejects(readHostSecretFile(missing), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.code, 'BAD_INPUT_FILE');
      assert.match(e.message, new RegExp(`^--token-file ${missing}: no such file; .*openssl rand -hex 32 > ${missing}.*--agent-token-file ${missing}`));
      return true;
    });
    await writeFile(missing, '  \n');
    await assert.rejects(readHostSecretFile(missing), (e: unknown) => e instanceof UsageError && /is empty; it holds the host's secret/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
