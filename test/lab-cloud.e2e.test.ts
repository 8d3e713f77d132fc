import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil } from '../src/util/deadline.js';
import { processGone, readPidFile } from '../src/hypervisor/qemu/qemu-process.js';
import { labDown, labFabricUp, labUp } from '../src/lab/lab.js';
import { FABRIC_ADDRESS, type LabHost } from '../src/lab/lab-state.js';
import { labLeftovers, reachProber } from './support/lab-checks.js';

/**
 * The whole path through the controller on a 3-host lab: images, networks and
 * templates through the API; VMs placed by requirements, leased addresses,
 * VLAN isolation seen from a guest; terminate gives the leases back.
 */

const prefix = `nc${randomBytes(3).toString('hex')}`;
let root: string;
let dir: string;
let controller: ControllerDaemon;
let api: NuboClient;
let image: TinyImage;
let hosts: LabHost[] = [];
let labIsDown = false;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

async function waitState(id: string, state: string, timeoutMs = 120_000): Promise<VmDetailView> {
  return pollUntil(`VM ${id} ${state}`, async () => {
    const vm = await api.getVm(id);
    if (vm.state === 'failed' && state !== 'failed') throw new Error(`VM ${id} failed: ${vm.stateReason}`);
    return vm.state === state ? vm : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

async function waitConsole(id: string, re: RegExp, timeoutMs = 90_000): Promise<string> {
  let last = '';
  try {
    return await pollUntil(`${id}: ${re}`, async () => {
      last = await api.vmConsole(id);
      return re.test(last) ? last : undefined;
    }, { timeoutMs, intervalMs: 500 });
  } catch (err) {
    throw new Error(`${String(err)}\n--- console of ${id} ---\n${last.slice(-3000)}`, { cause: err });
  }
}

function hostName(index: number): string {
  const h = hosts.find((x) => x.index === index);
  assert.ok(h, `lab host ${index}`);
  return h.name;
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-labcloud-'));
  dir = join(root, 'lab');
  await labFabricUp(prefix, dir);
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 500, logger });
  const token = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, token);
  const r = await labUp({ prefix, dir, hosts: 3, controller: { url: controller.url, token }, heartbeatMs: 500 });
  hosts = r.state.hosts;
  for (const h of hosts) await pollUntil(`host ${h.name} enabled`, async () => ((await api.getHost(h.name)).state === 'enabled' ? true : undefined), { timeoutMs: 30_000 });
  await api.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await api.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
  await api.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
});

after(async () => {
  for (const vm of await api.listVms().catch(() => [])) {
    if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
  }
  await controller.orchestrator.idle().catch(() => {});
  if (!labIsDown) await labDown(dir).catch(() => {});
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('through the controller: a (blue, h1) reaches b (blue, h2) and not c (red, h3); terminate frees the leases; lab down leaves nothing', async () => {
  const blue = await api.createNetwork({ name: 'blue', cidr: '198.18.64.0/24', gateway: '198.18.64.1', vlan: 100 });
  const red = await api.createNetwork({ name: 'red', cidr: '198.18.65.0/24', vlan: 200 });
  const common = { vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline };
  await api.createTemplate({ name: 'tiny-blue', ...common, nics: [{ network: 'blue' }] });
  await api.createTemplate({ name: 'tiny-red', ...common, nics: [{ network: 'red' }] });
  const on = (i: number): string => `hostname == "${hostName(i)}"`;

  // b and c first: a's probes must meet guests that are up.
  const b = await api.createVm({ template: 'tiny-blue', name: 'b', requirements: on(2) });
  const c = await api.createVm({ template: 'tiny-red', name: 'c', requirements: on(3) });
  const addressOf = new Map<string, string>();
  for (const [vm, i] of [[b, 2], [c, 3]] as const) {
    const running = await waitState(vm.id, 'running');
    assert.equal(running.host, hostName(i), `${vm.name} placed by its requirement`);
    await waitConsole(vm.id, /NUBO-READY/);
    const nic = (await api.getVm(vm.id)).nics[0];
    assert.ok(nic?.address, `${vm.name} has an address`);
    addressOf.set(vm.name, nic.address.split('/')[0]!);
  }
  const bIp = addressOf.get('b')!;
  const cIp = addressOf.get('c')!;
  assert.match(bIp, /^198\.18\.64\.\d+$/);
  assert.match(cIp, /^198\.18\.65\.\d+$/);
  assert.equal((await api.getNetwork(blue.id)).addresses.leased, 1);

  const a = await api.createVm({ template: 'tiny-blue', name: 'a', requirements: on(1), userData: reachProber([bIp, cIp]) });
  assert.equal((await waitState(a.id, 'running')).host, hostName(1));
  const aNic = (await api.getVm(a.id)).nics[0];
  assert.match(aNic?.address ?? '', /^198\.18\.64\.\d+\/24$/);
  assert.notEqual(aNic?.address?.split('/')[0], bIp);
  const out = await waitConsole(a.id, new RegExp(`REACH ${cIp.replace(/\./g, '\\.')} (OK|FAIL)`));
  assert.match(out, new RegExp(`REACH ${bIp.replace(/\./g, '\\.')} OK`), 'a reaches b: same network, other host');
  assert.match(out, new RegExp(`REACH ${cIp.replace(/\./g, '\\.')} FAIL`), 'a does not reach c: other VLAN');

  // QEMU pids, to check they are gone at the end.
  const pids: number[] = [];
  for (const [vm, i] of [[a, 1], [b, 2], [c, 3]] as const) {
    const h = hosts.find((x) => x.index === i)!;
    const pid = await readPidFile(join(h.runDir, agentVmId(vm.id), 'qemu.pid'));
    if (pid !== undefined) pids.push(pid);
  }
  assert.equal(pids.length, 3, 'one QEMU per VM');

  for (const vm of [a, b, c]) await api.vmAction(vm.id, 'terminate-hard');
  for (const vm of [a, b, c]) await waitState(vm.id, 'terminated');
  for (const net of [blue, red]) {
    const n = await api.getNetwork(net.id);
    assert.deepEqual(n.addresses, { total: net.addresses.total, free: net.addresses.total, leased: 0, held: 0 }, `${net.name}: every lease is free again`);
    assert.deepEqual(n.leases.filter((l) => l.state !== 'free'), []);
  }
  for (const i of [1, 2, 3]) assert.deepEqual((await api.getHost(hostName(i))).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 });

  await labDown(dir);
  labIsDown = true;
  assert.deepEqual(await labLeftovers(prefix), []);
  for (const pid of pids) assert.equal(await processGone(pid), true, `QEMU ${pid} gone`);
});
