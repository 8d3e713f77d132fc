import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { agentVmId } from '../src/controller/vm-orchestrator.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import type { MigrationView, VmDetailView } from '../src/controller/api/api-schemas.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { tinyFile512k } from '../src/storage/tiny-image/tiny-file-512k.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil } from '../src/util/deadline.js';
import { processGone, readPidFile } from '../src/hypervisor/qemu/qemu-process.js';
import { labDown, labFabricUp, labUp } from '../src/network/lab/lab.js';
import { FABRIC_ADDRESS, type LabHost } from '../src/network/lab/lab-state.js';
import { labLeftovers } from './support/lab-checks.js';
import { startHttpLoop } from './support/http-loop.js';
import { httpGet } from './support/http-get.js';
import { runCommand } from '../src/util/run-command.js';

/**
 * Live migration through the controller on a 3-host lab (migration TLS on):
 * shared and local storage, chosen and scheduled destinations, a client in
 * the fabric fetching from the guest all along; refusals; a cancel.
 */

const prefix = `lm${randomBytes(3).toString('hex')}`;
let root: string;
let dir: string;
let controller: ControllerDaemon;
let api: NuboClient;
let image: TinyImage;
let hosts: LabHost[] = [];
let labIsDown = false;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

// The guest writes a random file to its data disk and serves its checksum
// (after dropping caches, so the bytes come from the disk) and its MAC.
const USER_DATA = [
  '#!/bin/sh',
  'dd if=/dev/urandom of=/data/blob bs=64k count=32 2>/dev/null; sync',
  "cat > /www/cgi-bin/sum <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'sync; echo 3 > /proc/sys/vm/drop_caches',
  "sha256sum /data/blob | cut -d' ' -f1",
  'EOF',
  "cat > /www/cgi-bin/mac <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'cat /sys/class/net/eth0/address',
  'EOF',
  'chmod 755 /www/cgi-bin/sum /www/cgi-bin/mac',
  'echo USERDATA-DONE',
  '',
].join('\n');

async function waitState(id: string, state: string, timeoutMs = 120_000): Promise<VmDetailView> {
  return pollUntil(`VM ${id} ${state}`, async () => {
    const vm = await api.getVm(id);
    if (vm.state === 'failed' && state !== 'failed') throw new Error(`VM ${id} failed: ${vm.stateReason}`);
    return vm.state === state ? vm : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

async function waitConsole(id: string, re: RegExp, timeoutMs = 90_000): Promise<string> {
  return pollUntil(`${id}: ${re}`, async () => {
    const log = await api.vmConsole(id);
    return re.test(log) ? log : undefined;
  }, { timeoutMs, intervalMs: 500 });
}

async function waitMigration(id: string, timeoutMs = 180_000): Promise<MigrationView> {
  return pollUntil(`migration ${id} ends`, async () => {
    const m = await api.getMigration(id);
    return m.state === 'running' ? undefined : m;
  }, { timeoutMs, intervalMs: 250 });
}

const host = (i: number): LabHost => {
  const h = hosts.find((x) => x.index === i);
  assert.ok(h, `lab host ${i}`);
  return h;
};
const on = (i: number): string => `hostname == "${host(i).name}"`;

async function guest(ip: string, path: string): Promise<string> {
  const r = await httpGet(`http://${ip}${path}`, 5_000);
  assert.equal(r.status, 200, `GET ${path}`);
  return r.body.toString().trim();
}

interface GuestFacts { uptime: number; sum: string; mac: string }
async function facts(ip: string): Promise<GuestFacts> {
  return { uptime: Number(await guest(ip, '/cgi-bin/uptime')), sum: await guest(ip, '/cgi-bin/sum'), mac: await guest(ip, '/cgi-bin/mac') };
}

async function bootVm(name: string, i: number, datastore: 'local' | 'shared'): Promise<{ vm: VmDetailView; ip: string }> {
  const created = await api.createVm({ template: 'tiny-mig', name, requirements: on(i), datastore, userData: USER_DATA });
  const vm = await waitState(created.id, 'running');
  assert.equal(vm.host, host(i).name);
  await waitConsole(vm.id, /USERDATA-DONE/);
  const ip = vm.nics[0]?.address?.split('/')[0];
  assert.ok(ip, 'the VM has an address');
  return { vm, ip };
}

async function qemuPid(i: number, vmId: string): Promise<number | undefined> {
  return readPidFile(join(host(i).runDir, agentVmId(vmId), 'qemu.pid'));
}

async function agentVms(i: number): Promise<string[]> {
  return readdir(join(host(i).dataDir, 'vms')).catch(() => []);
}

async function refusal(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RemoteError, `a RemoteError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-livemig-'));
  dir = join(root, 'lab');
  await labFabricUp(prefix, dir);
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 500, logger });
  const token = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, token);
  const r = await labUp({ prefix, dir, hosts: 3, controller: { url: controller.url, token }, heartbeatMs: 500 });
  hosts = r.state.hosts;
  for (const h of hosts) await pollUntil(`host ${h.name} enabled`, async () => ((await api.getHost(h.name)).state === 'enabled' ? true : undefined), { timeoutMs: 30_000 });
  await api.registerImage({ name: 'tiny-disk', path: image.dataDisk });
  await api.registerImage({ name: 'tiny-kernel', path: image.kernel, format: 'kernel' });
  await api.registerImage({ name: 'tiny-initrd', path: image.initrd, format: 'initrd' });
  // No VLAN: the network is on the hosts' bridges, which the fabric joins. Its gateway address sits on the
  // fabric bridge, so this process is a client in the fabric that the guests answer on-link.
  await api.createNetwork({ name: 'mig', cidr: '198.18.66.0/24', gateway: '198.18.66.254' });
  await runCommand('ip', ['addr', 'add', '198.18.66.254/24', 'dev', `${prefix}-fab`]);
  await api.createTemplate({ name: 'tiny-mig', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline, nics: [{ network: 'mig' }] });
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

const STAGES = ['reservation', 'prepared', 'precopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned'];

test('shared storage, h1 → h2 over TLS: uptime, data, IP and MAC kept; a fabric client never fails; the source copy is gone', async () => {
  const { vm, ip } = await bootVm('shared-1', 1, 'shared');
  const before = await facts(ip);
  const srcPid = await qemuPid(1, vm.id);
  assert.ok(srcPid !== undefined);
  const loop = startHttpLoop(`http://${ip}/file-512k`, { expectBytes: tinyFile512k().length });
  await pollUntil('client answered', async () => (loop.ok() >= 5 ? true : undefined), { timeoutMs: 20_000 });

  const started = await api.migrateVm(vm.id, { to: host(2).name });
  assert.equal(started.state, 'running');
  assert.equal(started.source, host(1).name);
  assert.equal(started.destination, host(2).name);
  const m = await waitMigration(started.id);
  await new Promise((r) => setTimeout(r, 1_000)); // the client keeps going after the switch
  const client = await loop.stop();

  assert.equal(m.state, 'succeeded', `migration: ${m.reason}`);
  assert.deepEqual(m.journal.map((j) => j.stage).filter((s) => STAGES.includes(s)), STAGES, 'every stage journalled, in order (no mirroring: shared storage)');
  assert.equal(m.journal.find((j) => j.stage === 'prepared')?.data?.['tls'], true, 'the stream was TLS');
  assert.ok(Number(m.stats['transferredBytes']) > 0 && Number(m.stats['passes']) >= 1, `stats: ${JSON.stringify(m.stats)}`);
  assert.ok(typeof m.stats['downtimeMs'] === 'number' && typeof m.stats['totalTimeMs'] === 'number');

  const moved = await waitState(vm.id, 'running');
  assert.equal(moved.host, host(2).name);
  assert.equal(moved.nics[0]?.address?.split('/')[0], ip, 'same IP');
  const after = await facts(ip);
  assert.equal(after.mac, before.mac, 'same MAC');
  assert.equal(after.sum, before.sum, '/data/blob unchanged');
  assert.ok(after.uptime > before.uptime, `uptime went on (${before.uptime} → ${after.uptime}): no reboot`);
  assert.equal(client.failed, 0, `no failed client request: ${client.errors.join('; ')}`);
  assert.ok(client.ok > 10);

  assert.equal(await processGone(srcPid), true, 'the source QEMU is gone');
  assert.ok(!(await agentVms(1)).includes(agentVmId(vm.id)), 'nothing of the VM left on h1');
  assert.deepEqual((await api.getHost(host(1).name)).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 }, 'h1 holds no reservation');
  assert.equal((await api.getHost(host(2).name)).reserved.memoryMiB, 128);
  const events = await api.listEvents(0);
  assert.ok(events.some((e) => e.kind === 'migration.progress' && e.resourceId === m.id), 'progress events');
  await api.vmAction(vm.id, 'terminate-hard');
  await waitState(vm.id, 'terminated');
});

test('local storage, no --to: the scheduler picks; the disk is mirrored over NBD; refusals change nothing', async () => {
  const { vm, ip } = await bootVm('local-1', 2, 'local');
  const before = await facts(ip);

  // Refusals first, on this running VM.
  const count = async () => (await api.listMigrations()).length;
  const n0 = await count();
  const reserved0 = await Promise.all([1, 2, 3].map(async (i) => (await api.getHost(host(i).name)).reserved));
  const cases: [Promise<unknown>, number, string][] = [
    [api.migrateVm(vm.id, { to: 'no-such-host' }), 409, 'host-unknown'],
    [api.migrateVm(vm.id, { to: host(2).name }), 409, 'same-host'],
  ];
  for (const [p, status, check] of cases) {
    const e = await refusal(p);
    assert.equal(e.status, status);
    assert.equal(e.code, 'MIGRATION_REFUSED');
    assert.equal(e.details['check'], check, e.message);
  }
  await api.disableHost(host(3).name);
  try {
    const e = await refusal(api.migrateVm(vm.id, { to: host(3).name }));
    assert.equal(e.details['check'], 'host-state', e.message);
    assert.match(e.message, new RegExp(host(3).name));
  } finally {
    await api.enableHost(host(3).name);
  }
  const bad = await refusal(api.migrateVm(vm.id, { policy: { downtimeMs: -5 } }));
  assert.equal(bad.status, 400);
  assert.match(bad.message, /downtimeMs/);
  assert.equal(await count(), n0, 'no migration recorded by a refusal');
  assert.deepEqual(await Promise.all([1, 2, 3].map(async (i) => (await api.getHost(host(i).name)).reserved)), reserved0, 'no reservation changed');

  const started = await api.migrateVm(vm.id, {});
  assert.notEqual(started.destination, host(2).name);
  const m = await waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `migration: ${m.reason}`);
  assert.ok(m.journal.some((j) => j.stage === 'mirroring'), 'local disks were mirrored');
  const moved = await waitState(vm.id, 'running');
  assert.equal(moved.host, started.destination);
  const after = await facts(ip);
  assert.equal(after.sum, before.sum, '/data/blob read from the destination disk is unchanged');
  assert.equal(after.mac, before.mac);
  assert.ok(after.uptime > before.uptime);
  assert.ok(!(await agentVms(2)).includes(agentVmId(vm.id)), 'the source disk was deleted');

  // Not running any more: refused.
  await api.vmAction(vm.id, 'poweroff-hard');
  await waitState(vm.id, 'poweroff');
  const e = await refusal(api.migrateVm(vm.id, {}));
  assert.equal(e.details['check'], 'vm-state', e.message);
  await api.vmAction(vm.id, 'terminate-hard');
  await waitState(vm.id, 'terminated');
});

test('cancel during the copy: the VM keeps running on its source; the destination keeps nothing', async () => {
  const { vm, ip } = await bootVm('cancel-1', 3, 'local');
  const before = await facts(ip);
  const started = await api.migrateVm(vm.id, { to: host(1).name, policy: { maxBandwidthMiBps: 1 } });
  await pollUntil('copy under way', async () => {
    const m = await api.getMigration(started.id);
    return m.stage === 'mirroring' || m.stage === 'precopy' ? m : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  await api.cancelMigration(started.id);
  const m = await waitMigration(started.id);
  assert.equal(m.state, 'aborted');
  assert.match(m.reason ?? '', /cancel/);
  const vmAfter = await waitState(vm.id, 'running');
  assert.equal(vmAfter.host, host(3).name);
  const after = await facts(ip);
  assert.ok(after.uptime > before.uptime);
  assert.equal(after.sum, before.sum);
  assert.ok(!(await agentVms(1)).includes(agentVmId(vm.id)), 'the destination kept nothing');
  assert.equal(await qemuPid(1, vm.id), undefined, 'no QEMU on the destination');
  assert.deepEqual((await api.getHost(host(1).name)).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 }, 'the reservation is freed');
  const e = await refusal(api.cancelMigration(started.id));
  assert.equal(e.status, 409);

  await api.vmAction(vm.id, 'terminate-hard');
  await waitState(vm.id, 'terminated');
  await labDown(dir);
  labIsDown = true;
  assert.deepEqual(await labLeftovers(prefix), []);
});
