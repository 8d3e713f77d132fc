import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { qmpSaveState, type SaveViaFd } from './qmp-save-state.js';
import { FdSender, type FdSendRequest } from './fd-sender.js';
import { FdSendFailedError } from './qemu-errors.js';
import { QmpClient } from './qmp-client.js';
import { saveAttemptFiles } from './state-file-writer.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';

// A real QEMU whose RAM (48 MiB) comes from a file of random bytes, so that its state is ~48 MiB (QEMU skips zero
// pages), with the fd-passing monitor nubo's argv gives it. Each save leaves it in postmigrate; `cont` + `stop` between.
const RAM_MIB = 48;
let dir: string;
let qemu: ChildProcess;
let qmp: QmpClient;
let fdpass: string;
const senders: FdSender[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nubo-qss-'));
  const ram = join(dir, 'ram');
  const fh = await open(ram, 'w');
  for (let i = 0; i < RAM_MIB; i++) await fh.write(randomBytes(1024 * 1024));
  await fh.close();
  const qmpSocket = join(dir, 'qmp.sock');
  fdpass = join(dir, 'fdpass.sock');
  qemu = spawn('qemu-system-x86_64', ['-machine', 'pc,accel=tcg,memory-backend=mem', '-object', `memory-backend-file,id=mem,size=${RAM_MIB}M,mem-path=${ram},share=off`,
    '-m', `${RAM_MIB}M`, '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${qmpSocket},server=on,wait=off`,
    '-chardev', `socket,id=fdpass,path=${fdpass},server=on,wait=off`, '-mon', 'chardev=fdpass,mode=control'], { stdio: 'ignore' });
  qmp = await pollUntil('QMP socket', () => QmpClient.connect(qmpSocket, { timeoutMs: 500 }).catch(() => undefined), { timeoutMs: 20_000 });
});

after(async () => {
  for (const s of senders) await s.close();
  qmp?.close();
  if (qemu && qemu.exitCode === null) qemu.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const opts: WaitOptions = { timeoutMs: 120_000 };
const sender = (o: ConstructorParameters<typeof FdSender>[0] = {}): FdSender => {
  const s = new FdSender(o);
  senders.push(s);
  return s;
};

/** Out of postmigrate, as a retried save does, and stopped again: ready for the next save. */
async function reset(): Promise<void> {
  await qmp.execute('cont');
  await qmp.execute('stop');
}

async function leftovers(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('memory.state'));
}

test('fd mode: QEMU writes the part itself; at its `completed` event the file already has its final size; committed, nothing else left', async () => {
  const statePath = join(dir, 'memory.state');
  const token = 'a1a1a1a1a1a1a1a1';
  const { part } = saveAttemptFiles(statePath, token);
  let sizeAtEvent = -1;
  // Read in the event's own dispatch: before the save itself goes on to flush and rename.
  const seen = qmp.waitForEvent('MIGRATION', { timeoutMs: 120_000, match: (e) => {
    if (e.data['status'] !== 'completed') return false;
    sizeAtEvent = statSync(part).size;
    return true;
  } });
  const fallbacks: Error[] = [];
  const via: SaveViaFd = { sender: sender(), socket: fdpass, onFallback: (err) => void fallbacks.push(err) };
  const saved = await qmpSaveState(qmp, statePath, token, opts, {}, via);
  await seen;
  assert.equal(saved.mode, 'fd');
  assert.deepEqual(fallbacks, []);
  assert.ok(saved.bytes > RAM_MIB * 1024 * 1024, `the whole RAM: ${saved.bytes}`);
  assert.equal(sizeAtEvent, saved.bytes, 'QEMU reports completed only after its last write');
  const file = await readFile(statePath);
  assert.equal(file.length, saved.bytes);
  assert.equal(file.subarray(0, 4).toString('latin1'), 'QEVM');
  assert.deepEqual(await leftovers(), ['memory.state']);
  await rm(statePath);
  await reset();
});

test('no usable python3: the save falls back to the exec: writer (told first), and the file is whole', async () => {
  const statePath = join(dir, 'memory.state');
  const fallbacks: Error[] = [];
  const via: SaveViaFd = { sender: sender({ python: join(dir, 'no-python3') }), socket: fdpass, onFallback: (err) => void fallbacks.push(err) };
  const saved = await qmpSaveState(qmp, statePath, 'b2b2b2b2b2b2b2b2', opts, {}, via);
  assert.equal(saved.mode, 'exec');
  assert.equal(fallbacks.length, 1);
  assert.ok(fallbacks[0] instanceof FdSendFailedError && fallbacks[0].kind === 'unavailable');
  assert.ok(saved.bytes > RAM_MIB * 1024 * 1024);
  assert.equal((await readFile(statePath)).length, saved.bytes);
  assert.deepEqual(await leftovers(), ['memory.state'], 'no part, no rc file');
  await rm(statePath);
  await reset();
});

test('a sender that hangs mid-request (stopped) is killed at its timeout; QEMU, fenced, ran no migrate: the exec: writer saves', async () => {
  const statePath = join(dir, 'memory.state');
  const s = sender();
  const fallbacks: Error[] = [];
  const via: SaveViaFd = { sender: s, socket: fdpass, timeoutMs: 1_000, onFallback: (err) => void fallbacks.push(err) };
  let stopped: number | undefined;
  const saved = await qmpSaveState(qmp, statePath, 'c3c3c3c3c3c3c3c3', opts, { onFdSend: () => { stopped = s.pid; process.kill(stopped!, 'SIGSTOP'); } }, via);
  assert.equal(saved.mode, 'exec');
  assert.ok(fallbacks[0] instanceof FdSendFailedError && fallbacks[0].ambiguous);
  assert.ok(stopped !== undefined && s.pid !== stopped, 'the hung child was ended');
  assert.equal((await readFile(statePath)).length, saved.bytes);
  assert.deepEqual(await leftovers(), ['memory.state']);
  await rm(statePath);
  await reset();
});

/** A sender whose answer is lost after QEMU ran the command (as if it died right after): ambiguous. */
class LostAnswerSender extends FdSender {
  override async send(req: FdSendRequest, o: WaitOptions = {}): Promise<unknown> {
    await super.send(req, o);
    throw new FdSendFailedError('ambiguous', 'the answer was lost', true);
  }
}

test('an ambiguous sender whose migrate did reach QEMU: the fence finds the migration, which is followed in fd mode (no second writer)', async () => {
  const statePath = join(dir, 'memory.state');
  const s = new LostAnswerSender();
  senders.push(s);
  const fallbacks: Error[] = [];
  const saved = await qmpSaveState(qmp, statePath, 'd4d4d4d4d4d4d4d4', opts, {}, { sender: s, socket: fdpass, onFallback: (err) => void fallbacks.push(err) });
  assert.equal(saved.mode, 'fd');
  assert.deepEqual(fallbacks, []);
  assert.ok(saved.bytes > RAM_MIB * 1024 * 1024);
  assert.equal((await readFile(statePath)).length, saved.bytes);
  assert.deepEqual(await leftovers(), ['memory.state']);
  await rm(statePath);
  await reset();
});

test('fd mode, a fault mid-stream: the migration is cancelled and ended, no part is left, and QEMU can save again', async () => {
  const statePath = join(dir, 'memory.state');
  const via: SaveViaFd = { sender: sender(), socket: fdpass, onFallback: () => {} };
  await assert.rejects(qmpSaveState(qmp, statePath, 'e5e5e5e5e5e5e5e5', opts, { onFirstWrite: () => { throw new Error('fault mid-stream'); } }, via), /fault mid-stream/);
  assert.deepEqual(await leftovers(), []);
  const m = await qmp.execute('query-migrate');
  assert.ok(m.status === 'cancelled' || m.status === 'completed', `the migration ended: ${m.status}`);
  if ((await qmp.execute('query-status')).status === 'postmigrate') await reset();
  const saved = await qmpSaveState(qmp, statePath, 'f6f6f6f6f6f6f6f6', opts, {}, via);
  assert.equal(saved.mode, 'fd');
  assert.equal((await readFile(statePath)).length, saved.bytes);
  await rm(statePath);
  await reset();
});

// Last: it ends the shared QEMU.
test('fd mode, QEMU SIGKILLed mid-stream: the save fails (no hang), no part or state file is left', async () => {
  const statePath = join(dir, 'memory.state');
  const via: SaveViaFd = { sender: sender(), socket: fdpass, onFallback: () => {} };
  const exited = new Promise((resolve) => qemu.once('exit', resolve));
  await assert.rejects(qmpSaveState(qmp, statePath, '0707070707070707', { timeoutMs: 60_000 }, { onFirstWrite: () => void qemu.kill('SIGKILL') }, via));
  await exited;
  assert.deepEqual(await leftovers(), []);
});
