import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NuboClient } from '../src/client/nubo-client.js';
import { ElasticityClient } from '../src/client/elasticity-client.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { DaemonProcess } from './support/daemon-process.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';

/**
 * Issue 16 item 6, crash safety: `nubo controller` and `nubo agent` as
 * processes with real QEMU; the controller SIGKILLs itself at
 * `autoscale.vm-recorded` — a scale-out decided and journaled, the new
 * member's VM recorded, the member row not yet pointing at it. The restarted
 * controller adopts that VM by its name and boots it: exactly the decided
 * VMs exist, none made twice, none lost.
 */

let root: string;
let controllerPort: number;
let agentPort: number;
let controller: DaemonProcess;
let agent: DaemonProcess;
let api: NuboClient;
let sg: ElasticityClient;
const tokenFile = (): string => join(root, 'agent-token');

function startController(env: NodeJS.ProcessEnv = {}): DaemonProcess {
  return DaemonProcess.start(['controller', '--listen', `127.0.0.1:${controllerPort}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '1000'], env);
}

before(async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-autoscale-crash-'));
  controllerPort = await freePort();
  agentPort = await freePort();
  await writeFile(tokenFile(), randomBytes(24).toString('hex'));
  controller = startController({ NUBO_FAILPOINTS: 'autoscale.vm-recorded=exit' });
  const token = await controller.waitFor(/its token \(shown once\): (\S+)/);
  api = new NuboClient(`http://127.0.0.1:${controllerPort}`, token);
  sg = new ElasticityClient(api.baseUrl, token);
  await api.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${agentPort}`, agentToken: await readFile(tokenFile(), 'utf8') });
  agent = DaemonProcess.start([
    'agent', '--name', 'h1', '--listen', `127.0.0.1:${agentPort}`, '--token-file', tokenFile(),
    '--controller', api.baseUrl, '--data-dir', join(root, 'h1'), '--run-dir', join(root, 'run'), '--heartbeat-ms', '500',
  ]);
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, ...tinyBoot(image) });
});

// Tolerates a set-up that failed half-way: whatever was made is still removed.
after(async () => {
  if (api && controller?.alive) {
    for (const vm of await api.listVms().catch(() => [])) if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    await pollUntil('every VM terminated', async () => ((await api.listVms().catch(() => [])).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  }
  await controller?.stop();
  await agent?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('controller SIGKILLed at autoscale.vm-recorded: the restarted controller adopts the recorded VM; exactly one member VM, running', async () => {
  await sg.createScalingGroup({ name: 'crash', template: 'tiny', min: 0, max: 1, policy: { metric: 'custom', scaleOutAbove: 100, scaleInBelow: 10, cooldownS: 0 } });
  await sg.pushScalingMetric('crash', 500);
  // The next round (every 15 s) decides 0 → 1, records crash-1's VM, and dies before the member row names it.
  await pollUntil('the controller to die at autoscale.vm-recorded', async () => (controller.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 200 });
  controller = startController();
  await controller.waitFor(/controller listening/, 120_000);
  const g = await pollUntil('crash-1 adopted and running', async () => {
    const x = await sg.getScalingGroup('crash');
    return x.members.length === 1 && x.members[0]?.state === 'active' && x.members[0].vmState === 'running' ? x : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal(g.desired, 1);
  assert.equal(g.members[0]?.vm, 'crash-1');
  const vms = (await api.listVms()).filter((v) => v.name.startsWith('crash-'));
  assert.deepEqual(vms.map((v) => [v.name, v.state]), [['crash-1', 'running']], 'no second VM was ever made');
  assert.equal(g.members[0]?.vmId, vms[0]?.id);
  const history = await sg.scalingHistory('crash');
  assert.equal(history.filter((h) => h.kind === 'scale-out').length, 1, JSON.stringify(history));
  assert.deepEqual(history.filter((h) => h.kind === 'vm-created').map((h) => h.message), ['crash-1 created (adopted by name: the round that made it did not finish)']);
});
