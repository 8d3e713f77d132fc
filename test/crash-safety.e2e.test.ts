import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NuboClient } from '../src/client/nubo-client.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { VmView } from '../src/contract/vm-schemas.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';

let image: TinyImage;
let root: string;
let controllerPort: number;
let agentPort: number;
let controller: DaemonProcess;
let agent: DaemonProcess;
let api: NuboClient;
const agentTokenFile = (): string => join(root, 'agent-token');

function startController(o: { heartbeatMs?: number; env?: NodeJS.ProcessEnv } = {}): DaemonProcess {
  return DaemonProcess.start(['controller', '--listen', `127.0.0.1:${controllerPort}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', String(o.heartbeatMs ?? 1000)], o.env);
}
function startAgent(): DaemonProcess {
  return DaemonProcess.start([
    'agent', '--name', 'h1', '--listen', `127.0.0.1:${agentPort}`, '--token-file', agentTokenFile(),
    '--controller', `http://127.0.0.1:${controllerPort}`, '--data-dir', join(root, 'h1'), '--run-dir', join(root, 'run'), '--heartbeat-ms', '500',
  ]);
}

async function waitState(id: string, states: readonly string[], timeoutMs = 120_000): Promise<VmView> {
  return pollUntil(`VM ${id} ${states.join('|')}`, async () => {
    const vm = await api.getVm(id).catch(() => undefined);
    return vm && states.includes(vm.state) ? vm : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-crash-'));
  controllerPort = await freePort();
  agentPort = await freePort();
  await writeFile(agentTokenFile(), randomBytes(24).toString('hex'));
  controller = startController();
  const token = await controller.waitFor(/its token \(shown once\): (\S+)/);
  api = new NuboClient(`http://127.0.0.1:${controllerPort}`, token);
  await api.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${agentPort}`, agentToken: await readFile(agentTokenFile(), 'utf8') });
  agent = startAgent();
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 30_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, ...tinyBoot(image) });
});

// Tolerates a set-up that failed half-way: whatever was made is still removed.
after(async () => {
  if (api) {
    for (const vm of await api.listVms().catch(() => [])) if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    await sleep(2_000);
  }
  await controller?.stop();
  await agent?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

// The controller dies at different moments of a provision: while scheduling, in prolog, in boot, just after.
for (const delayMs of [0, 60, 150, 400]) {
  test(`controller killed ${delayMs} ms into a provision: after restart the VM runs exactly once`, async () => {
    const vm = await api.createVm({ template: 'tiny' });
    await sleep(delayMs);
    const seen = (await api.getVm(vm.id).catch(() => undefined))?.state;
    await controller.kill();
    controller = startController();
    await controller.waitFor(/controller listening/);
    const running = await waitState(vm.id, ['running', 'failed']);
    assert.equal(running.state, 'running', `state at the kill: ${seen}; reason: ${running.stateReason}`);
    const pids = await qemuPidsOf(agentVmId(vm.id));
    assert.equal(pids.length, 1, `exactly one QEMU for the VM (state at the kill: ${seen})`);
    const onAgent = (await api.listVms({ host: 'h1' })).filter((v) => v.id === vm.id);
    assert.equal(onAgent.length, 1, 'one record, not duplicated');
    const creates = (await api.getVm(vm.id)).history.filter((h) => h.to === 'running');
    assert.equal(creates.length, 1, 'the VM reached running once');
    await api.vmAction(vm.id, 'terminate-hard');
    await waitState(vm.id, ['terminated']);
    assert.deepEqual(await qemuPidsOf(agentVmId(vm.id)), []);
  });
}

test('agent killed and restarted: it adopts the running VM and the store agrees', async () => {
  const vm = await api.createVm({ template: 'tiny' });
  await waitState(vm.id, ['running']);
  const [pid] = await qemuPidsOf(agentVmId(vm.id));
  assert.ok(pid);
  await agent.kill();
  // Silent for 3 heartbeats: the host goes to error, its VM to unknown.
  await waitState(vm.id, ['unknown'], 30_000);
  assert.equal((await api.getHost('h1')).state, 'error');
  assert.deepEqual(await qemuPidsOf(agentVmId(vm.id)), [pid], 'the guest kept running meanwhile');
  agent = startAgent();
  const back = await waitState(vm.id, ['running'], 30_000);
  assert.equal(back.host, 'h1');
  assert.equal((await api.getHost('h1')).state, 'enabled');
  assert.deepEqual(await qemuPidsOf(agentVmId(vm.id)), [pid], 'adopted: the same QEMU process, not a reboot');
  // The adopted VM is fully operable.
  await api.vmAction(vm.id, 'terminate-hard');
  await waitState(vm.id, ['terminated']);
  assert.deepEqual(await qemuPidsOf(agentVmId(vm.id)), []);
  assert.deepEqual((await api.getHost('h1')).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 });
});

// `nubo up` (controller and agent in one process) killed during a provision:
// both die; the controller is back first and finds the agent unreachable for
// a while. That is no answer, so the step waits for it. An agent takes
// 10–15 s to start here (host facts, adoption): the restarted controller's
// silence limit (3 beats, 30 s) gives it that time before the host is lost.
for (const point of ['vm.prolog', 'vm.boot', 'vm.boot.done']) {
  test(`controller and agent killed together at ${point}, the controller back first: once the agent is back the VM runs, one QEMU, never failed`, async () => {
    // Whatever an earlier test left (a daemon down), this one starts from both up.
    await controller.stop();
    if (!agent.alive) {
      agent = startAgent();
      await agent.waitFor(/agent listening/, 60_000);
    }
    controller = startController({ env: { NUBO_FAILPOINTS: `${point}=exit` } });
    await controller.waitFor(/controller listening/);
    await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
    const vm = await api.createVm({ template: 'tiny' });
    await pollUntil(`controller crashed at ${point}`, () => (controller.alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 20 });
    await agent.kill();
    const atCrash = (await qemuPidsOf(agentVmId(vm.id))).length;
    controller = startController({ heartbeatMs: 10_000 });
    await controller.waitFor(/controller listening/);
    await sleep(1_500);
    const waiting = await api.getVm(vm.id);
    assert.ok(['prolog', 'boot'].includes(waiting.state), `the agent being away is no failure: ${waiting.state} ${waiting.stateReason ?? ''}`);
    agent = startAgent();
    const done = await waitState(vm.id, ['running', 'failed'], 120_000);
    const tail = (d: DaemonProcess): string => d.output.join('').split('\n').filter((l) => l.includes(vm.id) || /host|heartbeat/i.test(l)).slice(-15).join('\n');
    assert.equal(done.state, 'running', `reason: ${done.stateReason}\ncontroller:\n${tail(controller)}\nagent:\n${tail(agent)}`);
    const pids = await qemuPidsOf(agentVmId(vm.id));
    assert.equal(pids.length, 1, `exactly one QEMU (${atCrash} when the daemons died)`);
    const history = (await api.getVm(vm.id)).history;
    assert.ok(!history.some((h) => h.to === 'failed'), `never recorded failed: ${JSON.stringify(history)}`);
    assert.equal(history.filter((h) => h.to === 'running').length, 1);
    await api.vmAction(vm.id, 'terminate-hard');
    await waitState(vm.id, ['terminated']);
    assert.deepEqual(await qemuPidsOf(agentVmId(vm.id)), []);
  });
}
