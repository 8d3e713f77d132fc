import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { NuboClient } from '../src/client/nubo-client.js';
import { IMAGE_BUCKET } from '../src/controller/image-objects.js';
import { labDown, labFabricUp } from '../src/lab/lab.js';
import { FABRIC_ADDRESS } from '../src/lab/lab-state.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { DaemonProcess } from './support/daemon-process.js';
import { enrolLabHost } from './support/enrol-lab-host.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';

// One image store on a real host: `nubo controller --s3-listen` on the lab's
// fabric and one agent in a host namespace. The nubo-tiny images are uploaded
// through the native API (so they are objects of the system bucket), a VM
// boots from them, and the host fetched each one from the S3 listener by the
// presigned GET the image data route handed it (the listener logs each read
// of an image object). Then save-as with the controller SIGKILLed after the
// captured disk's object row and before its image row: no image, the restart
// sweeps the object and its blob, the retry saves the disk as an object.
// Run under `flock /tmp/nubo-lab.lock`.

const prefix = `is${randomBytes(3).toString('hex')}`;
let root = '';
let dir = '';
let port: number;
let s3Port: number;
let controller: DaemonProcess | undefined;
let api: NuboClient | undefined;
let image: TinyImage;
let fabricUp = false;
/** Every controller process's output, the killed ones' too. */
const outputs: DaemonProcess[] = [];

const dataDir = (): string => join(root, 'controller');
const startController = (failpoints?: string): DaemonProcess => {
  const c = DaemonProcess.start(['controller', '--listen', `${FABRIC_ADDRESS}:${port}`, '--s3-listen', `${FABRIC_ADDRESS}:${s3Port}`, '--data-dir', dataDir(), '--heartbeat-ms', '500'],
    { NUBO_HOME: root, ...(failpoints !== undefined ? { NUBO_FAILPOINTS: failpoints } : {}) });
  outputs.push(c);
  return c;
};
const systemObjects = (): { key: string; blob_id: string; size: number; etag: string }[] => {
  const db = new BetterSqlite3(join(dataDir(), 'nubo.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('select key, blob_id, size, etag from s3_objects where bucket = ? order by key').all(IMAGE_BUCKET) as { key: string; blob_id: string; size: number; etag: string }[];
  } finally {
    db.close();
  }
};
const blobs = async (): Promise<string[]> => (await readdir(join(dataDir(), 's3'))).sort();

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-imgstore-lab-'));
  dir = join(root, 'lab');
  port = await freePort();
  s3Port = await freePort();
  fabricUp = true;
  await labFabricUp(prefix, dir);
  controller = startController();
  api = await enrolLabHost({ prefix, dir, port, controller });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, ...tinyBoot(image), nics: [] });
});

after(async () => {
  for (const vm of api ? await api.listVms().catch(() => []) : []) {
    if (vm.state !== 'terminated') await api!.vmAction(vm.id, 'terminate-hard').catch(() => {});
  }
  if (api) await pollUntil('VMs terminated', async () => ((await api!.listVms().catch(() => [])).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  if (fabricUp) await labDown(dir).catch(() => {});
  await controller?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('a VM boots on a host from uploaded images, which the host fetched from the S3 listener by presigned GETs', async () => {
  const images = await api!.listImages();
  const keys = new Map<string, string>();
  for (const img of images) {
    const db = new BetterSqlite3(join(dataDir(), 'nubo.db'), { readonly: true, fileMustExist: true });
    const path = (db.prepare('select path from images where id = ?').get(img.id) as { path: string }).path;
    db.close();
    assert.equal(dirname(path), join(dataDir(), 's3'), `${img.name}'s bytes are a blob of the object store`);
    const obj = systemObjects().find((o) => o.blob_id === basename(path));
    assert.ok(obj, `${img.name} is an object of ${IMAGE_BUCKET}`);
    assert.equal(obj.size, img.sizeBytes, `${img.name}: the object has the image's size`);
    keys.set(img.name, obj.key);
  }
  assert.deepEqual([...keys.keys()].sort(), ['tiny-disk', 'tiny-initrd', 'tiny-kernel']);

  const vm = await api!.createVm({ template: 'tiny', name: 'from-objects' });
  await pollUntil('the VM booted', async () => (/NUBO-READY/.test(await api!.vmConsole(vm.id).catch(() => '')) ? true : undefined), { timeoutMs: 300_000, intervalMs: 1_000 });
  assert.equal((await api!.getVm(vm.id)).state, 'running');
  // Each image was read whole from the S3 listener (the host followed the data route's redirect to the presigned GET).
  for (const [name, key] of keys) {
    assert.match(controller!.output.join(''), new RegExp(`"key":"${key}","status":200[^\\n]*image object read`), `the host fetched ${name} from the S3 listener`);
  }
});

test('save-as with the controller SIGKILLed after the captured disk\'s object row and before its image row: no image; the restart sweeps the object and its blob; the retry saves an object', async () => {
  const vm = (await api!.listVms()).find((v) => v.state === 'running');
  assert.ok(vm);
  const objects0 = systemObjects();
  const blobs0 = await blobs();
  await controller!.stop();
  controller = startController('image-object.before-image=exit');
  await controller.waitFor(/controller listening/, 60_000);
  await pollUntil('the host is back', async () => ((await api!.listHosts()).some((h) => h.state === 'enabled') ? true : undefined), { timeoutMs: 60_000 });
  await assert.rejects(api!.saveVmAs(vm.id, { image: 'saved' }), 'the controller died under the save-as');
  await pollUntil('the controller killed at image-object.before-image', () => (controller!.alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 100 });
  assert.equal(controller.child.signalCode, 'SIGKILL');
  assert.equal(systemObjects().length, objects0.length + 1, 'the captured disk\'s object row was written');

  controller = startController();
  await controller.waitFor(/controller listening/, 60_000);
  await pollUntil('the sweep removed the object and its blob', async () => (systemObjects().length === objects0.length && JSON.stringify(await blobs()) === JSON.stringify(blobs0) ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 }).catch(() => undefined);
  assert.deepEqual(systemObjects(), objects0, 'no orphan object');
  assert.deepEqual(await blobs(), blobs0, 'no orphan blob');
  assert.equal((await api!.listImages()).some((i) => i.name === 'saved'), false, 'no half image');
  assert.deepEqual((await readdir(join(dataDir(), 'images'))).filter((f) => f.startsWith('.')), [], 'no temporary directory');

  await pollUntil('the host is back', async () => ((await api!.listHosts()).some((h) => h.state === 'enabled') ? true : undefined), { timeoutMs: 60_000 });
  const out = await api!.saveVmAs(vm.id, { image: 'saved' });
  const obj = systemObjects().find((o) => !objects0.some((p) => p.key === o.key));
  assert.ok(obj, 'the saved disk is an object of the system bucket');
  assert.equal(obj.size, out.image.sizeBytes);
  assert.equal((await api!.getVm(vm.id)).state, 'running', 'the VM ran on');
});
