import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlushBehind } from './flush-behind.js';

async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-flush-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a flush starts once `everyBytes` were written since the last, never two at once, and settled() waits for it', () => inDir(async (dir) => {
  const fh = await open(join(dir, 'f'), 'w');
  try {
    let flushes = 0;
    const f = new FlushBehind(fh, 1000, () => flushes++);
    await fh.write(Buffer.alloc(999), 0, 999, 0);
    f.wrote(999);
    await f.settled();
    assert.equal(flushes, 0, 'not yet due');
    await fh.write(Buffer.alloc(2001), 0, 2001, 999);
    f.wrote(1000);
    // Due again, but one runs: not started twice.
    f.wrote(3000);
    await f.settled();
    assert.equal(flushes, 1);
    f.wrote(3000);
    await f.settled();
    assert.equal(flushes, 2, 'due again once the first has ended: 2000 bytes since it began');
    f.wrote(3500);
    await f.settled();
    assert.equal(flushes, 2, '500 bytes since the last: not due');
  } finally {
    await fh.close();
  }
}));

test('a failed flush is kept and told by settled(): the final fdatasync on the same handle would not see it again', () => inDir(async (dir) => {
  const fh = await open(join(dir, 'f'), 'w');
  const f = new FlushBehind(fh, 1);
  await fh.close();
  f.wrote(10);
  await assert.rejects(f.settled(), { code: 'EBADF' });
  await assert.rejects(f.settled(), { code: 'EBADF' }, 'and again');
}));

test('finish(): the final fdatasync starts at once however little was written, after a flush that runs (never two at once), and settled() waits for it', async () => {
  let running = 0;
  let most = 0;
  const synced: number[] = [];
  let release: (() => void) | undefined;
  // A handle whose first fdatasync is held until released: finish() must wait for it before its own.
  const fh = {
    datasync: async (): Promise<void> => {
      running++;
      most = Math.max(most, running);
      if (synced.length === 0) await new Promise<void>((resolve) => (release = resolve));
      synced.push(running);
      running--;
    },
  } as unknown as FileHandle;
  const f = new FlushBehind(fh, 1000);
  f.wrote(1000);
  f.finish();
  f.finish();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(synced.length, 0, 'the flush that runs is held; the final one waits behind it');
  release!();
  await f.settled();
  assert.equal(synced.length, 2, 'one flush beside the writes and one final, however often finish() was called');
  assert.equal(most, 1, 'never two at once');
  const g = new FlushBehind(fh, 1_000_000);
  g.wrote(10);
  g.finish();
  await g.settled();
  assert.equal(synced.length, 3, 'finish() flushes a file far below `everyBytes`');
});

test('a failed final fdatasync is told by settled()', () => inDir(async (dir) => {
  const fh = await open(join(dir, 'f'), 'w');
  const f = new FlushBehind(fh);
  await fh.close();
  f.finish();
  await assert.rejects(f.settled(), { code: 'EBADF' });
}));
