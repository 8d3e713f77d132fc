/**
 * Heartbeats across controller crashes: a fake fleet (real agent HTTP APIs
 * over the fake driver) beating a real controller process, SIGKILLed by a
 * failpoint at each step of a heartbeat — before a batch of beats is written
 * (`heartbeat.write`), after its commit before the agents are answered
 * (`heartbeat.written`), and before a beat changes a VM's state
 * (`heartbeat.reconcile`) — then restarted on the same data directory and
 * URL. Nothing is lost or done twice: every host is enabled again and its
 * time moves on, every VM runs exactly once where the store binds it, the
 * VM that crashed while a controller was dying is failed once, no host is
 * registered again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { allEvents } from './support/all-events.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { startControllerProcess } from './support/controller-process.js';
import { startFleetCrashSite } from './support/fleet-crash-site.js';

const HOSTS = 12;
const VMS = 24;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

test('a controller SIGKILLed at each step of a heartbeat loses nothing and does nothing twice after its restart', { timeout: 900_000 }, async (t) => {
  const site = await startFleetCrashSite(t, { prefix: 'nubo-hb-crash-', hosts: HOSTS, logger });
  const { root, base, adminToken, api, fleet: f } = site;
  for (const h of f.hosts) await api.registerHost({ name: h.name, agentUrl: h.url, agentToken: h.token });
  assert.equal(await f.beatAll(), HOSTS);
  f.startBeating();
  const disk = join(root, 'disk.qcow2');
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M'], { timeoutMs: 30_000 });
  await api.uploadImage({ name: 'disk', file: disk });
  await api.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });
  for (let i = 0; i < VMS; i++) await api.createVm({ template: 'small', name: `v${i}` }, { timeoutMs: 120_000 });
  const vms = await pollUntil('every VM running', async () => {
    const all = await api.listVms({}, { timeoutMs: 60_000 });
    return all.length === VMS && all.every((v) => v.state === 'running') ? all : undefined;
  }, { timeoutMs: 300_000, intervalMs: 1_000 });
  const registered = (await allEvents(api)).filter((e) => e.kind === 'host.registered').length;
  assert.equal(registered, HOSTS);
  await site.ctl?.stop();
  site.ctl = undefined;

  const victim = vms[0]!;
  for (const point of ['heartbeat.write', 'heartbeat.written', 'heartbeat.reconcile']) {
    // The fleet is held while the controller comes up, so that the point is reached only once it serves.
    f.stopBeating();
    const dying = await startControllerProcess({ ...base, adminToken, env: { NUBO_FAILPOINTS: `${point}=exit` } });
    // The reconcile point is reached only by a beat that changes a VM: the victim's QEMU crashes (two reports decide).
    if (point === 'heartbeat.reconcile') f.host(victim.host!).driver.crash(agentVmId(victim.id));
    f.startBeating();
    let timer: NodeJS.Timeout | undefined;
    const signal = await Promise.race([dying.exited, new Promise((r) => { timer = setTimeout(() => r('still running'), 120_000); })]);
    // Not left pending: a 2-minute timer would hold the test file open after its end.
    clearTimeout(timer);
    if (signal !== 'SIGKILL') await dying.stop();
    assert.equal(signal, 'SIGKILL', `the controller died at ${point}`);
  }

  // The restart: the beats that died with the controllers are sent again; the victim's crash is decided anew.
  const started = new Date().toISOString();
  site.ctl = await startControllerProcess({ ...base, adminToken });
  const hosts = await pollUntil('every host enabled and heard since the restart', async () => {
    const hs = await api.listHosts({ timeoutMs: 60_000 });
    return hs.length === HOSTS && hs.every((h) => h.state === 'enabled' && h.lastHeartbeatAt !== null && h.lastHeartbeatAt > started) ? hs : undefined;
  }, { timeoutMs: 180_000, intervalMs: 1_000 });
  assert.equal(hosts.length, HOSTS);
  const after = await pollUntil('the crashed VM failed', async () => {
    const all = await api.listVms({}, { timeoutMs: 60_000 });
    return all.find((v) => v.id === victim.id)?.state === 'failed' ? all : undefined;
  }, { timeoutMs: 120_000, intervalMs: 1_000 });
  assert.match(after.find((v) => v.id === victim.id)?.stateReason ?? '', /QEMU exited unexpectedly/);
  assert.deepEqual(after.filter((v) => v.id !== victim.id && v.state !== 'running').map((v) => `${v.name}: ${v.state}`), [], 'no other VM changed');
  // Exactly once: each VM where the store binds it, and nowhere else.
  const where = new Map<string, string[]>();
  for (const h of f.hosts) for (const id of h.driver.host.vms.keys()) where.set(id, [...(where.get(id) ?? []), h.name]);
  assert.equal(where.size, VMS);
  for (const v of after) assert.deepEqual(where.get(agentVmId(v.id)), [v.host], `${v.name} is on its host only`);
  const events = await allEvents(api);
  assert.equal(events.filter((e) => e.kind === 'host.registered').length, HOSTS, 'no host registered again');
  const failed = events.filter((e) => e.kind === 'vm.state' && e.resourceId === victim.id && e.data['to'] === 'failed');
  assert.equal(failed.length, 1, 'the crash is recorded once');
});
