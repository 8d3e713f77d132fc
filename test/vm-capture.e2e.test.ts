import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import type { TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageInfo } from '../src/storage/qemu-img.js';
import { pollUntil } from '../src/util/deadline.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { ControllerVmSpec } from '../src/controller/controller-vm-spec.js';
import { tinyBoot } from './support/tiny-images.js';
import type { VmView } from '../src/contract/vm-schemas.js';

// Images made from a VM's disk — save-as (image + template), clone, export as
// OVA — on one host with an in-process controller and agent and real QEMU (no
// lab). The guest writes random data to its disk once (/data is on the VM's
// disk) and prints its checksum on the serial console every second; every VM
// made from a copy of that disk must print the same checksum.

let cloud: InProcessCloud;
let image: TinyImage;
let root: string;
let controller: ControllerDaemon;
let api: NuboClient;
let srcId: string;
let sumA: string;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

// Written only when absent: a VM made from a copy keeps the copied file (and runs this same user data).
const USER_DATA = `#!/bin/sh
[ -f /data/blob ] || { dd if=/dev/urandom of=/data/blob bs=1M count=4 2>/dev/null; sync; }
while :; do
  echo "PROBE $(md5sum /data/blob | cut -c1-32) $(cut -d' ' -f1 /proc/uptime)"
  sleep 1
done
`;

async function probeSums(vmId: string): Promise<string[]> {
  const log = await api.vmConsole(vmId);
  return [...log.matchAll(/^PROBE ([0-9a-f]{32}) [0-9.]+\r?$/gm)].map((m) => m[1]!);
}

async function firstSum(vmId: string): Promise<string> {
  return pollUntil(`a checksum from VM ${vmId}`, async () => (await probeSums(vmId))[0], { timeoutMs: 120_000, intervalMs: 500 });
}

async function waitState(vmId: string, state: VmView['state']): Promise<void> {
  await pollUntil(`VM ${vmId} ${state}`, async () => {
    const v = await api.getVm(vmId);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason}`);
    return v.state === state ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 250 });
}

async function bootAndSum(vm: VmView): Promise<string> {
  await waitState(vm.id, 'running');
  return firstSum(vm.id);
}

async function terminate(vmId: string): Promise<void> {
  await api.vmAction(vmId, 'terminate-hard');
  await waitState(vmId, 'terminated');
}

async function rejects(p: Promise<unknown>, status: number, code: string, field?: string, match?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    if (field !== undefined) {
      const named = ((err.details['issues'] ?? []) as { field: string }[]).some((i) => i.field === field) || err.details['field'] === field;
      assert.ok(named, `names ${field}: ${JSON.stringify(err.details)}`);
    }
    if (match) assert.match(err.message, match);
    return true;
  });
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const captureFile = (vmId: string): string => join(root, 'h1', 'vms', agentVmId(vmId), 'capture.qcow2');
const specOf = async (vmId: string): Promise<ControllerVmSpec> => (await controller.store.vms.get(vmId)).spec as unknown as ControllerVmSpec;
/** What a refused request must leave as it was: images, templates, VMs, the image store's directory (no temporary leftovers). */
const snapshot = async (): Promise<unknown> => [
  (await api.listImages()).map((i) => i.name).sort(),
  (await api.listTemplates()).map((t) => t.name).sort(),
  (await api.listVms()).map((v) => `${v.name}:${v.state}`).sort(),
  (await readdir(join(root, 'controller', 'images'))).filter((f) => f.startsWith('.')),
];

const imageNamed = async (name: string): Promise<{ id: string; path: string; minMemoryMib: number }> => {
  const img = (await controller.store.images.list()).find((i) => i.name === name);
  assert.ok(img, `image ${name} is registered`);
  return img;
};

async function assertStandalone(imageName: string): Promise<void> {
  const info = await imageInfo((await imageNamed(imageName)).path);
  assert.equal(info.format, 'qcow2');
  assert.equal(info.backingFile, undefined, `image ${imageName} has no backing file`);
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-capture-', logger });
  ({ image, root, controller, api } = cloud);
  const vm = await api.createVm({ template: 'tiny', name: 'src', userData: USER_DATA });
  srcId = vm.id;
  sumA = await bootAndSum(vm);
});

after(async () => {
  await cloud.stop();
});

test('save-as of a running VM: a standalone image and a template; a VM from the template has the data', async () => {
  const began = Date.now();
  const out = await api.saveVmAs(srcId, { image: 'golden-disk', template: 'golden' });
  process.stdout.write(`# save-as of a running VM: ${Date.now() - began} ms\n`);
  assert.equal(out.image.name, 'golden-disk');
  assert.equal(out.image.format, 'qcow2');
  assert.equal(out.image.owner, 'admin');
  const t = out.template;
  assert.ok(t !== undefined);
  assert.deepEqual(
    [t.name, t.image, t.vcpus, t.memoryMiB, t.kernel, t.initrd, t.cmdline, t.userData, t.cpuModel, t.datastore, t.diskMode, t.nics],
    ['golden', 'golden-disk', 1, 128, 'tiny-kernel', 'tiny-initrd', image.cmdline, USER_DATA, 'qemu64', 'local', 'overlay', [{}]],
  );
  await assertStandalone('golden-disk');
  assert.equal(await exists(captureFile(srcId)), false, 'the host keeps no capture');
  assert.deepEqual((await snapshot() as unknown[])[3], [], 'no temporary directory left in the image store');

  // The source ran on: it booted once and still prints its checksum.
  assert.equal((await api.getVm(srcId)).state, 'running');
  assert.equal((await api.vmConsole(srcId)).split('NUBO-READY').length - 1, 1, 'the source booted once');

  const vm = await api.createVm({ template: 'golden', name: 'from-golden' });
  assert.equal(await bootAndSum(vm), sumA, 'a VM from the saved template reads the data the source wrote');
  await terminate(vm.id);
});

test('a save-as whose client goes away stops and leaves nothing behind; the next one works', async () => {
  const tempDirs = async (): Promise<string[]> => (await readdir(join(root, 'controller', 'images'))).filter((f) => f.startsWith('.'));
  await assert.rejects(api.saveVmAs(srcId, { image: 'gone-disk', template: 'gone' }, { timeoutMs: 150 }));
  // The controller sees the connection close, aborts the copy (or the block job on the host) and cleans up.
  await pollUntil('the aborted save-as cleaned up', async () => ((await tempDirs()).length === 0 && !(await exists(captureFile(srcId))) ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  await new Promise((r) => setTimeout(r, 1000));
  const names = (await api.listImages()).map((i) => i.name);
  assert.ok(!names.includes('gone-disk'), `no image from the aborted request: ${names.join(', ')}`);
  assert.ok(!(await api.listTemplates()).some((t) => t.name === 'gone'), 'no template from the aborted request');
  assert.equal((await api.getVm(srcId)).state, 'running');
  // No block job or node of the aborted capture is in the way of the next one.
  const out = await api.saveVmAs(srcId, { image: 'again-disk' });
  await assertStandalone(out.image.name);
  assert.equal(await exists(captureFile(srcId)), false);
});

test('bad save-as, clone and export requests are refused naming the problem, and change nothing', async () => {
  const pending = await api.createVm({ template: 'tiny', name: 'stuck', requirements: 'free_memory_mb > 99999999' });
  const before = await snapshot();
  // Names taken: 409 before anything is copied.
  await rejects(api.saveVmAs(srcId, { image: 'golden-disk' }), 409, 'CONFLICT', 'image', /golden-disk/);
  await rejects(api.saveVmAs(srcId, { image: 'fresh', template: 'golden' }), 409, 'CONFLICT', 'template', /golden/);
  await rejects(api.cloneVm(srcId, { name: 'src' }), 409, 'CONFLICT', 'name', /src/);
  await rejects(api.cloneVm(srcId, { name: 'golden' }), 409, 'CONFLICT', 'name', /golden-disk/);
  // Bad names and bodies: 400 naming the field.
  await rejects(api.saveVmAs(srcId, { image: '' }), 400, 'VALIDATION_FAILED', 'image');
  await rejects(api.saveVmAs(srcId, { image: '../etc/x' }), 400, 'VALIDATION_FAILED', 'image');
  await rejects(api.saveVmAs(srcId, { image: 'ok', template: 'no spaces' }), 400, 'VALIDATION_FAILED', 'template');
  await rejects(api.saveVmAs(srcId, {} as { image: string }), 400, 'VALIDATION_FAILED', 'image');
  await rejects(api.cloneVm(srcId, { name: '' }), 400, 'VALIDATION_FAILED', 'name');
  await rejects(api.cloneVm(srcId, { name: 'a/b' }), 400, 'VALIDATION_FAILED', 'name');
  await rejects(api.cloneVm(srcId, { name: 'x', vcpus: 2 } as { name: string }), 400, 'VALIDATION_FAILED');
  // A VM in a state whose disk cannot be captured: 409 naming the state.
  await rejects(api.saveVmAs(pending.id, { image: 'fresh' }), 409, 'INVALID_STATE', undefined, /state pending/);
  await rejects(api.cloneVm(pending.id, { name: 'fresh' }), 409, 'INVALID_STATE', undefined, /state pending/);
  const ova = join(root, 'stuck.ova');
  await rejects(api.exportVm(pending.id, ova), 409, 'INVALID_STATE', undefined, /state pending/);
  // No such VM.
  await rejects(api.saveVmAs('no-such-vm', { image: 'fresh' }), 404, 'NOT_FOUND');
  await rejects(api.cloneVm('no-such-vm', { name: 'fresh' }), 404, 'NOT_FOUND');
  await rejects(api.exportVm('no-such-vm', ova), 404, 'NOT_FOUND');
  assert.equal(await exists(ova), false, 'no file written for a refused export');
  // Less memory than the guest boots with (the tiny kernel's minimum, 96 MiB): refused on memoryMiB, naming the image.
  await rejects(api.createVm({ template: 'tiny', name: 'starved', memoryMiB: 64 }), 400, 'VALIDATION_FAILED', 'memoryMiB', /64 MiB is below the 96 MiB that image tiny-(kernel|initrd) needs/);
  await rejects(api.createTemplate({ name: 'starved', vcpus: 1, memoryMiB: 80, ...tinyBoot(image) }), 400, 'VALIDATION_FAILED', 'memoryMiB', /80 MiB is below the 96 MiB/);
  await rejects(api.createVm({ template: 'tiny', name: 'starved', memoryMiB: 16 }), 400, 'VALIDATION_FAILED', 'memoryMiB');

  assert.deepEqual(await snapshot(), before, 'no image, template, VM or temporary file was added');
  assert.equal(await exists(captureFile(srcId)), false, 'the host keeps no capture');
  await terminate(pending.id);
});

test('clone of a powered-off VM: a new VM with its own MAC and name whose disk has the data', async () => {
  await api.vmAction(srcId, 'poweroff');
  await waitState(srcId, 'poweroff');
  const began = Date.now();
  const clone = await api.cloneVm(srcId, { name: 'copy' });
  process.stdout.write(`# clone of a powered-off VM: ${Date.now() - began} ms to 201\n`);
  assert.equal(clone.name, 'copy');
  assert.equal(clone.owner, 'admin');
  assert.equal(clone.template, 'tiny', 'the clone descends from the source\'s template');
  assert.deepEqual(clone.cloneOf, { id: srcId, name: 'src' }, 'and says it is a clone of the source');
  assert.deepEqual((await api.getVm(clone.id)).cloneOf, { id: srcId, name: 'src' });
  assert.equal((await api.getVm(srcId)).cloneOf, undefined);
  assert.deepEqual([clone.vcpus, clone.memoryMiB], [1, 128]);
  assert.ok(['pending', 'prolog', 'boot', 'running'].includes(clone.state), clone.state);
  assert.equal((await api.getVm(srcId)).state, 'poweroff', 'the source stays powered off');
  await assertStandalone('copy-disk');
  assert.equal((await imageNamed('copy-disk')).minMemoryMib, 96, 'the copy needs what the VM\'s images needed');
  // A resize below what its images need is refused naming the image; one at their minimum is not.
  await rejects(api.resizeVm(srcId, { vcpus: 1, memoryMiB: 64 }), 400, 'VALIDATION_FAILED', 'memoryMiB', /image tiny-(kernel|initrd)/);
  assert.equal((await api.getVm(srcId)).memoryMiB, 128, 'nothing changed');
  assert.equal(await exists(captureFile(srcId)), false, 'the host keeps no capture');

  const [src, copy] = [await specOf(srcId), await specOf(clone.id)];
  assert.equal(copy.agent.disk.image.id, (await imageNamed('copy-disk')).id);
  assert.equal(copy.agent.context.hostname, 'copy');
  assert.equal(copy.agent.context.userData, USER_DATA);
  assert.equal(copy.agent.nics?.length, src.agent.nics?.length);
  assert.notEqual(copy.agent.nics?.[0]?.mac, src.agent.nics?.[0]?.mac, 'the clone has a MAC of its own');
  assert.deepEqual(copy.nicNetworks, src.nicNetworks);

  assert.equal(await bootAndSum(clone), sumA, 'the clone reads the data the source wrote');
  const log = await api.vmConsole(clone.id);
  assert.match(log, new RegExp(`NUBO-READY ${agentVmId(clone.id)}`), 'the clone booted as itself');
});

test('export of a suspended VM as an OVA, imported as a template: a VM from it has the data', async () => {
  const copyId = (await api.listVms()).find((v) => v.name === 'copy' && v.state === 'running')!.id;
  await api.vmAction(copyId, 'suspend');
  await waitState(copyId, 'suspended');
  const ova = join(root, 'copy.ova');
  const began = Date.now();
  const { bytes } = await api.exportVm(copyId, ova);
  process.stdout.write(`# export of a suspended VM: ${Date.now() - began} ms, ${bytes} bytes\n`);
  assert.equal((await stat(ova)).size, bytes);
  assert.equal(await exists(captureFile(copyId)), false, 'the host keeps no capture');
  assert.equal((await api.getVm(copyId)).state, 'suspended');

  const t = await api.uploadTemplate({ file: ova, name: 'from-ova' });
  assert.deepEqual(
    [t.image, t.vcpus, t.memoryMiB, t.kernel, t.initrd, t.cmdline, t.userData, t.cpuModel, t.datastore, t.diskMode],
    ['from-ova-disk', 1, 128, 'from-ova-kernel', 'from-ova-initrd', image.cmdline, USER_DATA, 'qemu64', 'local', 'overlay'],
  );
  await terminate(copyId);
  const vm = await api.createVm({ template: 'from-ova', name: 'from-ova' });
  assert.equal(await bootAndSum(vm), sumA, 'a VM from the imported OVA reads the data the source wrote');
  await terminate(vm.id);
});

test("what a plain user saves stays theirs: another user neither sees nor uses nor downloads it; the admin's catalog stays shared", async () => {
  const [erin, finn] = await Promise.all(['erin', 'finn'].map((name) => controller.store.users.create({ name, role: 'user' })));
  const asErin = new NuboClient(controller.url, erin!.token);
  const asFinn = new NuboClient(controller.url, finn!.token);
  const vm = await asErin.createVm({ template: 'tiny', name: 'erins' });
  await pollUntil('erin\'s VM running', async () => ((await asErin.getVm(vm.id)).state === 'running' ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
  const saved = await asErin.saveVmAs(vm.id, { image: 'erin-disk', template: 'erin-tpl' });
  const imageId = saved.image.id;

  assert.ok((await asErin.listImages()).some((i) => i.id === imageId), 'the owner sees the image');
  assert.ok((await asErin.listTemplates()).some((t) => t.name === 'erin-tpl'), 'and the template');
  assert.ok((await api.listImages()).some((i) => i.id === imageId), 'an admin sees it too');
  assert.ok(!(await asFinn.listImages()).some((i) => i.id === imageId), 'another user does not');
  assert.ok(!(await asFinn.listTemplates()).some((t) => t.name === 'erin-tpl'));
  await rejects(asFinn.getImage(imageId), 404, 'NOT_FOUND');
  const data = await fetch(`${controller.url}/api/v1/images/${imageId}/data`, { headers: { authorization: `Bearer ${finn!.token}` } });
  assert.equal(data.status, 404, 'nor downloads its bytes');
  await data.body?.cancel();
  await rejects(asFinn.createVm({ template: 'erin-tpl', name: 'stolen' }), 400, 'VALIDATION_FAILED', 'template', /no template erin-tpl/);
  await rejects(asFinn.createTemplate({ name: 'f-tpl', vcpus: 1, memoryMiB: 128, image: imageId }), 400, 'VALIDATION_FAILED', 'image');
  assert.ok((await asFinn.listTemplates()).some((t) => t.name === 'tiny'), "the admin's templates are everyone's");
  assert.ok((await asFinn.listImages()).some((i) => i.name === 'tiny-disk'), "and so are the admin's images");
  await asErin.vmAction(vm.id, 'terminate-hard');
});
