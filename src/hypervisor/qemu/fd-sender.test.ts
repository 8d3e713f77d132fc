import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { mkdtemp, open, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FdSender, type FdSendRequest } from './fd-sender.js';
import { FdSendFailedError } from './qemu-errors.js';
import { QmpClient } from './qmp-client.js';
import { pollUntil } from '../../util/deadline.js';

const dir = await mkdtemp(join(tmpdir(), 'nubo-fdsend-'));
const children: ChildProcess[] = [];
const senders: FdSender[] = [];
after(async () => {
  for (const s of senders) await s.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const sender = (o: ConstructorParameters<typeof FdSender>[0] = {}): FdSender => {
  const s = new FdSender(o);
  senders.push(s);
  return s;
};

/** A real QEMU with no machine, its fd-passing monitor as nubo's argv makes it; its agent-side QMP beside it. */
async function startQemu(name: string): Promise<{ fdpass: string; qmp: QmpClient; pid: number }> {
  const qmpSocket = join(dir, `${name}.qmp`);
  const fdpass = join(dir, `${name}.fdpass`);
  const child = spawn('qemu-system-x86_64', ['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', `unix:${qmpSocket},server=on,wait=off`,
    '-chardev', `socket,id=fdpass,path=${fdpass},server=on,wait=off`, '-mon', 'chardev=fdpass,mode=control'], { stdio: 'ignore' });
  children.push(child);
  const qmp = await pollUntil('QMP socket', () => QmpClient.connect(qmpSocket, { timeoutMs: 500 }).catch(() => undefined), { timeoutMs: 10_000 });
  return { fdpass, qmp, pid: child.pid! };
}

const migrateTo = (socket: string, path: string): FdSendRequest => ({ socket, path, fdname: 'nubo-save', command: { execute: 'migrate', arguments: { uri: 'fd:nubo-save' } } });

/** A unix socket that accepts and never says anything: a QEMU whose monitor hangs. */
async function silentServer(name: string): Promise<{ path: string; connections(): number; close(): void }> {
  const path = join(dir, `${name}.silent`);
  const conns: Socket[] = [];
  const srv = createServer((c) => void conns.push(c));
  await new Promise<void>((resolve) => srv.listen(path, resolve));
  return { path, connections: () => conns.length, close: () => { for (const c of conns) c.destroy(); srv.close(); } };
}

test('hands QEMU the file over its fd-passing monitor and runs migrate there: QEMU writes its stream into that very file', async () => {
  const { fdpass, qmp } = await startQemu('a');
  try {
    const file = join(dir, 'a.state');
    await writeFile(file, '', { mode: 0o600, flag: 'wx' });
    const s = sender();
    const ended = qmp.waitForEvent('MIGRATION', { timeoutMs: 10_000, match: (e) => e.data['status'] === 'completed' });
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    assert.deepEqual(await s.send(migrateTo(fdpass, file), { timeoutMs: 10_000 }), {});
    // MIGRATION events reach every monitor: the agent's own hears the end of the migration the sender started.
    await ended;
    assert.equal((await readFile(file)).subarray(0, 4).toString('latin1'), 'QEVM', 'QEMU\'s migration stream, written by QEMU itself');
    assert.ok(s.pid !== undefined, 'the child stays for the next request');
    const pid = s.pid;
    // Out of postmigrate (QEMU refuses to migrate from it), as a save's retry does.
    await qmp.execute('cont');
    const again = join(dir, 'a2.state');
    await writeFile(again, '', { flag: 'wx' });
    await s.send(migrateTo(fdpass, again), { timeoutMs: 10_000 });
    assert.equal(s.pid, pid, 'one long-lived child');
  } finally {
    qmp.close();
  }
});

test('with seek, QEMU writes its stream from that offset of a file that is not empty (format 2\'s device stream after the RAM image)', async () => {
  const { fdpass, qmp } = await startQemu('seek');
  try {
    const file = join(dir, 'seek.state');
    await writeFile(file, Buffer.alloc(8192, 7), { mode: 0o600, flag: 'wx' });
    const ended = qmp.waitForEvent('MIGRATION', { timeoutMs: 10_000, match: (e) => e.data['status'] === 'completed' });
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    await sender().send({ ...migrateTo(fdpass, file), seek: 12288 }, { timeoutMs: 10_000 });
    await ended;
    const b = await readFile(file);
    assert.equal(b.subarray(12288, 12292).toString('latin1'), 'QEVM', 'the stream starts at the offset asked for');
    assert.ok(b.subarray(0, 8192).every((x) => x === 7), 'what was before it is untouched');
    // Without seek a non-empty file is still refused (a save's part must be the agent's fresh one).
    await assert.rejects(sender().send(migrateTo(fdpass, file), { timeoutMs: 10_000 }), (err: unknown) => err instanceof FdSendFailedError && err.kind === 'refused');
  } finally {
    qmp.close();
  }
});

/** Pages of a guest's RAM with holes between: `data` at 0, 3 MiB + 4 KiB and the last page; nothing elsewhere. */
const MiB = 1024 * 1024;
const RAM_BYTES = 16 * MiB;
const pattern = (seed: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const pieces: readonly [number, Buffer][] = [[0, pattern(1, 64 * 1024)], [3 * MiB + 4096, pattern(2, 9 * MiB + 8192)], [RAM_BYTES - 4096, pattern(3, 4096)]];
const storedBytes = pieces.reduce((n, [, b]) => n + b.length, 0);

// The save writes and the fill reads with O_DIRECT; tmpfs takes it on newer kernels (6.6 on): whether it did is not
// asserted there.
for (const [where, base, direct] of [['a disk file system (the save and the fill with O_DIRECT)', '/var/tmp', true], ['tmpfs', '/dev/shm', undefined]] as const) {
  test(`RAM round trip on ${where}: a memfd's data ranges saved at an offset, holes kept, filled back into a new memfd byte for byte, with 1 and 3 threads`, async () => {
    const d = await mkdtemp(join(base, 'nubo-ramcopy-'));
    const s = sender();
    try {
      // The "guest RAM": a memfd the sender holds, written here through its /proc path (holes where nothing was written).
      const src = await s.createMemfd(RAM_BYTES, { timeoutMs: 10_000 });
      assert.match(src.path, new RegExp(`^/proc/${s.pid}/fd/\\d+$`));
      const fh = await open(src.path, 'r+');
      for (const [at, b] of pieces) await fh.write(b, 0, b.length, at);
      await fh.close();
      const srcBlocks = (await stat(src.path)).blocks;
      for (const threads of [1, 3]) {
        const file = join(d, `ram-${threads}.state`);
        await writeFile(file, '', { mode: 0o600, flag: 'wx' });
        const saved = await s.saveRam({ memfd: src.path, path: file, offset: 4096, bytes: RAM_BYTES, threads }, { timeoutMs: 30_000 });
        assert.equal(saved.bytes, storedBytes);
        // Straight from the memfd's mapping to the disk: no page cache to allocate (docs/suspend.md, "Format 2").
        if (direct !== undefined) assert.equal(saved.direct, direct, 'the save writes with O_DIRECT');
        assert.equal((await stat(src.path)).blocks, srcBlocks, 'the guest RAM\'s holes are not touched (a mapped page read there would be allocated)');
        const st = await stat(file);
        assert.equal(st.size, 4096 + RAM_BYTES, 'up to the last page written');
        assert.ok(st.blocks * 512 < storedBytes + MiB, `sparse: ${st.blocks * 512} bytes stored of ${st.size}`);
        const back = await s.createMemfd(RAM_BYTES, { timeoutMs: 10_000 });
        const filled = await s.fillMemfd(back, { path: file, offset: 4096, bytes: RAM_BYTES, threads }, { timeoutMs: 30_000 });
        if (direct !== undefined) assert.equal(filled.direct, direct);
        assert.equal(filled.bytes, storedBytes, 'the file\'s holes are not read');
        assert.ok((await readFile(back.path)).equals(await readFile(src.path)), 'the same RAM, holes read as zeros');
        await s.releaseMemfd(back, { timeoutMs: 5_000 });
        await assert.rejects(readFile(back.path), /ENOENT/, 'released: the sender holds it no more');
        await assert.rejects(s.fillMemfd(back, { path: file, offset: 4096, bytes: RAM_BYTES, threads }, { timeoutMs: 10_000 }), (err: unknown) => err instanceof FdSendFailedError && err.kind === 'refused' && /no memfd/.test(err.message));
      }
      // A memfd of another size than asked is refused before anything is written.
      const other = join(d, 'other.state');
      await writeFile(other, '', { flag: 'wx' });
      await assert.rejects(s.saveRam({ memfd: src.path, path: other, offset: 4096, bytes: RAM_BYTES * 2, threads: 2 }, { timeoutMs: 10_000 }), /is not \d+ bytes/);
      assert.equal((await stat(other)).size, 0);
      await s.releaseMemfd(src, { timeoutMs: 5_000 });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
}

test('afterFill: the hand-over is made at once and its command runs only once the fill ended; a failed fill or a released memfd refuses it, not sent', async () => {
  const { fdpass, qmp, pid } = await startQemu('after');
  const s = sender();
  try {
    const file = join(dir, 'after.state');
    await writeFile(file, Buffer.alloc(2 * MiB, 5), { mode: 0o600, flag: 'wx' });
    const held = await s.createMemfd(MiB, { timeoutMs: 10_000 });
    const req = { socket: fdpass, path: file, fdname: 'nubo-restore', read: true, afterFill: held, command: { execute: 'query-status' } };
    let answered = false;
    const waiting = s.send(req, { timeoutMs: 20_000 }).then((r) => ((answered = true), r));
    // Nothing fills it yet: the command waits, QEMU holding the file already (getfd made meanwhile).
    const holds = async (): Promise<true | undefined> => {
      for (const n of await readdir(`/proc/${pid}/fd`)) if ((await readlink(`/proc/${pid}/fd/${n}`).catch(() => '')) === file) return true;
      return undefined;
    };
    await pollUntil('QEMU holding the state file', holds, { timeoutMs: 10_000, intervalMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(answered, false, 'not run before the fill');
    await s.fillMemfd(held, { path: file, offset: MiB, bytes: MiB, threads: 1 }, { timeoutMs: 10_000 });
    assert.equal((await waiting as { status?: unknown }).status, 'running', 'the command ran, on that monitor');
    await s.releaseMemfd(held, { timeoutMs: 5_000 });

    const failing = await s.createMemfd(MiB, { timeoutMs: 10_000 });
    const refusedByFill = s.send({ ...req, afterFill: failing }, { timeoutMs: 20_000 });
    // Refused as soon as the fill fails, which may be before the fill's own rejection is awaited: handled from now on.
    refusedByFill.catch(() => {});
    await assert.rejects(s.fillMemfd(failing, { path: join(dir, 'missing.state'), offset: 0, bytes: MiB, threads: 1 }, { timeoutMs: 10_000 }), /ENOENT|No such file/);
    await assert.rejects(refusedByFill, (err: unknown) => err instanceof FdSendFailedError && err.kind === 'refused' && !err.ambiguous && /fill .* failed/.test(err.message));
    await s.releaseMemfd(failing, { timeoutMs: 5_000 });

    const released = await s.createMemfd(MiB, { timeoutMs: 10_000 });
    const refusedByRelease = s.send({ ...req, afterFill: released }, { timeoutMs: 20_000 });
    refusedByRelease.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    await s.releaseMemfd(released, { timeoutMs: 5_000 });
    await assert.rejects(refusedByRelease, (err: unknown) => err instanceof FdSendFailedError && err.kind === 'refused' && /released/.test(err.message));
  } finally {
    qmp.close();
  }
});

test('RAM copies of different requests run side by side (a thread each in the child)', async () => {
  const s = sender();
  const a = await s.createMemfd(RAM_BYTES, { timeoutMs: 10_000 });
  const b = await s.createMemfd(RAM_BYTES, { timeoutMs: 10_000 });
  const fh = await open(a.path, 'r+');
  await fh.write(pattern(9, RAM_BYTES), 0, RAM_BYTES, 0);
  await fh.close();
  const files = ['p1.state', 'p2.state'].map((n) => join(dir, n));
  for (const f of files) await writeFile(f, '', { flag: 'wx' });
  const [r1, r2] = await Promise.all([
    s.saveRam({ memfd: a.path, path: files[0]!, offset: 4096, bytes: RAM_BYTES, threads: 2 }, { timeoutMs: 30_000 }),
    s.fillMemfd(b, { path: files[0]!, offset: 0, bytes: RAM_BYTES, threads: 2 }, { timeoutMs: 30_000 }).then(() => s.saveRam({ memfd: a.path, path: files[1]!, offset: 4096, bytes: RAM_BYTES, threads: 2 }, { timeoutMs: 30_000 })),
  ]);
  assert.equal(r1.bytes, RAM_BYTES);
  assert.equal(r2.bytes, RAM_BYTES);
  assert.ok((await readFile(files[1]!)).subarray(4096).equals(await readFile(a.path)));
  await s.releaseMemfd(a);
  await s.releaseMemfd(b);
});

test('refuses a file that is not empty, a symlink or missing (nothing handed to QEMU) and a command QEMU refuses; not ambiguous', async () => {
  const { fdpass, qmp } = await startQemu('b');
  try {
    const s = sender();
    const full = join(dir, 'b.full');
    await writeFile(full, 'old state');
    const link = join(dir, 'b.link');
    await writeFile(join(dir, 'b.target'), '');
    await symlink(join(dir, 'b.target'), link);
    for (const [path, re] of [[full, /not an empty regular file/], [link, /ELOOP|Too many levels/i], [join(dir, 'b.none'), /No such file/]] as const) {
      const err = await s.send(migrateTo(fdpass, path), { timeoutMs: 10_000 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof FdSendFailedError, String(err));
      assert.equal(err.kind, 'refused');
      assert.equal(err.ambiguous, false);
      assert.match(err.message, re);
    }
    assert.equal(await readFile(full, 'utf8'), 'old state', 'never truncated');
    const ok = join(dir, 'b.state');
    await writeFile(ok, '');
    const err = await s.send({ ...migrateTo(fdpass, ok), command: { execute: 'migrate', arguments: { uri: 'fd:another-name' } } }, { timeoutMs: 10_000 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FdSendFailedError);
    assert.equal(err.kind, 'refused', 'QEMU answered no: the command did nothing');
    assert.match(err.message, /another-name/);
    const status = (await qmp.execute('query-migrate')).status;
    assert.ok(status === undefined || status === 'failed', `no migration runs: ${status}`);
  } finally {
    qmp.close();
  }
});

test('a monitor that never greets: the child\'s own wait times out first and says the command was never sent', async () => {
  const srv = await silentServer('c');
  try {
    const file = join(dir, 'c.state');
    await writeFile(file, '');
    const t0 = Date.now();
    const err = await sender().send(migrateTo(srv.path, file), { timeoutMs: 1_500 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FdSendFailedError, String(err));
    assert.equal(err.kind, 'refused');
    assert.match(err.message, /timed out/);
    assert.ok(Date.now() - t0 < 1_500 + 5_000);
  } finally {
    srv.close();
  }
});

test('the child killed mid-request: that request fails as ambiguous, the next one starts a new child and succeeds', async () => {
  const srv = await silentServer('d');
  const { fdpass, qmp } = await startQemu('d');
  try {
    const s = sender();
    const file = join(dir, 'd.state');
    await writeFile(file, '');
    const pending = s.send(migrateTo(srv.path, file), { timeoutMs: 60_000 });
    const caught = pending.then(() => undefined, (e: unknown) => e);
    await pollUntil('the child up', () => s.pid, { timeoutMs: 10_000 });
    const pid = s.pid!;
    // Connected and waiting for the greeting: mid-request.
    await pollUntil('the child connected', () => (srv.connections() > 0 ? true : undefined), { timeoutMs: 10_000 });
    process.kill(pid, 'SIGKILL');
    const err = await caught;
    assert.ok(err instanceof FdSendFailedError, String(err));
    assert.equal(err.ambiguous, true);
    assert.match(err.message, /SIGKILL/);
    const file2 = join(dir, 'd2.state');
    await writeFile(file2, '');
    await s.send(migrateTo(fdpass, file2), { timeoutMs: 10_000 });
    assert.ok(s.pid !== undefined && s.pid !== pid, 'a new child');
  } finally {
    srv.close();
    qmp.close();
  }
});

test('a child that does not answer in time (stopped) is killed and the request fails as ambiguous', async () => {
  const { fdpass, qmp } = await startQemu('e');
  try {
    const s = sender();
    await s.start({ timeoutMs: 10_000 });
    const pid = s.pid!;
    process.kill(pid, 'SIGSTOP');
    const file = join(dir, 'e.state');
    await writeFile(file, '');
    const err = await s.send(migrateTo(fdpass, file), { timeoutMs: 800 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof FdSendFailedError, String(err));
    assert.equal(err.kind, 'ambiguous');
    // Killed and reaped: its /proc entry is gone.
    await pollUntil('the stopped child killed', async () => ((await readFile(`/proc/${pid}/stat`).catch(() => undefined)) === undefined ? true : undefined), { timeoutMs: 10_000 });
    assert.notEqual(s.pid, pid);
  } finally {
    qmp.close();
  }
});

test('no python3 there: refused at once as unavailable, never ambiguous', async () => {
  const err = await sender({ python: join(dir, 'no-such-python3') }).send(migrateTo(join(dir, 'x.sock'), join(dir, 'x')), { timeoutMs: 5_000 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FdSendFailedError, String(err));
  assert.equal(err.kind, 'unavailable');
  assert.equal(err.ambiguous, false);
});

test('close ends the child; a closed sender refuses', async () => {
  const s = sender();
  await s.start({ timeoutMs: 10_000 });
  const pid = s.pid!;
  await s.close();
  assert.equal(s.pid, undefined);
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  await assert.rejects(s.start(), FdSendFailedError);
});
