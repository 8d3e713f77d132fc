import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSaveMarker, writeSaveMarker } from './save-marker.js';

test('the marker keeps the attempt\'s mode; an older agent\'s marker (no mode) still reads; a bad one reads as none', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-marker-'));
  try {
    const path = join(dir, 'save.json');
    await writeSaveMarker(path, { token: 'a1b2c3d4e5f60718', wasRunning: true, mode: 'fd' });
    assert.deepEqual(await readSaveMarker(path), { token: 'a1b2c3d4e5f60718', wasRunning: true, mode: 'fd' });
    // Rewritten before a fallback's writer starts.
    await writeSaveMarker(path, { token: 'a1b2c3d4e5f60718', wasRunning: true, mode: 'exec' });
    assert.equal((await readSaveMarker(path))?.mode, 'exec');
    // Format 2's save, whose retry looks for the part's header.
    await writeSaveMarker(path, { token: 'a1b2c3d4e5f60718', wasRunning: true, mode: 'ram' });
    assert.equal((await readSaveMarker(path))?.mode, 'ram');
    await writeFile(path, JSON.stringify({ token: 'a1b2c3d4e5f60718', wasRunning: false }));
    assert.deepEqual(await readSaveMarker(path), { token: 'a1b2c3d4e5f60718', wasRunning: false });
    await writeFile(path, JSON.stringify({ token: 'a1b2c3d4e5f60718', wasRunning: false, mode: 'pipe' }));
    assert.equal(await readSaveMarker(path), undefined);
    assert.equal(await readSaveMarker(join(dir, 'none.json')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
