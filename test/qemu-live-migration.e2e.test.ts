import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { QmpClient } from '../src/hypervisor/qemu/qmp-client.js';
import { spawn } from 'node:child_process';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { processGone } from '../src/hypervisor/qemu/qemu-process.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { createImage, createOverlay, imageInfo } from '../src/storage/qemu-img.js';
import { createMigrationPki, type MigrationPki } from '../src/security/migration-pki.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { runCommand } from '../src/util/run-command.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import type { VmSpecInput } from '../src/hypervisor/vm-spec.js';
import type { MigrationParameters, MigrationProgress, MigrationStatusKind } from '../src/hypervisor/live-migration.js';

/**
 * The source ends `postmigrate` once its migration completed. QEMU reports the
 * migration `completed` a moment before its run state leaves finish-migrate
 * (`saving` here): a loaded CI run read it in between. Waits for it, 10 s at most.
 */
async function sourcePostmigrate(d: QemuDriver): Promise<void> {
  let last = '';
  await pollUntil('the source QEMU in postmigrate', async () => {
    last = (await d.status(VM)).state;
    return last === 'postmigrate' ? true : undefined;
  }, { timeoutMs: 10_000, intervalMs: 50 }).catch((err: unknown) => {
    throw new assert.AssertionError({ message: `the source stayed ${last}, not postmigrate: ${String(err)}`, actual: last, expected: 'postmigrate' });
  });
}
import { httpGet } from './support/http-get.js';

// Two drivers with their own run directories and datastores stand for two hosts; the stream and NBD go over loopback.
const HOST = '127.0.0.1';
const VM = 'mig-vm';
const MAC = '52:54:00:00:30:01';
const MiB = 1024 * 1024;

// Runs after the readiness marker: a blob to checksum across the move, then steady writes so that disks and memory keep changing while they are copied.
const USER_DATA = [
  '#!/bin/sh',
  'dd if=/dev/urandom of=/data/blob bs=64k count=32 2>/dev/null',
  'sync',
  'echo blob-written',
  'i=0',
  'while :; do',
  '  i=$((i + 1))',
  // Fixed width, written to a new file and renamed: the web server sends the size it saw first as Content-Length, and a
  // file that grew (an appended log) came out longer than that — a parse error in the client, now and then.
  '  printf "%08d\\n" "$i" > /data/count.new',
  '  mv /data/count.new /data/count',
  '  dd if=/dev/urandom of=/data/churn bs=4k count=16 conv=notrunc 2>/dev/null',
  '  sync',
  '  usleep 100000',
  'done',
  '',
].join('\n');

const PARAMS: MigrationParameters = { maxBandwidthBytes: 512 * MiB, downtimeLimitMs: 300, autoConverge: false, xbzrle: false, postcopy: false };
const SLOW: MigrationParameters = { ...PARAMS, maxBandwidthBytes: 1 * MiB };

let image: TinyImage;
let root: string;
let dsA: string;
let dsB: string;
let shared: string;
let pki: MigrationPki;
let a: QemuDriver;
let b: QemuDriver;

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-mig-'));
  dsA = join(root, 'ds-a');
  dsB = join(root, 'ds-b');
  shared = join(root, 'shared');
  for (const d of [dsA, dsB, shared]) await mkdir(d);
  a = await QemuDriver.create({ runDir: join(root, 'ra'), allowedDirs: [dsA, shared, image.dir], accel: 'tcg' });
  b = await QemuDriver.create({ runDir: join(root, 'rb'), allowedDirs: [dsB, shared, image.dir], accel: 'tcg' });
  pki = await createMigrationPki(join(root, 'pki'), [
    { name: 'host-a', address: HOST },
    { name: 'host-b', address: HOST },
  ]);
});

after(async () => {
  for (const d of [a, b]) {
    if (!d) continue;
    for (const s of await d.list().catch(() => [])) await d.destroy(s.id).catch(() => {});
    await d.close();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

interface Pair {
  readonly specA: VmSpecInput;
  readonly specB: VmSpecInput;
  readonly portA: number;
  readonly portB: number;
}

/**
 * The same VM for both hosts; only the user-mode NIC's host port differs (a
 * backend detail, not guest-visible). With `dirB` host B gets its own config
 * drive copy and an empty slot for the disk at the same name.
 */
async function pair(dirA: string, dirB?: string): Promise<Pair & { diskA: string; diskB: string }> {
  const portA = await freePort();
  const portB = await freePort();
  const specA = await prepareTinyVm({
    image,
    dir: dirA,
    id: VM,
    userData: USER_DATA,
    nics: [{ kind: 'user', mac: MAC, address: '198.18.250.15/24', gateway: '198.18.250.2', forwards: [{ hostPort: portA, guestPort: 80 }] }],
  });
  const nic = specA.nics![0]!;
  assert.equal(nic.kind, 'user');
  const diskA = specA.disks![0]!.path;
  let diskB = diskA;
  let isoB = specA.configDrive!;
  if (dirB !== undefined) {
    diskB = join(dirB, `${VM}.qcow2`);
    isoB = join(dirB, `${VM}-cidata.iso`);
    await copyFile(specA.configDrive!, isoB);
    await rm(diskB, { force: true });
  }
  const specB: VmSpecInput = {
    ...specA,
    nics: [{ ...nic, kind: 'user', net: '198.18.250.15/24', forwards: [{ hostPort: portB, guestPort: 80, guestAddress: '198.18.250.15' }] }],
    disks: [{ ...specA.disks![0]!, path: diskB }],
    configDrive: isoB,
  };
  return { specA, specB, portA, portB, diskA, diskB };
}

/** Host B's copy of the base image and an overlay on it for the destination disk (for `sync: top`). */
async function overlayOnCopyOfBase(diskB: string): Promise<void> {
  const baseB = join(dsB, 'base.qcow2');
  await copyFile(image.dataDisk, baseB);
  await createOverlay(baseB, 'qcow2', diskB);
}

async function bootSource(p: Pair): Promise<void> {
  await a.start(p.specA);
  await waitForConsole(a.pathsOf(VM).serialLog, `NUBO-READY ${VM}`, { timeoutMs: 60_000 });
  await waitForConsole(a.pathsOf(VM).serialLog, 'blob-written', { timeoutMs: 30_000 });
}

async function get(port: number, path: string, timeoutMs = 5_000): Promise<Buffer> {
  const r = await httpGet(`http://${HOST}:${port}${path}`, timeoutMs);
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return r.body;
}

const uptime = async (port: number): Promise<number> => parseFloat((await get(port, '/cgi-bin/uptime')).toString());
const blobSum = async (port: number): Promise<string> => createHash('sha256').update(await get(port, '/data/blob')).digest('hex');
/** How many times the guest's loop has written to its disk. */
const logLines = async (port: number): Promise<number> => Number((await get(port, '/data/count')).toString().trim());

async function waitStatus(d: QemuDriver, want: readonly MigrationStatusKind[], timeoutMs = 60_000): Promise<MigrationProgress> {
  return pollUntil(`migration status ${want.join('|')}`, async () => {
    const p = await d.migration.migrationStatus(VM);
    return want.includes(p.status) ? p : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

async function waitMirrorsReady(timeoutMs = 60_000): Promise<MigrationProgress> {
  return pollUntil('disk mirrors ready', async () => {
    const p = await a.migration.migrationStatus(VM);
    return p.disks.length > 0 && p.disks.every((d) => d.ready) ? p : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/** `qemu-img compare` of the two hosts' disks (-U: both QEMUs still hold them open). */
async function assertIdentical(srcDisk: string, dstDisk: string): Promise<void> {
  const { stdout } = await runCommand('qemu-img', ['compare', '-U', srcDisk, dstDisk], { timeoutMs: 60_000 });
  assert.match(stdout, /Images are identical/);
}

async function nbdNodes(d: QemuDriver): Promise<string[]> {
  return (await d.query(VM, 'query-named-block-nodes')).filter((n) => n.drv === 'nbd').map((n) => n['node-name']);
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, HOST);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Destroys the VM on both hosts and checks nothing is left of either: process, run directory. */
async function destroyBoth(): Promise<void> {
  const pids: number[] = [];
  for (const d of [a, b]) {
    const s = await d.status(VM).catch(() => undefined);
    if (s?.pid !== undefined) pids.push(s.pid);
    await d.destroy(VM);
    await assert.rejects(stat(d.pathsOf(VM).dir), 'no run directory left');
    assert.equal((await d.list()).length, 0);
  }
  for (const pid of pids) assert.ok(await processGone(pid), `QEMU ${pid} is gone`);
}

const isStateError = (err: unknown): boolean => (err as { code?: string }).code === 'VM_INVALID_STATE';

test('shared storage: the guest moves without a reboot, keeps its data, and the postmigrate source cannot be resumed', async () => {
  const p = await pair(shared);
  try {
    await bootSource(p);
    const up0 = await uptime(p.portA);
    const sum0 = await blobSum(p.portA);

    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST });
    assert.match(ready.uri, /^tcp:127\.0\.0\.1:\d+$/);
    assert.notEqual(ready.uri, 'tcp:127.0.0.1:0', 'the real port is reported, not the 0 that was asked for');
    assert.equal(ready.nbd, undefined);
    assert.equal((await b.status(VM)).state, 'inmigrate');
    assert.equal((await b.migration.migrationStatus(VM)).status, 'setup');
    assert.equal((await a.migration.migrationStatus(VM)).status, 'none');

    await a.migration.migrateOut(VM, { uri: ready.uri, params: PARAMS });
    const done = await waitStatus(a, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    assert.ok(done.transferredBytes > 0 && done.totalBytes >= 128 * MiB, `RAM was sent: ${JSON.stringify(done)}`);
    assert.ok(done.passes >= 1);
    assert.ok(done.downtimeMs !== undefined && done.downtimeMs >= 0);
    assert.deepEqual(done.disks, []);

    await sourcePostmigrate(a);
    // The source is done sending before the destination is done loading.
    await waitStatus(b, ['completed'], 30_000);
    assert.equal((await b.status(VM)).state, 'paused', 'the destination waits for the commit');
    await assert.rejects(a.resume(VM), isStateError, 'two copies must never run');
    await assert.rejects(a.migration.cancelMigration(VM), isStateError, 'a completed migration is not cancelled');
    await a.migration.completeMirrors(VM); // no mirrors: nothing to do
    await sourcePostmigrate(a);

    await b.migration.activateIncoming(VM);
    assert.equal((await b.status(VM)).state, 'running');
    await b.migration.activateIncoming(VM); // a retried step is harmless
    const up1 = await uptime(p.portB);
    assert.ok(up1 >= up0, `uptime went on (${up0} → ${up1}): no reboot`);
    assert.equal(await blobSum(p.portB), sum0);
    const lines = await logLines(p.portB);
    await sleep(1_000);
    assert.ok((await logLines(p.portB)) > lines, 'the guest keeps writing on the destination');
    assert.equal((await b.migration.migrationStatus(VM)).status, 'none', 'the arrival is not reported as an outgoing migration');
  } finally {
    await destroyBoth();
  }
});

/** Non-shared storage: the destination has its own files; the disk is mirrored over NBD before the memory moves. */
async function nonShared(sync: 'top' | 'full', tls: boolean): Promise<void> {
  const p = await pair(dsA, dsB);
  const { diskA, diskB } = p;
  const virtualSize = (await imageInfo(image.dataDisk)).virtualSize;
  if (sync === 'top') {
    // Host B's own copy of the same base image: only the overlay's clusters need to travel.
    await overlayOnCopyOfBase(diskB);
  } else {
    // A disk that stands alone (copy mode) goes whole into an empty image of the same size.
    await rm(diskA);
    await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', image.dataDisk, diskA]);
    await createImage(diskB, 'qcow2', virtualSize);
  }
  const tlsA = tls ? { dir: pki.hosts[0]!.dir } : undefined;
  const tlsB = tls ? { dir: pki.hosts[1]!.dir } : undefined;
  try {
    await bootSource(p);
    const up0 = await uptime(p.portA);
    const sum0 = await blobSum(p.portA);

    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST, nbdDisks: ['data'], tls: tlsB });
    assert.ok(ready.nbd);
    assert.equal(ready.nbd.host, HOST);
    assert.deepEqual(ready.nbd.exports, [{ diskId: 'data', name: 'data' }]);
    await a.migration.mirrorDisks(VM, { nbd: ready.nbd, sync, tls: tlsA });
    const mirrored = await waitMirrorsReady();
    const disk = mirrored.disks[0]!;
    assert.equal(disk.diskId, 'data');
    if (sync === 'top') assert.ok(disk.len < virtualSize / 2, `only the overlay moved (${disk.len} of ${virtualSize} bytes)`);
    else assert.ok(disk.len >= virtualSize, `every block moved (${disk.len} of ${virtualSize} bytes)`);
    assert.deepEqual(await nbdNodes(a), ['nbd-data']);

    await a.migration.migrateOut(VM, { uri: ready.uri, params: PARAMS, tls: tlsA });
    const done = await waitStatus(a, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    await sourcePostmigrate(a);
    // The source is done sending before the destination is done loading.
    await waitStatus(b, ['completed'], 30_000);
    assert.equal((await b.status(VM)).state, 'paused');

    await a.migration.completeMirrors(VM);
    assert.deepEqual((await a.migration.migrationStatus(VM)).disks, []);
    assert.deepEqual(await a.query(VM, 'query-block-jobs'), []);
    assert.deepEqual(await nbdNodes(a), []);
    // Before the destination runs a single instruction, its disk holds every byte the source wrote.
    await assertIdentical(diskA, diskB);

    await b.migration.activateIncoming(VM);
    assert.equal((await b.status(VM)).state, 'running');
    assert.ok(await refused(ready.nbd.port), 'the NBD server is stopped');
    assert.ok((await uptime(p.portB)) >= up0, 'no reboot');
    assert.equal(await blobSum(p.portB), sum0);
    const lines = await logLines(p.portB);
    await sleep(1_000);
    assert.ok((await logLines(p.portB)) > lines, 'the guest keeps writing to its disk on the destination');
  } finally {
    await destroyBoth();
  }
}

test('after a suspend of format 2 and its resume (x-ignore-shared on for both), a live migration carries the guest\'s RAM: the guest runs on, its data intact', async () => {
  const p = await pair(shared);
  try {
    await bootSource(p);
    const up0 = await uptime(p.portA);
    const sum0 = await blobSum(p.portA);
    const statePath = join(shared, 'mig-vm.state');
    await a.save(VM, statePath);
    assert.equal((await readFile(statePath)).subarray(0, 8).toString('latin1'), 'NUBORAM\0', 'format 2: QEMU streamed its devices only');
    await a.restore(p.specA, statePath);
    await rm(statePath);
    assert.equal((await a.status(VM)).state, 'running');
    assert.ok((await uptime(p.portA)) >= up0, 'restored, not rebooted');

    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST });
    await a.migration.migrateOut(VM, { uri: ready.uri, params: PARAMS });
    const done = await waitStatus(a, ['completed', 'failed']);
    assert.equal(done.status, 'completed', done.error);
    // With x-ignore-shared left on the stream would hold the device state alone (well under a MiB) and the guest would
    // wake on the destination with zeroed RAM.
    assert.ok(done.transferredBytes > 16 * MiB, `the guest's RAM was sent: ${done.transferredBytes} bytes`);
    await sourcePostmigrate(a);
    await waitStatus(b, ['completed'], 30_000);
    await b.migration.activateIncoming(VM);
    assert.equal((await b.status(VM)).state, 'running');
    assert.ok((await uptime(p.portB)) >= up0, 'no reboot');
    assert.equal(await blobSum(p.portB), sum0);
    const lines = await logLines(p.portB);
    await sleep(1_000);
    assert.ok((await logLines(p.portB)) > lines, 'the guest keeps writing on the destination');
  } finally {
    await destroyBoth();
  }
});

test('an older agent\'s QEMU (anonymous RAM, no memory backend) migrates into nubo\'s (RAM in a memfd, id pc.ram): the RAM block matches, every byte arrives', async () => {
  const dir = join(root, 'anon');
  await mkdir(dir);
  const common = ['-nodefaults', '-display', 'none', '-m', '128M', '-kernel', image.kernel, '-initrd', image.initrd, '-append', 'console=ttyS0 quiet panic=-1'];
  const start = async (name: string, extra: string[]): Promise<QmpClient> => {
    const sock = join(dir, `${name}.qmp`);
    const child = spawn('qemu-system-x86_64', [...common, '-qmp', `unix:${sock},server=on,wait=off`, '-serial', `file:${join(dir, `${name}.serial`)}`, ...extra], { stdio: 'ignore' });
    child.unref();
    const qmp = await pollUntil(`${name} QMP`, () => QmpClient.connect(sock, { timeoutMs: 500 }).catch(() => undefined), { timeoutMs: 20_000 });
    qmp.onClose(() => undefined);
    return qmp;
  };
  const src = await start('src', ['-machine', 'pc,accel=tcg']);
  const dst = await start('dst', ['-machine', 'pc,accel=tcg,memory-backend=pc.ram', '-object', 'memory-backend-memfd,id=pc.ram,size=128M,share=on', '-incoming', 'defer']);
  try {
    await waitForConsole(join(dir, 'src.serial'), 'NUBO-READY', { timeoutMs: 60_000 }).catch(() => sleep(3_000));
    for (const q of [src, dst]) await q.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: false }, { capability: 'events', state: true }] });
    const uri = `unix:${join(dir, 'mig.sock')}`;
    await dst.execute('migrate-incoming', { uri });
    const arrived = dst.waitForEvent('MIGRATION', { timeoutMs: 60_000, match: (e) => ['completed', 'failed'].includes(String(e.data['status'])) });
    await src.execute('stop');
    await src.execute('migrate', { uri });
    assert.equal((await arrived).data['status'], 'completed');
    // Byte for byte: the first 64 MiB of guest-physical memory on both sides.
    const sums: string[] = [];
    for (const [q, n] of [[src, 'src'], [dst, 'dst']] as const) {
      const file = join(dir, `${n}.mem`);
      await q.executeUnchecked('pmemsave', { val: 0, size: 64 * MiB, filename: file });
      sums.push(createHash('sha256').update(await readFile(file)).digest('hex'));
    }
    assert.equal(sums[0], sums[1], 'the same RAM');
    await dst.execute('cont');
    await sleep(1_000);
    assert.equal((await dst.execute('query-status')).status, 'running', 'the guest runs on the destination');
  } finally {
    for (const q of [src, dst]) await q.executeUnchecked('quit').catch(() => undefined);
    src.close();
    dst.close();
  }
});

test('non-shared storage, sync top: the overlay is mirrored onto an overlay of B\'s copy of the base; images identical', async () => {
  await nonShared('top', false);
});

test('non-shared storage, sync full: the whole disk is mirrored into an empty image; images identical', async () => {
  await nonShared('full', false);
});

test('cancel during pre-copy: the source runs on, mirrors and NBD nodes are gone, the destination ends', async () => {
  const p = await pair(dsA, dsB);
  await overlayOnCopyOfBase(p.diskB);
  try {
    await bootSource(p);
    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST, nbdDisks: ['data'] });
    const destPid = (await b.status(VM)).pid!;
    await a.migration.mirrorDisks(VM, { nbd: ready.nbd!, sync: 'top' });
    await waitMirrorsReady();
    await a.migration.migrateOut(VM, { uri: ready.uri, params: SLOW });
    const active = await pollUntil('RAM on the wire', async () => {
      const s = await a.migration.migrationStatus(VM);
      return s.status === 'active' && s.transferredBytes > 0 ? s : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    assert.ok(active.remainingBytes > 0);

    // The levers work on a running migration; post-copy was not enabled, so the switch is refused.
    await a.migration.tuneMigration(VM, { maxBandwidthBytes: 2 * MiB, downtimeLimitMs: 500 });
    const params = await a.query(VM, 'query-migrate-parameters');
    assert.equal(params['max-bandwidth'], 2 * MiB);
    assert.equal(params['downtime-limit'], 500);
    await assert.rejects(a.migration.tuneMigration(VM, { startPostcopy: true }), isStateError);
    await assert.rejects(a.migration.migrateOut(VM, { uri: ready.uri, params: SLOW }), isStateError, 'one migration at a time');
    assert.equal((await a.migration.migrationStatus(VM)).status, 'active');

    await a.migration.cancelMigration(VM);
    assert.equal((await a.status(VM)).state, 'running');
    await uptime(p.portA);
    const after = await a.migration.migrationStatus(VM);
    assert.equal(after.status, 'none', 'the cancelled migration is forgotten');
    assert.deepEqual(after.disks, []);
    assert.deepEqual(await a.query(VM, 'query-block-jobs'), []);
    assert.deepEqual(await nbdNodes(a), []);
    assert.equal((await a.query(VM, 'query-migrate')).status, 'cancelled');
    await a.migration.cancelMigration(VM); // nothing to cancel: fine

    // QEMU ends the destination of a cancelled stream by itself.
    await pollUntil('destination exit', async () => ((await processGone(destPid)) ? true : undefined), { timeoutMs: 15_000 });
    assert.notEqual((await b.status(VM)).state, 'running');
  } finally {
    await destroyBoth();
  }
});

test('destination killed during pre-copy: the source reports failed and keeps running', async () => {
  const p = await pair(dsA, dsB);
  await overlayOnCopyOfBase(p.diskB);
  try {
    await bootSource(p);
    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST, nbdDisks: ['data'] });
    await a.migration.mirrorDisks(VM, { nbd: ready.nbd!, sync: 'top' });
    await waitMirrorsReady();
    await a.migration.migrateOut(VM, { uri: ready.uri, params: SLOW });
    await waitStatus(a, ['active'], 30_000);
    const { pid } = await b.status(VM);
    process.kill(pid!, 'SIGKILL');

    const failed = await waitStatus(a, ['failed', 'completed'], 30_000);
    assert.equal(failed.status, 'failed');
    assert.equal((await a.status(VM)).state, 'running');
    const up = await uptime(p.portA);
    assert.ok(up > 0);
    assert.equal((await b.status(VM)).state, 'crashed');

    await a.migration.cancelMigration(VM);
    assert.deepEqual(await a.query(VM, 'query-block-jobs'), []);
    assert.deepEqual(await nbdNodes(a), []);
    assert.equal((await a.status(VM)).state, 'running');
    assert.ok((await uptime(p.portA)) >= up, 'the guest runs on');
  } finally {
    await destroyBoth();
  }
});

test('destination lost after completion: the controller\'s resumeSource runs the postmigrate source again, disks writable', async () => {
  const p = await pair(dsA, dsB);
  await overlayOnCopyOfBase(p.diskB);
  try {
    await bootSource(p);
    const up0 = await uptime(p.portA);
    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST, nbdDisks: ['data'] });
    await a.migration.mirrorDisks(VM, { nbd: ready.nbd!, sync: 'top' });
    await waitMirrorsReady();
    await a.migration.migrateOut(VM, { uri: ready.uri, params: PARAMS });
    assert.equal((await waitStatus(a, ['completed', 'failed'])).status, 'completed');
    await waitStatus(b, ['completed'], 30_000);
    process.kill((await b.status(VM)).pid!, 'SIGKILL');

    await assert.rejects(a.resume(VM), isStateError, 'the ordinary resume still refuses');
    await a.migration.resumeSource(VM);
    assert.equal((await a.status(VM)).state, 'running');
    assert.deepEqual(await a.query(VM, 'query-block-jobs'), [], 'the mirrors to the dead destination are gone');
    assert.deepEqual(await nbdNodes(a), []);
    assert.ok((await uptime(p.portA)) >= up0, 'the same guest runs on');
    const lines = await logLines(p.portA);
    await sleep(1_000);
    assert.ok((await logLines(p.portA)) > lines, 'its disk took writes again');
    assert.equal((await a.migration.migrationStatus(VM)).status, 'none');
  } finally {
    await destroyBoth();
  }
});

test('TLS at both ends: the stream and the NBD mirror are encrypted and verified; images identical', async () => {
  await nonShared('top', true);
});

test('a TLS destination refuses a source without TLS: the migration fails and the source keeps running', async () => {
  const p = await pair(shared);
  try {
    await bootSource(p);
    const ready = await b.migration.startIncoming(p.specB, { listenHost: HOST, tls: { dir: pki.hosts[1]!.dir } });
    await a.migration.migrateOut(VM, { uri: ready.uri, params: PARAMS });
    const failed = await waitStatus(a, ['failed', 'completed'], 30_000);
    assert.equal(failed.status, 'failed');
    assert.equal((await a.status(VM)).state, 'running');
    await uptime(p.portA);
    assert.notEqual((await b.status(VM)).state, 'paused', 'the destination got no state');
  } finally {
    await destroyBoth();
  }
});
