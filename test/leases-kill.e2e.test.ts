import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { AgentDaemon } from '../src/agent/agent-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { LeaseClient } from '../src/client/lease-client.js';
import type { LeaseDetailView } from '../src/contract/lease-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { Failpoints } from '../src/util/failpoints.js';
import { freshConsoleProbe } from './support/console-probes.js';
import { remoteRejects } from './support/remote-rejects.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';
import { LEASE_LAB_RATES, LEASE_PROBE_USER_DATA } from './support/lease-probe-guest.js';

// Capacity leases when things die (issue 15): the controller is a process of
// its own, SIGKILLed by `NUBO_FAILPOINTS=lease-<step>=exit` right after it
// journaled each kind of step (prepare, suspend, shutdown, resume, migrate)
// and restarted without it; then a VM's QEMU is killed in the middle of a
// lease's save and of its restore. Two in-process agents of 2 CPUs, every VM
// 2 vCPU / 128 MiB: one VM fills a host. One best-effort lease is carried
// through all the kills; its guest prints a checksum of a file on its disk, a
// number kept only in RAM and its uptime, so that after each step the same
// guest is seen (no reboot, data there), exactly once.

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const RATES = LEASE_LAB_RATES;
const USER_DATA = LEASE_PROBE_USER_DATA;

let root: string;
let port: number;
let controller: DaemonProcess;
let api: NuboClient;
let leases: LeaseClient;
const agents: AgentDaemon[] = [];
const agentFailpoints = [new Failpoints(), new Failpoints()];
let plainVm: string;
let be: string;
let beVm: string;
let first: Probe;

interface Probe { sum: string; nonce: string; uptime: number }
const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', nonce: f[1] ?? '', uptime: Number(f[2]) });
const iso = (s: number): string => new Date(s * 1000).toISOString();
const soon = (s: number): string => iso(Math.ceil(Date.now() / 1000) + s);
const count = (l: LeaseDetailView, kind: string, step: string): number => l.history.filter((h) => h.kind === kind && h.detail['step'] === step).length;
const vmDirGone = async (host: string, vmId: string): Promise<boolean> => access(join(root, host, 'vms', agentVmId(vmId))).then(() => false, () => true);

function startController(failpoint?: string): DaemonProcess {
  const rates = Object.entries(RATES).flatMap(([k, v]) => ['--lease-rate', `${k}=${v}`]);
  return DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '1000', '--lease-policy', 'migration=yes', ...rates], failpoint === undefined ? {} : { NUBO_FAILPOINTS: `${failpoint}=exit` });
}

/** Waits until the controller killed itself at its failpoint, then starts the next one (armed at `next`, if given). */
async function restartAfterCrash(at: string, next?: string): Promise<void> {
  await pollUntil(`controller killed at ${at}`, () => (controller.alive ? undefined : true), { timeoutMs: 240_000, intervalMs: 50 });
  assert.equal(controller.child.signalCode, 'SIGKILL', `the controller died by its failpoint ${at}`);
  controller = startController(next);
  await controller.waitFor(/controller listening/, 60_000);
}

async function leaseIn(id: string, ok: (l: LeaseDetailView) => boolean, what: string, timeoutMs = 240_000, failedOk = false): Promise<LeaseDetailView> {
  return pollUntil(`lease ${id.slice(0, 8)} ${what}`, async () => {
    const l = await leases.get(id).catch(() => undefined);
    if (l === undefined) return undefined;
    if (!failedOk && (l.state === 'failed' || l.state === 'rejected')) throw new Error(`lease ${l.state}: ${l.reason ?? ''}`);
    return ok(l) ? l : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

async function vmIn(id: string, state: string, timeoutMs = 180_000): Promise<void> {
  await pollUntil(`VM ${id.slice(0, 8)} ${state}`, async () => {
    const v = await api.getVm(id).catch(() => undefined);
    if (v?.state === 'failed' && state !== 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return v?.state === state && (v as { operation?: unknown }).operation == null ? true : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

/** The same guest as before (data on its disk, memory, uptime on), and one QEMU for it. */
async function sameGuest(what: string): Promise<void> {
  await vmIn(beVm, 'running');
  const now = asProbe(await freshConsoleProbe(api, beVm, 120_000));
  assert.equal(now.sum, first.sum, `${what}: the data on its disk is intact`);
  assert.equal(now.nonce, first.nonce, `${what}: its memory is the one saved (no reboot)`);
  assert.ok(now.uptime > first.uptime, `${what}: uptime continued (${first.uptime} → ${now.uptime})`);
  assert.equal((await qemuPidsOf(agentVmId(beVm))).length, 1, `${what}: exactly one QEMU`);
  first = now;
}

/** Arms a host agent's failpoint to SIGKILL the VM's QEMU there (a crash of the process, nothing else). */
function killQemuAt(host: number, point: 'qemu.save' | 'qemu.restore', vmId: string): Promise<void> {
  return new Promise((reached) => agentFailpoints[host]!.arm(point, async () => {
    for (const pid of await qemuPidsOf(agentVmId(vmId))) process.kill(pid, 'SIGKILL');
    await pollUntil('QEMU gone', async () => ((await qemuPidsOf(agentVmId(vmId))).length === 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    reached();
  }));
}

before(async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-leases-kill-'));
  port = await freePort();
  controller = startController('lease-prepare');
  api = new NuboClient(`http://127.0.0.1:${port}`, await controller.waitFor(/its token \(shown once\): (\S+)/, 60_000));
  leases = new LeaseClient(api.baseUrl, api.token);
  await controller.waitFor(/controller listening/, 60_000);
  for (const [i, name] of ['h1', 'h2'].entries()) {
    const token = randomBytes(24).toString('hex');
    const agentPort = await freePort();
    await api.registerHost({ name, agentUrl: `http://127.0.0.1:${agentPort}`, agentToken: token });
    agents.push(await AgentDaemon.start({ name, dataDir: join(root, name), runDir: join(root, `run-${name}`), listen: { host: '127.0.0.1', port: agentPort }, token, controllerUrl: api.baseUrl, heartbeatIntervalMs: 500, logger, failpoints: agentFailpoints[i] }));
  }
  await pollUntil('hosts enabled', async () => ((await api.listHosts()).every((h) => h.state === 'enabled') ? true : undefined), { timeoutMs: 30_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 2, memoryMiB: 128, ...tinyBoot(image) });
  await api.createTemplate({ name: 'probe', vcpus: 2, memoryMiB: 128, ...tinyBoot(image), userData: USER_DATA });
  // Not a lease's: the scheduler counts h2 as taken while it runs, so the ARs below can only be had on h1.
  plainVm = (await api.createVm({ name: 'plain', template: 'tiny', requirements: 'hostname == "h2"' })).id;
  await vmIn(plainVm, 'running');
});

// Tolerates a set-up that failed half-way: whatever was made is still removed, by its own pid or path.
after(async () => {
  if (controller?.alive) {
    for (const vm of await api.listVms().catch(() => [])) if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    await pollUntil('every VM terminated', async () => ((await api.listVms()).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  }
  await controller?.stop();
  for (const a of agents) await a.stop();
  // A controller that died at a failpoint ended nothing: the QEMUs of this test's VMs (found by their directories) are ended by pid.
  for (const host of ['h1', 'h2']) {
    const ids = root ? await readdir(join(root, host, 'vms')).catch(() => []) : [];
    for (const id of ids) for (const pid of await qemuPidsOf(id)) process.kill(pid, 'SIGKILL');
  }
  if (root) await rm(root, { recursive: true, force: true });
});

test('bad lease requests are refused naming the field, and nothing is written (no step begun, the controller armed to die at one lives)', async () => {
  const leaseEvents = async (): Promise<number> => (await api.latestEvents(500)).filter((e) => e.resource === 'lease').length;
  const events = await leaseEvents();
  await remoteRejects(leases.create({ type: 'be', durationS: 60, template: 'no-such-template' }), 400, 'VALIDATION_FAILED', 'template');
  await remoteRejects(leases.create({ type: 'be', durationS: -5, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS');
  await remoteRejects(leases.create({ type: 'be', durationS: 400 * 86_400 * 365, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS');
  await remoteRejects(leases.create({ type: 'be', durationS: 30 * 86_400, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS', /controller's limit/);
  await remoteRejects(leases.create({ type: 'ar', start: 'tomorrow', durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(leases.create({ type: 'ar', start: soon(-60), durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start', /past/);
  await remoteRejects(leases.create({ type: 'ar', durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(leases.create({ type: 'be', start: soon(60), durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(leases.create({ type: 'immediate', durationS: 60, template: 'tiny', count: 3 }), 400, 'VALIDATION_FAILED', 'count');
  assert.deepEqual(await leases.list(), []);
  assert.equal(await leaseEvents(), events);
  assert.ok(controller.alive);
});

test('controller killed at lease-prepare: after the restart the lease runs one VM, made once', async () => {
  // The step is begun inside the request that admits the lease: the controller may die before it answers.
  const answer = await leases.create({ type: 'be', durationS: 3600, template: 'probe' }).catch(() => undefined);
  await restartAfterCrash('lease-prepare', 'lease-suspend');
  const all = await leases.list();
  assert.equal(all.length, 1, 'the lease was written once');
  be = all[0]!.id;
  if (answer !== undefined) assert.equal(answer.id, be);
  const l = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null && x.vms.length === 1, 'active');
  assert.equal(count(l, 'step', 'prepare'), 1, 'journaled once');
  assert.equal(count(l, 'step-done', 'prepare'), 1, 'finished once');
  beVm = l.vms[0]!.vm;
  assert.equal(l.vms[0]!.host, 'h1');
  const made = (await api.listVms()).filter((v) => v.name?.startsWith(`lease-${be.slice(0, 8)}`));
  assert.deepEqual(made.map((v) => v.id), [beVm], 'one VM made for the lease, not two');
  await vmIn(beVm, 'running');
  assert.equal((await api.getVm(beVm)).history.filter((h) => h.to === 'running').length, 1);
  assert.equal((await qemuPidsOf(agentVmId(beVm))).length, 1);
  first = asProbe(await freshConsoleProbe(api, beVm, 120_000));
});

test('controller killed at lease-suspend, then at the AR\'s lease-shutdown, then at lease-resume: each step finished once, the same guest resumes on h1', async () => {
  const ar = (await leases.create({ type: 'ar', start: soon(30), durationS: 20, template: 'tiny' })).id;
  await restartAfterCrash('lease-suspend', 'lease-shutdown');
  const suspended = await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  assert.equal(count(suspended, 'step-done', 'suspend'), 1, 'the suspension finished once');
  assert.equal((await api.getVm(beVm)).state, 'suspended');
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), [], 'a suspended VM has no QEMU');

  // The lease's resume is due as soon as the AR has shut down: the next controller may die at it before the AR's shutdown is through.
  await restartAfterCrash('lease-shutdown', 'lease-resume');
  await restartAfterCrash('lease-resume', 'lease-migrate');
  const done = await leaseIn(ar, (x) => x.state === 'done' && x.pendingStep === null, 'done');
  assert.equal(count(done, 'step-done', 'shutdown'), 1, 'the AR was shut down once');
  const arVm = done.vms[0]!.vm;
  await vmIn(arVm, 'terminated');
  assert.deepEqual(await qemuPidsOf(agentVmId(arVm)), []);
  assert.ok(await vmDirGone('h1', arVm), "the AR VM's files are gone");

  const back = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null, 'active again');
  assert.equal(count(back, 'step-done', 'resume'), 1, 'the resume finished once');
  assert.deepEqual(back.vms.map((v) => [v.vm, v.host]), [[beVm, 'h1']]);
  await sameGuest('resumed after two kills');
});

test('controller killed at lease-migrate: after the restart the suspended lease is moved to h2 once and resumes there, the same guest', async () => {
  const ar = (await leases.create({ type: 'ar', start: soon(30), durationS: 3600, template: 'tiny' })).id;
  await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  // h1 is the AR's for an hour: once the plain VM leaves h2, the lease is moved there rather than wait.
  await api.vmAction(plainVm, 'terminate');
  await restartAfterCrash('lease-migrate');
  const moved = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null && x.vms[0]?.host === 'h2', 'active on h2');
  assert.equal(count(moved, 'step-done', 'migrate'), 1, 'moved once');
  assert.equal((await api.getVm(beVm)).host, 'h2');
  await sameGuest('moved after a kill');
  assert.ok(await vmDirGone('h1', beVm), 'nothing of it is left on h1');
  await leaseIn(ar, (x) => x.state === 'active', 'active');
});

test('QEMU killed while a lease is resumed: the lease fails with the reason, its VM and saved state are removed, its host is free again', async () => {
  const ar = (await leases.create({ type: 'ar', start: soon(30), durationS: 15, template: 'tiny' })).id;
  await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  const killed = killQemuAt(1, 'qemu.restore', beVm);
  await leaseIn(ar, (x) => x.state === 'done', 'done');
  await killed;
  const failed = await leaseIn(be, (x) => x.state === 'failed' && x.pendingStep === null, 'failed and released', 240_000, true);
  assert.match(failed.reason ?? '', /^resume failed: /);
  assert.equal(count(failed, 'step-done', 'release'), 1, 'its VMs were released once');
  await vmIn(beVm, 'terminated');
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), []);
  assert.ok(await vmDirGone('h2', beVm), 'no state file or disk left on h2');
  assert.deepEqual((await api.getHost('h2')).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 });
});

test('QEMU killed while a lease is suspended: the lease fails with the reason, nothing half-saved is left, the next lease gets the host', async () => {
  const l2 = (await leases.create({ type: 'be', durationS: 3600, template: 'tiny' })).id;
  const running = await leaseIn(l2, (x) => x.state === 'active' && x.pendingStep === null, 'active on h2 (the failed lease holds nothing there)');
  const vm = running.vms[0]!.vm;
  assert.equal(running.vms[0]!.host, 'h2');
  const killed = killQemuAt(1, 'qemu.save', vm);
  const ar = (await leases.create({ type: 'ar', start: soon(30), durationS: 15, template: 'tiny' })).id;
  await killed;
  const failed = await leaseIn(l2, (x) => x.state === 'failed' && x.pendingStep === null, 'failed and released', 240_000, true);
  assert.match(failed.reason ?? '', /^suspend failed: /);
  await vmIn(vm, 'terminated');
  assert.deepEqual(await qemuPidsOf(agentVmId(vm)), []);
  assert.ok(await vmDirGone('h2', vm), 'no half-written state file left on h2');
  // The AR still runs, and a lease queued behind it gets h2 once the AR is over, not after the failed lease's hour.
  await leaseIn(ar, (x) => x.state === 'active', 'active');
  const next = await leases.create({ type: 'be', durationS: 60, template: 'tiny' });
  await leaseIn(ar, (x) => x.state === 'done', 'done');
  const got = await leaseIn(next.id, (x) => x.state === 'active' && x.pendingStep === null, 'active after the AR');
  assert.deepEqual(got.vms.map((v) => v.host), ['h2']);
  await leases.cancel(next.id);
  await leaseIn(next.id, (x) => x.pendingStep === null, 'released', 240_000, true);
});
