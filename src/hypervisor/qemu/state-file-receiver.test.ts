import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FLUSH_EVERY_BYTES, listenForStateFile } from './state-file-receiver.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { pollUntil } from '../../util/deadline.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-sfr-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function connect(path: string): Promise<Socket> {
  const s = createConnection(path);
  await once(s, 'connect');
  return s;
}

test('writes the stream it accepts into the file, mode 0600, and resolves with its size once the sender closes', () => withDir(async (dir) => {
  const sock = join(dir, 'save.sock');
  const file = join(dir, 'memory.state');
  const r = await listenForStateFile(sock, file, { timeoutMs: 10_000 });
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const c = await connect(sock);
  c.end(data);
  assert.equal(await r.done, data.length);
  assert.deepEqual(await readFile(file), data);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  await assert.rejects(stat(sock), { code: 'ENOENT' }, 'the socket is removed');
}));

test('makes the file durable before it resolves: fdatasync of the file, fsync of its directory', () => withDir(async (dir) => {
  const calls: string[] = [];
  const r = await listenForStateFile(join(dir, 's.sock'), join(dir, 'm.state'), { timeoutMs: 10_000 }, { onSync: (what) => calls.push(what) });
  const c = await connect(join(dir, 's.sock'));
  c.end(Buffer.from('state'));
  await r.done;
  assert.deepEqual(calls, ['file', 'directory']);
}));

test('a second connection is refused and does not disturb the first', () => withDir(async (dir) => {
  const sock = join(dir, 'save.sock');
  const file = join(dir, 'memory.state');
  const r = await listenForStateFile(sock, file, { timeoutMs: 10_000 });
  const first = await connect(sock);
  first.write('first ');
  // Refused one way or another: the listening socket is gone, or the connection is dropped at once.
  const second = createConnection(sock);
  second.on('error', () => {});
  second.write('second');
  await new Promise((resolve) => second.on('close', resolve));
  first.end('stream');
  await r.done;
  assert.equal(await readFile(file, 'utf8'), 'first stream');
}));

test('close() before anything arrived rejects done and leaves no file', () => withDir(async (dir) => {
  const file = join(dir, 'memory.state');
  const r = await listenForStateFile(join(dir, 'save.sock'), file, { timeoutMs: 10_000 });
  r.close();
  await assert.rejects(r.done);
  await assert.rejects(stat(file), { code: 'ENOENT' });
}));

test('a sender that never connects times out with a TimeoutError and leaves no file', () => withDir(async (dir) => {
  const file = join(dir, 'memory.state');
  const r = await listenForStateFile(join(dir, 'save.sock'), file, { timeoutMs: 200 });
  await assert.rejects(r.done, TimeoutError);
  await assert.rejects(stat(file), { code: 'ENOENT' });
}));

test('an abort in the middle of the stream rejects with the reason and removes the partial file', () => withDir(async (dir) => {
  const sock = join(dir, 'save.sock');
  const file = join(dir, 'memory.state');
  const ac = new AbortController();
  const r = await listenForStateFile(sock, file, { timeoutMs: 10_000, signal: ac.signal });
  const c = await connect(sock);
  c.on('error', () => {});
  c.write(randomBytes(64 * 1024));
  const why = new Error('agent stopping');
  ac.abort(why);
  await assert.rejects(r.done, (err) => err === why);
  await assert.rejects(stat(file), { code: 'ENOENT' });
}));

test('a large state is flushed to the disk while it arrives, so the last fdatasync has only the tail left', () => withDir(async (dir) => {
  const calls: string[] = [];
  const file = join(dir, 'm.state');
  const r = await listenForStateFile(join(dir, 's.sock'), file, { timeoutMs: 60_000 }, { onSync: (what) => calls.push(what) });
  const c = await connect(join(dir, 's.sock'));
  const chunk = randomBytes(1024 * 1024);
  const total = 3 * FLUSH_EVERY_BYTES + 5;
  // Sent at the socket's pace, as QEMU does; the flushes must not hold the stream back for good.
  for (let sent = 0; sent < total; sent += chunk.length) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
    if (!c.write(piece)) await once(c, 'drain');
  }
  c.end();
  assert.equal(await r.done, total);
  assert.equal((await stat(file)).size, total);
  assert.ok(calls.includes('partial'), `a flush beside the stream: ${calls.join(', ')}`);
  assert.deepEqual(calls.filter((w) => w !== 'partial'), ['file', 'directory'], 'then the file, then its directory');
  assert.ok(calls.indexOf('partial') < calls.indexOf('file'));
  const whole = await readFile(file);
  assert.ok(whole.subarray(0, chunk.length).equals(chunk) && whole.subarray(FLUSH_EVERY_BYTES * 2, FLUSH_EVERY_BYTES * 2 + chunk.length).equals(chunk), 'the bytes as sent');
}));

test('the file has its name only once it is whole and durable: a partial stream lies under .part, and a broken one leaves neither', () => withDir(async (dir) => {
  const file = join(dir, 'memory.state');
  const r = await listenForStateFile(join(dir, 's.sock'), file, { timeoutMs: 10_000 });
  const c = await connect(join(dir, 's.sock'));
  c.write(randomBytes(256 * 1024));
  await pollUntil('the first bytes are written', async () => ((await stat(`${file}.part`).catch(() => undefined))?.size ?? 0) > 0 || undefined, { timeoutMs: 10_000, intervalMs: 10 });
  await assert.rejects(stat(file), { code: 'ENOENT' }, 'no state file under its name mid-stream');
  c.end(randomBytes(1000));
  assert.equal(await r.done, 256 * 1024 + 1000);
  assert.equal((await stat(file)).size, 256 * 1024 + 1000);
  await assert.rejects(stat(`${file}.part`), { code: 'ENOENT' });

  const broken = join(dir, 'broken.state');
  const ac = new AbortController();
  const r2 = await listenForStateFile(join(dir, 's2.sock'), broken, { timeoutMs: 10_000, signal: ac.signal });
  const c2 = await connect(join(dir, 's2.sock'));
  c2.on('error', () => {});
  c2.write(randomBytes(256 * 1024));
  await pollUntil('the first bytes are written', async () => ((await stat(`${broken}.part`).catch(() => undefined))?.size ?? 0) > 0 || undefined, { timeoutMs: 10_000, intervalMs: 10 });
  ac.abort(new Error('agent stopping'));
  await assert.rejects(r2.done, /agent stopping/);
  await assert.rejects(stat(broken), { code: 'ENOENT' });
  await assert.rejects(stat(`${broken}.part`), { code: 'ENOENT' });
}));

test('hooks: onFirstWrite is awaited mid-stream (its error fails the save, nothing left), onReceived once the sender closed and before the file has its name', () => withDir(async (dir) => {
  const file = join(dir, 'memory.state');
  const seen: string[] = [];
  const r = await listenForStateFile(join(dir, 's.sock'), file, { timeoutMs: 10_000 }, {
    onFirstWrite: () => void seen.push(`first ${existsSync(`${file}.part`)}`),
    onReceived: () => void seen.push(`received ${existsSync(file)}`),
    onSync: (what) => seen.push(what),
  });
  const c = await connect(join(dir, 's.sock'));
  c.write(randomBytes(1000));
  c.end(randomBytes(1000));
  assert.equal(await r.done, 2000);
  assert.deepEqual(seen, ['first true', 'received false', 'file', 'directory']);

  const failed = join(dir, 'failed.state');
  const r2 = await listenForStateFile(join(dir, 's2.sock'), failed, { timeoutMs: 10_000 }, { onFirstWrite: () => Promise.reject(new Error('injected mid-stream')) });
  const c2 = await connect(join(dir, 's2.sock'));
  c2.on('error', () => {});
  c2.write(randomBytes(64 * 1024));
  await assert.rejects(r2.done, /injected mid-stream/);
  await assert.rejects(stat(failed), { code: 'ENOENT' });
  await assert.rejects(stat(`${failed}.part`), { code: 'ENOENT' });
}));
