import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { commitStateFile, removeAttemptFiles, saveAttemptFiles, stateWriterUri, waitWriterExit, WatchedFlushBehind } from './state-file-writer.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { ValidationError } from '../../errors/validation-error.js';
import { pollUntil } from '../../util/deadline.js';

async function withDir(fn: (dir: string) => Promise<void>, name = 'nubo-sfw-'): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), name));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * What QEMU does with an `exec:` URI: `/bin/sh -c` with the stream on its stdin (a pipe). The stream starts only after
 * that shell has exited (it runs the writer detached and ends at once), as a shell QEMU killed would have: the writer
 * alone reads the pipe. Resolves once the sender closed its end.
 */
async function streamAsQemu(dir: string, uri: string, data: Buffer): Promise<void> {
  assert.ok(uri.startsWith('exec:'));
  const src = join(dir, 'stream.bin');
  await writeFile(src, data);
  const sh = spawn('/bin/sh', ['-c', '(sleep 0.3; cat "$1") | /bin/sh -c "$2"', 'sh', src, uri.slice('exec:'.length)], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => sh.on('exit', resolve));
  assert.equal(code, 0);
  await rm(src);
}

test('the writer gets the whole stream and reports 0 though the shell QEMU spawned ends before the stream does', () => withDir(async (dir) => {
  const files = saveAttemptFiles(join(dir, 'memory.state'), 'a1b2c3d4e5f60718');
  await writeFile(files.part, '', { mode: 0o600 });
  const data = randomBytes(9 * 1024 * 1024 + 5);
  await streamAsQemu(dir, stateWriterUri(files), data);
  assert.equal(await waitWriterExit(files.rc, { timeoutMs: 30_000 }), 0);
  assert.deepEqual(await readFile(files.part), data);
  assert.equal((await stat(files.part)).mode & 0o777, 0o600, 'the file the agent made, not one the writer created');
}));

test('paths with spaces and quotes reach the writer as they are', () => withDir(async (dir) => {
  const files = saveAttemptFiles(join(dir, "it's a state"), '0123456789abcdef');
  await writeFile(files.part, '');
  await streamAsQemu(dir, stateWriterUri(files), Buffer.from('quoted'));
  assert.equal(await waitWriterExit(files.rc, { timeoutMs: 30_000 }), 0);
  assert.equal(await readFile(files.part, 'utf8'), 'quoted');
}, "nubo sfw '$x` "));

test('a writer that cannot write reports its failure as a non-zero status', () => withDir(async (dir) => {
  const files = saveAttemptFiles(join(dir, 'gone', 'memory.state'), '0123456789abcdef');
  // Its directory does not exist: dd cannot open the part file, and its status says so (the rc file goes beside, so the directory is made after).
  const rcFiles = saveAttemptFiles(join(dir, 'memory.state'), '0123456789abcdef');
  const uri = stateWriterUri({ part: files.part, rc: rcFiles.rc });
  await streamAsQemu(dir, uri, Buffer.from('x'));
  assert.notEqual(await waitWriterExit(rcFiles.rc, { timeoutMs: 30_000 }), 0);
}));

test('the token must be hex: it names files beside the state file', () => {
  assert.throws(() => saveAttemptFiles('/x/memory.state', '../../etc'), ValidationError);
  assert.throws(() => saveAttemptFiles('/x/memory.state', 'abc'), ValidationError);
  assert.deepEqual(saveAttemptFiles('/x/memory.state', 'deadbeef'), { part: '/x/memory.state.deadbeef.part', rc: '/x/memory.state.deadbeef.rc' });
});

test('waitWriterExit resolves once the rc file is renamed into place, reads only a whole one, and times out with a TimeoutError', () => withDir(async (dir) => {
  const rc = join(dir, 'm.rc');
  const waiting = waitWriterExit(rc, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 50));
  await writeFile(`${rc}.tmp`, '3\n');
  await rename(`${rc}.tmp`, rc);
  assert.equal(await waiting, 3);
  await assert.rejects(waitWriterExit(join(dir, 'never.rc'), { timeoutMs: 150 }), TimeoutError);
  const ac = new AbortController();
  const aborted = waitWriterExit(join(dir, 'never.rc'), { signal: ac.signal, timeoutMs: 10_000 });
  ac.abort(new Error('gave up'));
  await assert.rejects(aborted, /gave up/);
}));

test('removeAttemptFiles removes every attempt\'s part and rc files but the kept one, never the state file or anything else', () => withDir(async (dir) => {
  const state = join(dir, 'memory.state');
  const a = saveAttemptFiles(state, 'aaaaaaaaaaaaaaaa');
  const b = saveAttemptFiles(state, 'bbbbbbbbbbbbbbbb');
  for (const f of [state, a.part, a.rc, `${a.rc}.tmp`, b.part, b.rc, join(dir, 'disk.qcow2'), join(dir, 'memory.state.notes')]) await writeFile(f, 'x');
  await removeAttemptFiles(state, b);
  assert.deepEqual((await readdir(dir)).sort(), ['disk.qcow2', 'memory.state', 'memory.state.bbbbbbbbbbbbbbbb.part', 'memory.state.bbbbbbbbbbbbbbbb.rc', 'memory.state.notes']);
  await removeAttemptFiles(state);
  assert.deepEqual((await readdir(dir)).sort(), ['disk.qcow2', 'memory.state', 'memory.state.notes']);
}));

test('commitStateFile renames the part into place and returns its size', () => withDir(async (dir) => {
  const part = join(dir, 'm.part');
  await writeFile(part, Buffer.alloc(12345, 7));
  assert.equal(await commitStateFile(part, join(dir, 'memory.state')), 12345);
  assert.deepEqual(await readdir(dir), ['memory.state']);
}));

test('WatchedFlushBehind flushes a file another writer fills as it grows, and tells its first bytes once', () => withDir(async (dir) => {
  const path = join(dir, 'grown');
  await writeFile(path, '');
  const mine = await open(path, 'r+');
  const theirs = await open(path, 'r+');
  let flushes = 0;
  let firsts = 0;
  const w = new WatchedFlushBehind(mine, { everyBytes: 1024 * 1024, intervalMs: 2, onFlushed: () => flushes++, onFirstBytes: () => void firsts++ });
  try {
    for (let i = 0; i < 8; i++) {
      await theirs.write(randomBytes(1024 * 1024), 0, 1024 * 1024, i * 1024 * 1024);
      await pollUntil('the size seen', () => (w.size >= (i + 1) * 1024 * 1024 ? true : undefined), { timeoutMs: 10_000, intervalMs: 2 });
    }
    await w.stop();
    assert.ok(flushes >= 1, `flushed behind: ${flushes}`);
    assert.equal(firsts, 1);
  } finally {
    await theirs.close();
    await mine.close();
  }
}));

test('lookNow tells first bytes the periodic look has not seen yet, once, and waits for the hook', () => withDir(async (dir) => {
  const path = join(dir, 'quick');
  await writeFile(path, 'all of a short stream');
  const fh = await open(path, 'r+');
  const told: string[] = [];
  const w = new WatchedFlushBehind(fh, { intervalMs: 60_000, onFirstBytes: async () => { await new Promise((r) => setTimeout(r, 20)); told.push('first'); } });
  try {
    await w.lookNow();
    assert.deepEqual(told, ['first'], 'told, and awaited, before lookNow resolved');
    await w.lookNow();
    assert.deepEqual(told, ['first'], 'once');
  } finally {
    await w.stop();
    await fh.close();
  }
}));
