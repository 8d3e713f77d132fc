import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHostHealth } from './read-host-health.js';

test('healthy without flag and with a passing command; degraded by the flag file, a failing or hanging command', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-health-'));
  try {
    const file = join(dir, 'degraded');
    assert.equal(await readHostHealth({ file }), null);
    assert.equal(await readHostHealth({ file, command: ['true'] }), null);
    assert.match((await readHostHealth({ file, command: ['false'] })) ?? '', /health check false failed/);
    assert.match((await readHostHealth({ file, command: ['sleep', '5'], timeoutMs: 200 })) ?? '', /health check sleep failed/);
    await writeFile(file, 'fan 3 stopped\nmore\n');
    assert.equal(await readHostHealth({ file, command: ['true'] }), 'fan 3 stopped');
    await writeFile(file, '');
    assert.match((await readHostHealth({ file })) ?? '', /health flag .* is set/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
