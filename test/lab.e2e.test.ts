import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil } from '../src/util/deadline.js';
import { createTap, tapExists } from '../src/network/tap-device.js';
import { processGone, readPidFile } from '../src/hypervisor/qemu/qemu-process.js';
import { labDown, labFabricUp, labStatus, labUp, startLabAgent } from '../src/lab/lab.js';
import { ensureBridge, ensureNetns, ensureUplink } from '../src/network/lab-topology.js';
import { isLabProcess, logSize, waitForLog } from '../src/lab/lab-process.js';
import { FABRIC_ADDRESS, HOST_BRIDGE, HOST_UPLINK, labStateFile, planHost, readLabState, writeLabState } from '../src/lab/lab-state.js';
import { AgentClient } from '../src/client/agent-client.js';
import { checkMigrationTlsDir } from '../src/security/migration-pki.js';
import { runCommand } from '../src/util/run-command.js';
import { nsHttpGet } from './support/ns-http-get.js';
import { labLeftovers } from './support/lab-checks.js';

const prefix = `nt${randomBytes(3).toString('hex')}`;
const crashPrefix = `nt${randomBytes(3).toString('hex')}`;
let root: string;
let dir: string;
let crashDir: string;
let controller: ControllerDaemon;
let token: string;
let api: NuboClient;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

before(async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-lab-'));
  dir = join(root, 'lab');
  crashDir = join(root, 'crash-lab');
  // The fabric first: the controller binds to its address.
  await labFabricUp(prefix, dir);
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 500, logger });
  token = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, token);
  await api.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await api.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
  await api.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline });
});

after(async () => {
  await labDown(dir).catch(() => {});
  await labDown(crashDir).catch(() => {});
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('lab up: two hosts in their namespaces, agents started, registered, enabled', async () => {
  const r = await labUp({ prefix, dir, hosts: 2, controller: { url: controller.url, token }, heartbeatMs: 500 });
  assert.deepEqual(r.state.hosts.map((h) => [h.name, h.netns, h.address]), [['h1', `${prefix}-h1`, '198.18.1.1'], ['h2', `${prefix}-h2`, '198.18.1.2']]);
  const hosts = await api.listHosts();
  assert.deepEqual(hosts.map((h) => [h.name, h.state, h.agentUrl]).sort(), [['h1', 'enabled', 'http://198.18.1.1:7481'], ['h2', 'enabled', 'http://198.18.1.2:7481']]);
  assert.ok((await stat(r.state.sharedDir)).isDirectory(), 'the shared datastore directory');
  const s = await labStatus(dir, api);
  assert.deepEqual(s.hosts.map((h) => [h.name, h.netnsExists, h.agentAlive, h.controllerState, h.migrationTls]), [['h1', true, true, 'enabled', true], ['h2', true, true, 'enabled', true]]);
});

test('migration TLS: a CA and per-host credentials in <dir>/pki, and every agent reports TLS, its address and the shared datastore', async () => {
  const state = (await readLabState(dir))!;
  assert.deepEqual(state.migrationTls, { pkiDir: join(dir, 'pki') });
  for (const h of state.hosts) {
    assert.equal(h.migrationTlsDir, join(dir, 'pki', h.name));
    await checkMigrationTlsDir(h.migrationTlsDir, { address: h.address });
    const { stdout } = await runCommand('openssl', ['verify', '-CAfile', join(dir, 'pki', 'ca-cert.pem'), join(h.migrationTlsDir, 'server-cert.pem'), join(h.migrationTlsDir, 'client-cert.pem')]);
    assert.match(stdout, /server-cert\.pem: OK[\s\S]*client-cert\.pem: OK/);
    const report = await new AgentClient(h.agentUrl, (await readFile(h.tokenFile, 'utf8')).trim()).host();
    assert.deepEqual(report.migration, { address: h.address, tls: true, sharedDatastore: true });
  }
});

test('the hosts reach each other and the controller over the fabric', async () => {
  // Any HTTP answer (the agent wants a token) proves the path.
  assert.equal((await nsHttpGet(`${prefix}-h1`, 'http://198.18.1.2:7481/')).status >= 200, true);
  assert.equal((await nsHttpGet(`${prefix}-h2`, 'http://198.18.1.1:7481/')).status >= 200, true);
  assert.equal((await nsHttpGet(`${prefix}-h2`, `${controller.url}/api/v1/openapi.json`)).status, 200);
});

let qemuPid: number | undefined;
test('a VM from a template runs on a lab host, inside its namespace, and reaches NUBO-READY', async () => {
  const vm = await api.createVm({ template: 'tiny', name: 'lab-vm' });
  const running = await pollUntil('lab-vm running', async () => {
    const v = await api.getVm(vm.id);
    if (v.state === 'failed') throw new Error(`failed: ${v.stateReason}`);
    return v.state === 'running' ? v : undefined;
  }, { timeoutMs: 120_000, intervalMs: 250 });
  const host = (await readLabState(dir))!.hosts.find((h) => h.name === running.host);
  assert.ok(host, `placed on a lab host (${running.host})`);
  await pollUntil('NUBO-READY', async () => ((await api.vmConsole(vm.id)).includes('NUBO-READY') ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
  qemuPid = await readPidFile(join(host.runDir, agentVmId(vm.id), 'qemu.pid'));
  assert.ok(qemuPid);
  const inode = async (path: string): Promise<number> => (await stat(path)).ino;
  assert.equal(await inode(`/proc/${qemuPid}/ns/net`), await inode(`/run/netns/${host.netns}`), 'QEMU runs in the host\'s namespace');
});

test('lab up again changes nothing', async () => {
  const before = await readFile(labStateFile(dir), 'utf8');
  const ca = await readFile(join(dir, 'pki', 'ca-cert.pem'), 'utf8');
  const r = await labUp({ prefix, dir, hosts: 2, controller: { url: controller.url, token }, heartbeatMs: 500 });
  assert.deepEqual(r.changed, []);
  assert.equal(await readFile(labStateFile(dir), 'utf8'), before);
  assert.equal(await readFile(join(dir, 'pki', 'ca-cert.pem'), 'utf8'), ca, 'the same CA');
  await assert.rejects(labUp({ prefix, dir, hosts: 2, controller: { url: controller.url, token }, heartbeatMs: 500, migrationTls: false }), /lab down/);
  assert.equal((await api.listHosts()).length, 2);
});

test('lab down leaves nothing: no namespace, link, agent or QEMU; twice is fine', async () => {
  const state = (await readLabState(dir))!;
  const r = await labDown(dir);
  assert.ok(r.removed.includes(`netns ${prefix}-h1`) && r.removed.includes(`bridge ${prefix}-fab`), r.removed.join(', '));
  assert.deepEqual(await labLeftovers(prefix), []);
  for (const h of state.hosts) assert.equal(await processGone(h.agent!.pid), true, `agent ${h.name} gone`);
  assert.equal(await processGone(qemuPid!), true, 'the VM\'s QEMU is gone');
  await assert.rejects(stat(labStateFile(dir)));
  assert.ok((await stat(join(dir, 'pki', 'ca-key.pem'))).isFile(), 'the PKI stays with the data, for the next up');
  assert.deepEqual((await labDown(dir)).removed, []);
});

test('lab down after a crash mid-up removes the half-made lab and its processes', async () => {
  // What a crashed `up` leaves: h1 complete with its agent killed, h2 without its uplink but with a live agent and a TAP.
  const state = await labFabricUp(crashPrefix, crashDir);
  const runRoot = join(root, 'run');
  const [h1, h2] = [planHost(crashPrefix, crashDir, runRoot, 1), planHost(crashPrefix, crashDir, runRoot, 2)];
  state.hosts.push(h1, h2);
  await writeLabState(state);
  for (const h of [h1, h2]) {
    await ensureNetns(h.netns);
    await ensureBridge(HOST_BRIDGE, h.netns, `${h.address}/16`);
    await mkdir(join(crashDir, 'hosts'), { recursive: true });
    await writeFile(h.tokenFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  }
  await ensureUplink(h1.vethRoot, state.fabricBridge, h1.netns, HOST_UPLINK, HOST_BRIDGE);
  await createTap({ name: `${crashPrefix}-t`, netns: h2.netns }, HOST_BRIDGE);
  const controllerUrl = `http://${FABRIC_ADDRESS}:9`;
  for (const h of [h1, h2]) {
    const log = join(crashDir, 'logs', `${h.name}.log`);
    const from = await logSize(log);
    h.agent = startLabAgent(h, controllerUrl, 500, log);
    await writeLabState(state);
    await waitForLog(h.agent, /agent listening/, from);
  }
  process.kill(h1.agent!.pid, 'SIGKILL');
  await pollUntil('h1 agent dead', async () => ((await isLabProcess(h1.agent!)) ? undefined : true), { timeoutMs: 5_000 });
  assert.equal(await isLabProcess(h2.agent!), true);

  await labDown(crashDir);
  assert.deepEqual(await labLeftovers(crashPrefix), []);
  assert.equal(await tapExists({ name: `${crashPrefix}-t`, netns: h2.netns }), false);
  assert.equal(await processGone(h2.agent!.pid), true, 'the live agent was stopped');
  await assert.rejects(stat(labStateFile(crashDir)));
});
