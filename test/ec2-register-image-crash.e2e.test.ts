import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { IMAGE_BUCKET } from '../src/controller/image-objects.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { DaemonProcess } from './support/daemon-process.js';

// RegisterImage's crash point, with the real processes: `nubo image register
// --from-s3` (the route RegisterImage uses) against a `nubo controller`
// started with NUBO_FAILPOINTS=image-object.before-image=exit, so the
// controller is SIGKILLed after the image's object row (the decision) and
// before its image row. Then: no image, the object and its bytes still there;
// restarted, the controller's sweep removes both; the retry registers the
// image whole. (Also the CLI's --from-s3 against a real controller.)

const execFileP = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'nubo.js');
let root: string;
let port: number;
let s3Port: number;
let controller: DaemonProcess | undefined;
let env: NodeJS.ProcessEnv;

const dataDir = (): string => join(root, 'controller');
const startController = (failpoints?: string): DaemonProcess =>
  DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--s3-listen', `127.0.0.1:${s3Port}`, '--data-dir', dataDir(), '--heartbeat-ms', '1000'],
    { NUBO_HOME: root, ...(failpoints !== undefined ? { NUBO_FAILPOINTS: failpoints } : {}) });

const nubo = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const r = await execFileP(process.execPath, [CLI, ...args], { env, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
};

/** The system bucket's objects, read from the controller's SQLite database beside it (WAL: a reader does not disturb it). */
function systemObjects(): { key: string; blob_id: string }[] {
  const db = new BetterSqlite3(join(dataDir(), 'nubo.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('select key, blob_id from s3_objects where bucket = ? order by key').all(IMAGE_BUCKET) as { key: string; blob_id: string }[];
  } finally {
    db.close();
  }
}
const blobs = async (): Promise<string[]> => (await readdir(join(dataDir(), 's3'))).filter((f) => !f.startsWith('.')).sort();

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-regimg-crash-'));
  port = await freePort();
  s3Port = await freePort();
  controller = startController('image-object.before-image=exit');
  const token = await controller.waitFor(/its token \(shown once\): (\S+)/, 60_000);
  env = { ...process.env, NUBO_HOME: root, NUBO_URL: `http://127.0.0.1:${port}`, NUBO_TOKEN: token };
  await controller.waitFor(/s3 listening/, 60_000);
  const key = await nubo(['user', 'access-key', 'create', '--json']);
  assert.equal(key.code, 0, key.stderr);
  const { accessKeyId, secretAccessKey } = JSON.parse(key.stdout) as { accessKeyId: string; secretAccessKey: string };
  const disk = join(root, 'disk.qcow2');
  await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
  const awsEnv = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_DEFAULT_REGION: 'nubo-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PAGER: '' };
  const endpoint = `http://127.0.0.1:${s3Port}`;
  await execFileP('/usr/bin/aws', ['s3', 'mb', 's3://disks', '--endpoint-url', endpoint], { env: awsEnv, timeout: 120_000 });
  await execFileP('/usr/bin/aws', ['s3', 'cp', disk, 's3://disks/os/disk.qcow2', '--endpoint-url', endpoint], { env: awsEnv, timeout: 120_000 });
});

after(async () => {
  await controller?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('controller SIGKILLed between the image\'s object row and its image row: no half image; the restart sweeps the object; the retry registers it whole', async () => {
  const blobs0 = await blobs();
  assert.deepEqual(systemObjects(), [], 'no image object yet');

  const killed = await nubo(['image', 'register', 'os-disk', '--from-s3', 'disks/os/disk.qcow2']);
  assert.notEqual(killed.code, 0, 'the controller died under the request');
  await pollUntil('the controller killed at image-object.before-image', () => (controller!.alive ? undefined : true), { timeoutMs: 30_000, intervalMs: 100 });
  assert.equal(controller!.child.signalCode, 'SIGKILL');
  const left = systemObjects();
  assert.equal(left.length, 1, 'the decision (the object row) was written before the kill');
  assert.ok((await blobs()).includes(left[0]!.blob_id), 'and its bytes, a blob of their own');

  controller = startController();
  await controller.waitFor(/s3 listening/, 60_000);
  // The sweep deletes the object's row, then its bytes: wait for both (CI once looked between the two).
  const swept = async (): Promise<true | undefined> => (systemObjects().length === 0 && JSON.stringify(await blobs()) === JSON.stringify(blobs0) ? true : undefined);
  await pollUntil('the start-up sweep removed the object of the registration that did not finish, and its bytes', swept, { timeoutMs: 60_000, intervalMs: 200 }).catch(() => undefined);
  assert.deepEqual(systemObjects(), [], 'the object of the registration that did not finish is gone');
  assert.deepEqual(await blobs(), blobs0, 'its bytes went with it (the user\'s object stays)');
  const listed = await nubo(['image', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as { name: string }[]).map((i) => i.name), [], 'no half image');

  const retry = await nubo(['image', 'register', 'os-disk', '--from-s3', 'disks/os/disk.qcow2', '--json']);
  assert.equal(retry.code, 0, retry.stderr);
  const img = JSON.parse(retry.stdout) as { name: string; format: string; virtualSizeBytes: number };
  assert.deepEqual([img.name, img.format, img.virtualSizeBytes], ['os-disk', 'qcow2', 16 * 1024 ** 2]);
  const objects = systemObjects();
  assert.equal(objects.length, 1, 'the image is one object of the system bucket');
  assert.ok((await blobs()).includes(objects[0]!.blob_id));

  const bad = await nubo(['image', 'register', 'other', '--from-s3', 'disks/missing.qcow2']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /key.*no object missing\.qcow2|no object missing\.qcow2/);
  assert.equal(systemObjects().length, 1, 'a refused registration writes nothing');
});
