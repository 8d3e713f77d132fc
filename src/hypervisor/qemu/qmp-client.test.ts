import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from './qmp-client.js';
import { QmpDisconnectedError, QmpError } from './qmp-error.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { pollUntil } from '../../util/deadline.js';

const dir = await mkdtemp(join(tmpdir(), 'nubo-qmp-'));
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A real QEMU with no machine at all: starts in milliseconds and speaks full QMP. */
async function startQemu(name: string): Promise<{ child: ChildProcess; socket: string }> {
  const socket = join(dir, `${name}.sock`);
  const child = spawn('qemu-system-x86_64', ['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`], { stdio: 'ignore' });
  children.push(child);
  await pollUntil('QMP socket', async () => {
    try {
      const c = await QmpClient.connect(socket, { timeoutMs: 500 });
      c.close();
      return true;
    } catch {
      return undefined;
    }
  }, { timeoutMs: 10_000 });
  return { child, socket };
}

test('negotiates, runs typed commands and reports QMP errors with class and desc', async () => {
  const { socket } = await startQemu('a');
  const qmp = await QmpClient.connect(socket);
  try {
    const v = await qmp.execute('query-version');
    assert.equal(v.qemu.major, 7);
    const s = await qmp.execute('query-status');
    assert.equal(typeof s.running, 'boolean');
    await assert.rejects(qmp.executeUnchecked('no-such-command'), (err: unknown) => {
      assert.ok(err instanceof QmpError);
      assert.equal(err.errorClass, 'CommandNotFound');
      assert.match(err.desc, /no-such-command/);
      return true;
    });
    // Concurrent calls are matched to their answers by id.
    const [a, b] = await Promise.all([qmp.execute('query-status'), qmp.execute('query-version')]);
    assert.equal(typeof a.status, 'string');
    assert.equal(b.qemu.major, 7);
  } finally {
    qmp.close();
  }
});

test('delivers events to waiters and iterators', async () => {
  const { socket } = await startQemu('b');
  const qmp = await QmpClient.connect(socket);
  try {
    const seen: string[] = [];
    const ctl = new AbortController();
    const iter = (async () => {
      for await (const e of qmp.events(ctl.signal)) seen.push(e.event);
    })();
    const stopped = qmp.waitForEvent('STOP');
    await qmp.execute('stop');
    const e = await stopped;
    assert.equal(e.event, 'STOP');
    assert.ok(e.timestamp.seconds > 0);
    const resumed = qmp.waitForEvent('RESUME');
    await qmp.execute('cont');
    await resumed;
    ctl.abort();
    await iter;
    assert.deepEqual(seen, ['STOP', 'RESUME']);
  } finally {
    qmp.close();
  }
});

test('a call pending when QEMU dies is rejected at once, and later calls fail fast', async () => {
  const { child, socket } = await startQemu('c');
  const qmp = await QmpClient.connect(socket);
  const closed = new Promise<QmpDisconnectedError>((resolve) => qmp.onClose(resolve));
  const waiting = qmp.waitForEvent('NEVER', { timeoutMs: 60_000 });
  child.kill('SIGKILL');
  const t0 = Date.now();
  await assert.rejects(waiting, QmpDisconnectedError);
  assert.ok(Date.now() - t0 < 2_000, 'rejected promptly');
  assert.ok((await closed) instanceof QmpDisconnectedError);
  assert.equal(qmp.closed, true);
  await assert.rejects(qmp.execute('query-status'), QmpDisconnectedError);
});

/** A peer that greets and negotiates but never answers anything else. */
async function silentPeer(path: string): Promise<Server> {
  const server = createServer((s: Socket) => {
    s.write('{"QMP": {"version": {}, "capabilities": []}}\r\n');
    s.on('data', (d) => {
      if (d.toString().includes('qmp_capabilities')) s.write(`{"return": {}, "id": "nubo-1"}\r\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

test('every call has a timeout and honours an AbortSignal', async () => {
  const path = join(dir, 'silent.sock');
  const server = await silentPeer(path);
  const qmp = await QmpClient.connect(path);
  try {
    await assert.rejects(qmp.execute('query-status', undefined, { timeoutMs: 200 }), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.match(err.message, /QMP query-status timed out after 200 ms/);
      return true;
    });
    const ctl = new AbortController();
    const p = qmp.execute('query-status', undefined, { signal: ctl.signal, timeoutMs: 60_000 });
    ctl.abort(new Error('caller gave up'));
    await assert.rejects(p, /caller gave up/);
  } finally {
    qmp.close();
    server.close();
  }
});

test('connecting to something that is not QMP fails clearly', async () => {
  const path = join(dir, 'junk.sock');
  const server = createServer((s: Socket) => s.write('hello, I am not QEMU\n'));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await assert.rejects(QmpClient.connect(path, { timeoutMs: 2_000 }), /not JSON|timed out/);
    await assert.rejects(QmpClient.connect(join(dir, 'absent.sock'), { timeoutMs: 2_000 }), /ENOENT/);
  } finally {
    server.close();
  }
});
