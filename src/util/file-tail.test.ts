import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepFileTail, readFilesTail, utf8StartOffset } from './file-tail.js';

async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-file-tail-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('utf8StartOffset: skips the continuation bytes of a character cut at the head, never more than three', () => {
  const euro = Buffer.from('€x'); // e2 82 ac 78
  assert.equal(utf8StartOffset(euro), 0);
  assert.equal(utf8StartOffset(euro.subarray(1)), 2);
  assert.equal(utf8StartOffset(euro.subarray(2)), 1);
  assert.equal(utf8StartOffset(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x41])), 3);
  assert.equal(utf8StartOffset(Buffer.alloc(0)), 0);
});

test('readFilesTail: the files read as one, the older first; a missing file is empty; only the tail, from a whole character', async () => {
  await inDir(async (dir) => {
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    await writeFile(a, 'boot 1\r\n');
    await writeFile(b, 'boot 2 €\r\n');
    assert.equal(await readFilesTail([a, b], 1024), 'boot 1\r\nboot 2 €\r\n');
    assert.equal(await readFilesTail([join(dir, 'none'), b], 1024), 'boot 2 €\r\n');
    assert.equal(await readFilesTail([join(dir, 'none')], 1024), '');
    // 'boot 2 €\r\n' is 12 bytes; its last 4 are the euro's last two bytes and CRLF: the cut character is dropped.
    assert.equal(await readFilesTail([a, b], 4), '\r\n');
    // The tail spans both files: the end of the first, all of the second.
    assert.equal(await readFilesTail([a, b], 15), '1\r\nboot 2 €\r\n');
  });
});

test('readFilesTail: a large log is read from its tail only (a 64 KiB answer from 8 MiB)', async () => {
  await inDir(async (dir) => {
    const f = join(dir, 'big.log');
    await writeFile(f, Buffer.concat([Buffer.alloc(8 * 1024 * 1024, 0x61), Buffer.from('THE END\n')]));
    const t = await readFilesTail([f], 65536);
    assert.equal(Buffer.byteLength(t), 65536);
    assert.ok(t.endsWith('aTHE END\n'));
  });
});

test('keepFileTail: a file over the cap keeps its last bytes from a whole character, mode 0600, nothing else left; one under it is untouched', async () => {
  await inDir(async (dir) => {
    const f = join(dir, 'console.log');
    assert.equal(await keepFileTail(f, 10), false, 'no file: nothing to do');
    await writeFile(f, 'short\n', { mode: 0o644 });
    assert.equal(await keepFileTail(f, 10), false);
    assert.equal(await readFile(f, 'utf8'), 'short\n');
    await writeFile(f, 'old line\r\n€€ new line\r\n');
    // The last 13 bytes start inside the second euro sign.
    assert.equal(await keepFileTail(f, 13), true);
    assert.equal(await readFile(f, 'utf8'), ' new line\r\n');
    assert.equal((await stat(f)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['console.log']);
  });
});
