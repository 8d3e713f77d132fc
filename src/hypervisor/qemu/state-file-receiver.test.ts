import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listenForStateFile } from './state-file-receiver.js';
import { TimeoutError } from '../../errors/timeout-error.js';

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
