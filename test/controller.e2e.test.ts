import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { AgentDaemon } from '../src/agent/agent-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import type { VmView } from '../src/contract/vm-schemas.js';

let image: TinyImage;
let root: string;
let controller: ControllerDaemon;
let agent: AgentDaemon;
let api: NuboClient;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

async function waitState(id: string, state: string, timeoutMs = 120_000): Promise<VmView> {
  return pollUntil(`VM ${id} ${state}`, async () => {
    const vm = await api.getVm(id);
    if (vm.state === 'failed' && state !== 'failed') throw new Error(`VM ${id} failed: ${vm.stateReason}`);
    return vm.state === state ? vm : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-ctl-'));
  controller = await ControllerDaemon.start({
    dataDir: join(root, 'controller'),
    listen: { host: '127.0.0.1', port: 0 },
    // Agents beat every 500 ms; the controller gives up on a host after 3 × 1 s, slack for CI under load.
    heartbeatIntervalMs: 1000,
    // Two real CPUs here: a 1.5× CPU overcommit makes room for exactly three 1-vCPU VMs.
    placement: { cpuOvercommit: 1.5 },
    logger,
  });
  const token = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, token);
  const agentToken = randomBytes(24).toString('hex');
  const port = await freePort();
  await api.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${port}`, agentToken });
  agent = await AgentDaemon.start({
    name: 'h1',
    dataDir: join(root, 'h1'),
    runDir: join(root, 'run'),
    listen: { host: '127.0.0.1', port },
    token: agentToken,
    controllerUrl: controller.url,
    heartbeatIntervalMs: 500,
    logger,
  });
  await pollUntil('host h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 20_000 });
  await api.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await api.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
  await api.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline });
});

after(async () => {
  for (const vm of await api.listVms().catch(() => [])) {
    if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
  }
  await controller.orchestrator.idle();
  await agent.stop();
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('three VMs from a template run and boot; a fourth waits with its reason and starts when one is terminated', async () => {
  const vms = await Promise.all(['a', 'b', 'c'].map((n) => api.createVm({ template: 'tiny', name: `vm-${n}` })));
  for (const vm of vms) {
    assert.equal(vm.state, 'pending');
    const running = await waitState(vm.id, 'running');
    assert.equal(running.host, 'h1');
  }
  for (const vm of vms) {
    await pollUntil(`NUBO-READY on ${vm.name}`, async () => ((await api.vmConsole(vm.id)).includes('NUBO-READY') ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
  }
  const host = await api.getHost('h1');
  assert.equal(host.reserved.cpus, 3);
  assert.equal(host.reserved.memoryMiB, 3 * 128);

  const fourth = await api.createVm({ template: 'tiny', name: 'vm-d' });
  const waiting = await pollUntil('a pending reason', async () => {
    const v = await api.getVm(fourth.id);
    return v.stateReason !== null ? v : undefined;
  }, { timeoutMs: 10_000 });
  assert.equal(waiting.state, 'pending');
  assert.match(waiting.stateReason ?? '', /no host fits: .*cpu/i);

  await api.vmAction(vms[0]!.id, 'terminate');
  await waitState(vms[0]!.id, 'terminated');
  await waitState(fourth.id, 'running');
  const d = await api.getVm(fourth.id);
  assert.deepEqual(d.history.map((h) => h.to).filter((s, i, a) => a.indexOf(s) === i), ['pending', 'prolog', 'boot', 'running']);

  for (const vm of [vms[1]!, vms[2]!, fourth]) await api.vmAction(vm.id, 'terminate-hard');
  for (const vm of [vms[1]!, vms[2]!, fourth]) await waitState(vm.id, 'terminated');
  const freed = await api.getHost('h1');
  assert.deepEqual(freed.reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 }, 'terminate returns every reservation');
});

test('the life cycle through the API: poweroff, start, suspend, resume, reboot; wrong-state actions are 409 naming the state', async () => {
  const vm = await api.createVm({ template: 'tiny', name: 'vm-life' });
  await waitState(vm.id, 'running');
  await assert.rejects(api.vmAction(vm.id, 'start'), (err: unknown) => {
    const e = err as { status?: number; code?: string; message?: string };
    assert.equal(e.status, 409);
    assert.equal(e.code, 'INVALID_STATE');
    assert.match(e.message ?? '', /running/);
    return true;
  });
  await pollUntil('booted', async () => ((await api.vmConsole(vm.id)).includes('NUBO-READY') ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
  const boots = async (): Promise<number> => (await api.vmConsole(vm.id)).split('NUBO-READY').length - 1;
  await api.vmAction(vm.id, 'suspend');
  await waitState(vm.id, 'suspended');
  await api.vmAction(vm.id, 'resume');
  await waitState(vm.id, 'running');
  // One console log for the VM's life: the resumed VM's still holds its boot.
  assert.equal(await boots(), 1, 'the console after a resume still shows the boot');
  await api.vmAction(vm.id, 'poweroff');
  await waitState(vm.id, 'poweroff');
  assert.equal((await api.getHost('h1')).reserved.cpus, 1, 'a powered-off VM keeps its reservation');
  await api.vmAction(vm.id, 'start');
  await waitState(vm.id, 'running');
  // `running` is QEMU's state, not the guest's: a guest still booting ignores the ACPI button, and the reboot
  // would wait out the controller's 60 s grace before its reset (that path is vm-reboot's, with a short grace).
  // The console log goes on across a power cycle: this boot's marker is the second.
  await pollUntil('booted again', async () => ((await boots()) >= 2 ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
  assert.equal(await boots(), 2, 'both boots on the console');
  await api.vmAction(vm.id, 'reboot');
  await waitState(vm.id, 'running');
  await api.vmAction(vm.id, 'terminate-hard');
  await waitState(vm.id, 'terminated');
  const states = (await api.getVm(vm.id)).history.map((h) => h.to);
  for (const s of ['suspended', 'poweroff', 'shutdown', 'saving', 'epilog', 'terminated']) assert.ok(states.includes(s as never), `history has ${s}`);
});
