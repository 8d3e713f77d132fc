/**
 * The control plane at scale, at a CI-friendly size: a fake fleet of 100
 * hosts (real agent HTTP APIs over the fake driver, one process) behind a real
 * controller (its own process), 400 VMs requested through the API by 10
 * concurrent clients.
 * Asserts behaviour, not speed (bench/scale.ts measures): every VM placed and
 * running exactly once, no host over capacity, heartbeats reconcile VMs a
 * host crashes, powers off or loses, and silent hosts are marked and come back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeFleet } from '../src/agent/fake-fleet.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { startControllerProcess } from './support/controller-process.js';

// Sized for a shared 2-core machine under heavy load (the brief's 200 hosts / 1,000 VMs overran the controller's
// share of a core there: connect time-outs and missed heartbeats); bench/scale.ts runs the large sizes.
const HOSTS = 100;
const VMS = 400;
const CLIENTS = 10;
/** Per host: 6 vCPUs without overcommit (the controller's default policy), so the one-vCPU VMs need most of the fleet and capacity is what binds. */
const CPUS = 6;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

test('a fleet of fake hosts takes hundreds of VMs, each running exactly once, and heartbeats keep the store in step', { timeout: 600_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'nubo-scale-'));
  const ends: (() => Promise<unknown>)[] = [() => rm(root, { recursive: true, force: true })];
  // In reverse order of their making: the fleet, then the controller, then the directory.
  t.after(async () => {
    for (const end of ends.reverse()) await end();
  });
  // The controller in a process of its own, as in production: on a 2-core machine the fleet and the controller then get a core each.
  // Agents beat every 3 s, the controller expects one every 30 s: a host is declared silent after 90 s without a beat
  // (generous: on a loaded machine a beat can take tens of seconds, and a host declared lost fails its prologs).
  const controller = await startControllerProcess({ cli: join(import.meta.dirname, '../src/cli/nubo.js'), dataDir: join(root, 'controller'), home: join(root, 'home'), heartbeatMs: 30_000 });
  ends.push(() => controller.stop());
  const api = new NuboClient(controller.url, controller.adminToken);
  const f = await FakeFleet.start({ hosts: HOSTS, rootDir: join(root, 'fleet'), capacity: { cpus: CPUS, memoryMiB: 16_384, diskMiB: 1_000_000 }, controllerUrl: controller.url, heartbeatIntervalMs: 3_000, heartbeatTimeoutMs: 60_000, logger });
  ends.push(() => f.close());
  for (const h of f.hosts) await api.registerHost({ name: h.name, agentUrl: h.url, agentToken: h.token });
  assert.equal(await f.beatAll(), HOSTS, 'every host\'s first heartbeat is taken');
  f.startBeating();
  assert.ok((await api.listHosts()).every((h) => h.state === 'enabled'));

  const disk = join(root, 'disk.qcow2');
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M'], { timeoutMs: 30_000 });
  await api.uploadImage({ name: 'disk', file: disk });
  await api.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });

  // Concurrent clients, each creating its share one request at a time.
  const names = Array.from({ length: VMS }, (_, i) => `s${i}`);
  const queue = [...names];
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) await api.createVm({ template: 'small', name }, { timeoutMs: 120_000 });
  }));
  const settled = await pollUntil('every VM out of pending/prolog/boot', async () => {
    const vms = await api.listVms({}, { timeoutMs: 60_000 });
    return vms.filter((v) => ['pending', 'prolog', 'boot'].includes(v.state)).length === 0 ? vms : undefined;
  }, { timeoutMs: 400_000, intervalMs: 1_000 });
  assert.equal(settled.length, VMS);
  const notRunning = settled.filter((v) => v.state !== 'running');
  assert.deepEqual(notRunning.map((v) => `${v.name}: ${v.state} ${v.stateReason ?? ''}`), [], 'every VM reached running');

  // Exactly once: each VM runs on the fake host the store binds it to, and nowhere else.
  const where = new Map<string, string[]>();
  for (const h of f.hosts) for (const id of h.driver.host.vms.keys()) where.set(id, [...(where.get(id) ?? []), h.name]);
  assert.equal(where.size, VMS, 'as many VMs run in the fleet as were created');
  for (const v of settled) assert.deepEqual(where.get(agentVmId(v.id)), [v.host], `${v.name} runs once, on its host`);
  const hosts = await api.listHosts();
  for (const h of hosts) {
    assert.ok(h.reserved.cpus <= h.total.cpus, `${h.name}: ${h.reserved.cpus} vCPUs reserved of ${h.total.cpus}`);
    assert.equal(h.vms, settled.filter((v) => v.host === h.name).length, `${h.name}: its VM count is what is bound to it`);
    assert.ok(h.vms <= CPUS);
  }
  assert.equal(hosts.reduce((a, h) => a + h.reserved.cpus, 0), VMS, 'one vCPU reserved per VM, no more');

  // Heartbeats reconcile what a host does behind the controller's back.
  const [crashed, off, lost] = [settled[1]!, settled[2]!, settled[3]!];
  const hostOf = (v: (typeof settled)[number]) => f.host(v.host!);
  hostOf(crashed).driver.crash(agentVmId(crashed.id));
  hostOf(off).driver.guestPowerOff(agentVmId(off.id));
  // Lost entirely: the host's QEMU and its record are gone.
  await hostOf(lost).service.lifecycle.delete(agentVmId(lost.id));
  const states = async () => new Map((await api.listVms({}, { timeoutMs: 60_000 })).map((v) => [v.id, v]));
  const after = await pollUntil('the three VMs reconciled', async () => {
    const s = await states();
    return s.get(crashed.id)?.state === 'failed' && s.get(off.id)?.state === 'poweroff' && s.get(lost.id)?.state !== 'running' ? s : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1_000 });
  assert.match(after.get(crashed.id)?.stateReason ?? '', /QEMU exited unexpectedly/);
  assert.match(after.get(off.id)?.stateReason ?? '', /powered off/);
  assert.match(after.get(lost.id)?.stateReason ?? '', /no such VM/);
  assert.equal([...after.values()].filter((v) => v.state === 'running').length, VMS - 3, 'no other VM changed');

  // A host that goes silent is marked, its VMs unknown; when it beats again both come back.
  const quiet = f.host(settled[10]!.host!);
  const quietVms = settled.filter((v) => v.host === quiet.name && ![crashed.id, off.id, lost.id].includes(v.id)).map((v) => v.id);
  assert.ok(quietVms.length > 0);
  quiet.silent = true;
  await pollUntil(`host ${quiet.name} in error`, async () => ((await api.getHost(quiet.name)).state === 'error' ? true : undefined), { timeoutMs: 300_000, intervalMs: 1_000 });
  const whileQuiet = await states();
  for (const id of quietVms) assert.equal(whileQuiet.get(id)?.state, 'unknown', 'the silent host\'s VMs are unknown');
  assert.ok((await api.listHosts()).filter((h) => h.state !== 'enabled').length === 1, 'only the silent host is marked');
  quiet.silent = false;
  await pollUntil(`host ${quiet.name} back`, async () => {
    const s = await states();
    return (await api.getHost(quiet.name)).state === 'enabled' && quietVms.every((id) => s.get(id)?.state === 'running') ? true : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1_000 });
  const { sent, taken } = f.beats;
  assert.ok(taken > 0 && taken <= sent);
});
