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
import { TenancyClient } from '../src/client/tenancy-client.js';
import type { LeaseDetailView } from '../src/contract/lease-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { Failpoints } from '../src/util/failpoints.js';
import { consoleProbes, freshConsoleProbe } from './support/console-probes.js';
import { remoteRejects } from './support/remote-rejects.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { EventFollower, leaseStates } from './support/event-follower.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';
import { LEASE_LAB_RATES, LEASE_PROBE_USER_DATA } from './support/lease-probe-guest.js';

// Capacity leases on real QEMU (issue 15), with the controller killed at
// every step. One cloud for the whole story: the controller is a process of
// its own, SIGKILLed by `NUBO_FAILPOINTS=lease-<step>=exit` (or by the test
// while it waits at a failpoint) and started again; two in-process agents of
// 2 CPUs, every VM 2 vCPU / 128 MiB, so one VM fills a host. A plain VM fills
// h2; a best-effort lease runs on h1. An advance reservation for now + 60 s
// that can only be had on h1 suspends it (QEMU saves its memory) before the
// AR starts; the AR runs on time and ends; the lease resumes on h1. Then it
// is suspended again for a long AR and moved to h2 (cold migration of memory
// and disk) once the plain VM is gone. Then QEMU is killed in a lease's
// restore and in a lease's save: each lease fails with the reason and its VMs
// are released. The guest prints a checksum of a file on its disk, a number
// kept only in RAM and its uptime every second: the same checksum and number
// and a larger uptime afterwards mean the same guest, not a reboot. Every
// lease's states are read from the real SSE stream (`/api/v1/events`), which
// a plain user reads too: she sees her own lease's events and no one else's.
//
// Where the controller dies (each restart arms the next):
//   lease-prepare (BE) → lease-shutdown (AR, end of duration) → lease-resume (BE)
//   → held at lease-suspend (BE), SIGKILLed by the test → lease-migrate (BE)
//   → lease-release (BE, after QEMU died in its restore) → lease-shutdown.done
//   (AR, after its VM was terminated, before the journal was cleared) → none;
//   then, with suspension none: lease-requeue (BE, an AR ends its run) →
//   lease-cancel.done (BE, unsuspendable=cancel, after its VM was ended) → none.

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const RATES = LEASE_LAB_RATES;
const USER_DATA = LEASE_PROBE_USER_DATA;
/** A suspend held this long is killed by the test long before it ends. */
const HOLD_SUSPEND = 'lease-suspend=sleep(600000)';

let root: string;
let port: number;
let controller: DaemonProcess;
let api: NuboClient;
let leases: LeaseClient;
let adminEvents: EventFollower;
let aliceEvents: EventFollower;
let aliceToken: string;
let aliceId: string;
const agents: AgentDaemon[] = [];
const agentFailpoints = [new Failpoints(), new Failpoints()];
let plainVm: string;
let be: string;
let beVm: string;
let first: Probe;

interface Probe { sum: string; nonce: string; uptime: number }
const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', nonce: f[1] ?? '', uptime: Number(f[2]) });
const iso = (s: number): string => new Date(s * 1000).toISOString();
const secs = (at: string): number => Date.parse(at) / 1000;
const soon = (s: number): string => iso(Math.ceil(Date.now() / 1000) + s);
const count = (l: LeaseDetailView, kind: string, step: string): number => l.history.filter((h) => h.kind === kind && h.detail['step'] === step).length;
const vmDirGone = async (host: string, vmId: string): Promise<boolean> => access(join(root, host, 'vms', agentVmId(vmId))).then(() => false, () => true);

/** When the journal says a step of the lease was begun / done (epoch s), the last such entry. */
function stepAt(l: LeaseDetailView, kind: 'step' | 'step-done', step: string): number | undefined {
  const e = l.history.filter((h) => h.kind === kind && h.detail['step'] === step).at(-1);
  return e === undefined ? undefined : secs(e.at);
}

function startController(failpoint?: string, policies: readonly string[] = ['migration=yes']): DaemonProcess {
  const rates = Object.entries(RATES).flatMap(([k, v]) => ['--lease-rate', `${k}=${v}`]);
  const spec = failpoint === undefined ? undefined : failpoint.includes('=') ? failpoint : `${failpoint}=exit`;
  return DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '1000', ...policies.flatMap((p) => ['--lease-policy', p]), ...rates], spec === undefined ? {} : { NUBO_FAILPOINTS: spec });
}

/** Waits until the controller killed itself at its failpoint, then starts the next one (armed at `next`, if given). */
async function restartAfterCrash(at: string, next?: string, policies?: readonly string[]): Promise<void> {
  await pollUntil(`controller killed at ${at}`, () => (controller.alive ? undefined : true), { timeoutMs: 240_000, intervalMs: 50 });
  assert.equal(controller.child.signalCode, 'SIGKILL', `the controller died by its failpoint ${at}`);
  controller = startController(next, policies);
  await controller.waitFor(/controller listening/, 60_000);
}

async function leaseIn(id: string, ok: (l: LeaseDetailView) => boolean, what: string, timeoutMs = 240_000, failedOk = false): Promise<LeaseDetailView> {
  let seen: LeaseDetailView | undefined;
  return pollUntil(`lease ${id.slice(0, 8)} ${what}`, async () => {
    const l = await leases.get(id).catch(() => undefined);
    if (l === undefined) return undefined;
    seen = l;
    if (!failedOk && (l.state === 'failed' || l.state === 'rejected')) throw new Error(`lease ${l.state}: ${l.reason ?? ''}`);
    return ok(l) ? l : undefined;
  }, { timeoutMs, intervalMs: 250 }).catch(async (err: unknown) => {
    // What the lease and its VMs were when the wait gave up, and what the controller said last: a timeout alone tells nothing.
    const vms = (await api.listVms().catch(() => [])).filter((v) => v.name?.startsWith(`lease-${id.slice(0, 8)}`)).map((x) => `${x.id.slice(0, 8)} ${x.state} ${x.stateReason ?? ''}`);
    process.stderr.write(`# lease ${id.slice(0, 8)} last seen: ${JSON.stringify({ state: seen?.state, pendingStep: seen?.pendingStep, plan: seen?.plan, history: seen?.history.slice(-6) })}; VMs: ${vms.join('; ')}\n# controller output (tail): ${controller.output.join('').slice(-3000)}\n`);
    throw err;
  });
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

/** How many times the VM was terminated (its state history). */
const terminations = async (vmId: string): Promise<number> => (await api.getVm(vmId)).history.filter((h) => h.to === 'terminated').length;

before(async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-leases-'));
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
  const alice = await new TenancyClient(api.baseUrl, api.token).createUser({ name: 'alice' });
  aliceToken = alice.token;
  aliceId = alice.user.id;
  adminEvents = new EventFollower(api.baseUrl, api.token);
  aliceEvents = new EventFollower(api.baseUrl, aliceToken);
  // Not a lease's: the scheduler counts h2 as taken while it runs, so the ARs below can only be had on h1.
  plainVm = (await api.createVm({ name: 'plain', template: 'tiny', requirements: 'hostname == "h2"' })).id;
  await vmIn(plainVm, 'running');
});

// Tolerates a set-up that failed half-way: whatever was made is still removed, by its own pid or path.
after(async () => {
  await adminEvents?.close();
  await aliceEvents?.close();
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
  // Unknown template; negative, zero, fractional, absurd durations and one beyond the controller's limit (7 days).
  await remoteRejects(leases.create({ type: 'be', durationS: 60, template: 'no-such-template' }), 400, 'VALIDATION_FAILED', 'template');
  await remoteRejects(leases.create({ type: 'be', durationS: -5, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS');
  await remoteRejects(leases.create({ type: 'be', durationS: 0, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS');
  await remoteRejects(leases.create({ type: 'be', durationS: 1.5, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS');
  await remoteRejects(leases.create({ type: 'be', durationS: 400 * 86_400 * 365, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS');
  await remoteRejects(leases.create({ type: 'be', durationS: 30 * 86_400, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'durationS', /controller's limit/);
  // Times: not a date, no zone, in the past, absurdly far ahead, missing for an AR, given for a BE.
  await remoteRejects(leases.create({ type: 'ar', start: 'tomorrow', durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(leases.create({ type: 'ar', start: soon(600).replace(/\.\d+Z$|Z$/, ''), durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(leases.create({ type: 'ar', start: soon(-60), durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start', /past/);
  await remoteRejects(leases.create({ type: 'ar', start: soon(365 * 86_400), durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start', /ahead/);
  await remoteRejects(leases.create({ type: 'ar', durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  await remoteRejects(leases.create({ type: 'be', start: soon(60), durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'start');
  // An AR is never preemptible; unknown type; unknown field.
  await remoteRejects(leases.create({ type: 'ar', start: soon(600), durationS: 60, template: 'tiny', preemptible: true }), 400, 'VALIDATION_FAILED', 'preemptible');
  await remoteRejects(leases.create({ type: 'spot' as 'be', durationS: 60, template: 'tiny' }), 400, 'VALIDATION_FAILED', 'type');
  await remoteRejects(leases.create({ type: 'be', durationS: 60, template: 'tiny', nodes: 2 } as never), 400, 'VALIDATION_FAILED', 'nodes');
  // More VMs than the hosts hold (2 hosts of 2 CPUs, VMs of 2 vCPUs); no VMs; a VM larger than any host.
  await remoteRejects(leases.create({ type: 'immediate', durationS: 60, template: 'tiny', count: 3 }), 400, 'VALIDATION_FAILED', 'count');
  await remoteRejects(leases.create({ type: 'immediate', durationS: 60, template: 'tiny', count: 0 }), 400, 'VALIDATION_FAILED', 'count');
  await remoteRejects(leases.create({ type: 'be', durationS: 60, template: 'tiny', vcpus: 8 }), 400, 'VALIDATION_FAILED', 'vcpus', /largest has 2/);
  await remoteRejects(leases.create({ type: 'be', durationS: 60, template: 'tiny', memoryMiB: 1024 * 1024 }), 400, 'VALIDATION_FAILED', 'memoryMiB', /largest has/);
  assert.deepEqual(await leases.list(), []);
  assert.equal(await leaseEvents(), events);
  assert.ok(controller.alive);
});

test('controller killed at lease-prepare: after the restart the lease runs one VM, made once, on the host the plain VM left free', async () => {
  // The step is begun inside the request that admits the lease: the controller may die before it answers.
  const answer = await leases.create({ type: 'be', durationS: 3600, template: 'probe' }).catch(() => undefined);
  await restartAfterCrash('lease-prepare', 'lease-shutdown');
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

test('an AR for now + 60 s suspends the lease before it starts and runs on time; killed at its end-of-duration shutdown and at the lease\'s resume, each step is done once, the AR\'s host goes back to the lease, the same guest', async () => {
  const start = Math.ceil(Date.now() / 1000) + 60;
  const ar = await leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny' });
  assert.equal(ar.state, 'scheduled');
  assert.deepEqual(ar.plan.placements, [{ host: 'h1', vms: 1 }]);

  // Overlapping ARs find no room anywhere (the first is not preemptible, h2 holds a plain VM): refused with the reason, nothing written.
  const before = { leases: (await leases.list()).length, history: (await leases.get(be)).history.length, events: (await api.latestEvents(500)).filter((e) => e.resource === 'lease').length };
  await remoteRejects(leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny' }), 409, 'LEASE_REJECTED', undefined, /not enough capacity/);
  await remoteRejects(leases.create({ type: 'ar', start: iso(start + 10), durationS: 600, template: 'tiny' }), 409, 'LEASE_REJECTED', undefined, /not enough capacity/);
  await remoteRejects(leases.create({ type: 'immediate', durationS: 60, template: 'tiny' }), 409, 'LEASE_REJECTED');
  await remoteRejects(leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny', count: 3 }), 400, 'VALIDATION_FAILED', 'count');
  assert.deepEqual({ leases: (await leases.list()).length, history: (await leases.get(be)).history.length, events: (await api.latestEvents(500)).filter((e) => e.resource === 'lease').length }, before);

  const suspended = await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  const savedAt = stepAt(suspended, 'step-done', 'suspend')!;
  assert.ok(savedAt < start, `the BE lease was saved ${(start - savedAt).toFixed(1)} s before the AR's start (it must be before)`);
  assert.equal(count(suspended, 'step-done', 'suspend'), 1, 'the suspension finished once');
  assert.equal((await api.getVm(beVm)).state, 'suspended');
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), [], 'a suspended VM has no QEMU');

  const running = await leaseIn(ar.id, (x) => stepAt(x, 'step-done', 'prepare') !== undefined, 'running');
  const arVm = running.vms[0]!.vm;
  const late = stepAt(running, 'step-done', 'prepare')! - start;
  process.stderr.write(`# the AR's VM was running ${late.toFixed(1)} s after the AR's start (negative: before)\n`);
  assert.ok(late <= 30, `the AR's VM must be running within a few seconds of its start (was ${late.toFixed(1)} s after it)`);
  assert.equal(running.vms[0]!.host, 'h1');

  // End of duration: the controller dies right after journaling the AR's shutdown; the next dies as the lease's resume (due once the AR is down) begins.
  await restartAfterCrash('lease-shutdown', 'lease-resume');
  await restartAfterCrash('lease-resume', HOLD_SUSPEND);
  const done = await leaseIn(ar.id, (x) => x.state === 'done' && x.pendingStep === null, 'done');
  assert.equal(count(done, 'step', 'shutdown'), 1, 'the AR\'s shutdown was journaled once');
  assert.equal(count(done, 'step-done', 'shutdown'), 1, 'and done once');
  await vmIn(arVm, 'terminated');
  assert.equal(await terminations(arVm), 1, 'the AR\'s VM was terminated once');
  assert.deepEqual(await qemuPidsOf(agentVmId(arVm)), []);
  assert.ok(await vmDirGone('h1', arVm), "the AR VM's files are gone");

  const back = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null, 'active again');
  assert.equal(count(back, 'step-done', 'resume'), 1, 'the resume finished once');
  assert.deepEqual(back.vms.map((v) => [v.vm, v.host]), [[beVm, 'h1']], 'resumed in place: the same VM on the freed host');
  assert.ok(back.remainingS < 3600, `it owes what it has not run (${back.remainingS} s)`);
  await sameGuest('resumed after two kills');

  // The stream said it all, in order, across three controllers.
  await adminEvents.until('the AR done and the lease active again', () => leaseStates(adminEvents.about('lease', ar.id)).at(-1) === 'done' && leaseStates(adminEvents.about('lease', be)).at(-1) === 'active' && adminEvents.about('lease', be).some((e) => e.kind === 'lease.step-done' && e.data['step'] === 'resume'));
  assert.deepEqual(leaseStates(adminEvents.about('lease', be)), ['accepted', 'scheduled', 'preparing', 'active', 'suspending', 'suspended', 'scheduled', 'resuming', 'active']);
  assert.deepEqual(leaseStates(adminEvents.about('lease', ar.id)), ['scheduled', 'preparing', 'active', 'done']);
  const seqOf = (id: string, state: string): number => adminEvents.about('lease', id).find((e) => e.data['state'] === state)!.seq;
  assert.ok(seqOf(be, 'suspending') < seqOf(ar.id, 'preparing') && seqOf(ar.id, 'active') < seqOf(be, 'resuming'), 'the lease was suspending before the AR prepared, and resumed after the AR ran');
  const steps = adminEvents.about('lease', ar.id).filter((e) => e.kind === 'lease.step' || e.kind === 'lease.step-done').map((e) => `${e.kind}:${String(e.data['step'])}`);
  assert.deepEqual(steps, ['lease.step:prepare', 'lease.step-done:prepare', 'lease.step:shutdown', 'lease.step-done:shutdown'], 'each of the AR\'s steps once on the stream');
  assert.ok(adminEvents.reconnects >= 2, 'the stream was read across the controllers\' deaths');
  const seqs = adminEvents.frames.map((e) => e.seq);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'no event twice or out of order after the reconnects');
});

test('controller killed while a suspend waits at its failpoint (journaled, nothing done yet): the next one finishes it once; the lease then moves to h2 (killed at lease-migrate) and resumes, the same guest', async () => {
  const ar = (await leases.create({ type: 'ar', start: soon(30), durationS: 3600, template: 'tiny' })).id;
  assert.deepEqual((await leases.get(ar)).plan.placements, [{ host: 'h1', vms: 1 }]);
  const journaled = await leaseIn(be, (x) => x.pendingStep === 'suspend', 'suspend journaled', 120_000);
  assert.equal(journaled.state, 'suspending');
  assert.equal(count(journaled, 'step', 'suspend'), 2, 'journaled (the first was the last test\'s)');
  // The step waits at its failpoint, after the journal and before any side effect: the VM still runs, and keeps running.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await api.getVm(beVm)).state, 'running', 'nothing was done yet');
  assert.equal((await qemuPidsOf(agentVmId(beVm))).length, 1);
  await controller.kill();
  controller = startController('lease-migrate');
  await controller.waitFor(/controller listening/, 60_000);

  const suspended = await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended by the new controller');
  assert.equal(count(suspended, 'step', 'suspend'), 2, 'not journaled again');
  assert.equal(count(suspended, 'step-done', 'suspend'), 2, 'this suspension was finished once');
  assert.equal((await api.getVm(beVm)).state, 'suspended');
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), []);

  // h1 is the AR's for an hour: once the plain VM leaves h2, the lease is moved there rather than wait.
  await api.vmAction(plainVm, 'terminate');
  await restartAfterCrash('lease-migrate', 'lease-release');
  const moved = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null && x.vms[0]?.host === 'h2', 'active on h2');
  assert.equal(count(moved, 'step-done', 'migrate'), 1, 'moved once');
  assert.deepEqual(moved.vms.map((v) => v.vm), [beVm]);
  assert.equal((await api.getVm(beVm)).host, 'h2');
  await sameGuest('moved after a kill');
  assert.ok((await consoleProbes(api, beVm)).length > 0);
  assert.ok(await vmDirGone('h1', beVm), 'nothing of it is left on h1');
  await leaseIn(ar, (x) => x.state === 'active', 'active');
  await adminEvents.until('the lease active on h2', () => adminEvents.about('lease', be).some((e) => e.kind === 'lease.step-done' && e.data['step'] === 'migrate') && leaseStates(adminEvents.about('lease', be)).at(-1) === 'active');
  assert.deepEqual(leaseStates(adminEvents.about('lease', be)).slice(9), ['suspending', 'suspended', 'scheduled', 'resuming', 'active']);
});

test('QEMU killed while a lease is resumed: the lease fails with the reason; killed at its release, the next controller ends its VM and saved state once, its host is free again', async () => {
  const ar = (await leases.create({ type: 'ar', start: soon(30), durationS: 15, template: 'tiny' })).id;
  await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  const killed = killQemuAt(1, 'qemu.restore', beVm);
  await leaseIn(ar, (x) => x.state === 'done', 'done');
  await killed;
  // The failure and the release it journals are one write: the controller dies right after it.
  await restartAfterCrash('lease-release', 'lease-shutdown.done');
  const failed = await leaseIn(be, (x) => x.state === 'failed' && x.pendingStep === null, 'failed and released', 240_000, true);
  assert.match(failed.reason ?? '', /^resume failed: /);
  assert.equal(count(failed, 'step', 'release'), 1, 'the release was journaled once');
  assert.equal(count(failed, 'step-done', 'release'), 1, 'its VMs were released once');
  await vmIn(beVm, 'terminated');
  assert.equal(await terminations(beVm), 1);
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), []);
  assert.ok(await vmDirGone('h2', beVm), 'no state file or disk left on h2');
  assert.deepEqual((await api.getHost('h2')).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 });
  await adminEvents.until('the lease failed', () => leaseStates(adminEvents.about('lease', be)).at(-1) === 'failed');
  assert.deepEqual(leaseStates(adminEvents.about('lease', be)).slice(14), ['suspending', 'suspended', 'scheduled', 'resuming', 'failed']);
  const failure = adminEvents.about('lease', be).find((e) => e.kind === 'lease.step-failed');
  assert.equal(failure?.data['step'], 'resume');
});

test('QEMU killed while a lease is suspended: the lease fails, nothing half-saved is left; the AR is killed after its VM was ended at its end of duration, and the lease queued behind it gets the host', async () => {
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
  const active = await leaseIn(ar, (x) => x.state === 'active' && x.vms.length === 1, 'active');
  const arVm = active.vms[0]!.vm;
  const next = await leases.create({ type: 'be', durationS: 60, template: 'tiny' });
  assert.equal(next.state, 'accepted', 'queued behind the AR');
  // End of duration: the AR's VM is terminated, and the controller dies before the journal says so.
  await restartAfterCrash('lease-shutdown.done');
  const done = await leaseIn(ar, (x) => x.state === 'done' && x.pendingStep === null, 'done');
  assert.equal(count(done, 'step', 'shutdown'), 1);
  assert.equal(count(done, 'step-done', 'shutdown'), 1, 'the repeated shutdown is recorded done once');
  await vmIn(arVm, 'terminated');
  assert.equal(await terminations(arVm), 1, 'the repeat found it terminated and did not end it twice');
  assert.deepEqual(await qemuPidsOf(agentVmId(arVm)), []);
  assert.ok(await vmDirGone('h2', arVm));
  const got = await leaseIn(next.id, (x) => x.state === 'active' && x.pendingStep === null, 'active after the AR');
  assert.deepEqual(got.vms.map((v) => v.host), ['h2'], 'the AR\'s capacity went to the next lease');
  await leases.cancel(next.id);
  const cancelled = await leaseIn(next.id, (x) => x.pendingStep === null, 'released', 240_000, true);
  assert.equal(cancelled.state, 'cancelled');
  await vmIn(cancelled.vms[0]!.vm, 'terminated');
  await adminEvents.until('both ended', () => leaseStates(adminEvents.about('lease', next.id)).at(-1) === 'cancelled' && leaseStates(adminEvents.about('lease', l2)).at(-1) === 'failed');
  assert.deepEqual(leaseStates(adminEvents.about('lease', l2)), ['accepted', 'scheduled', 'preparing', 'active', 'suspending', 'failed']);
  assert.deepEqual(leaseStates(adminEvents.about('lease', ar)), ['scheduled', 'preparing', 'active', 'done']);
  assert.deepEqual(leaseStates(adminEvents.about('lease', next.id)), ['accepted', 'scheduled', 'preparing', 'active', 'cancelled']);
});

test('a plain user sees her own leases and their events on the stream, and nothing of anyone else\'s', async () => {
  const alice = new LeaseClient(api.baseUrl, aliceToken);
  const mine = await alice.create({ type: 'ar', start: soon(3600), durationS: 60, template: 'tiny' });
  assert.equal(mine.owner, 'alice');
  assert.deepEqual((await alice.list()).map((l) => l.id), [mine.id], 'she lists her own lease only');
  await remoteRejects(alice.get(be), 404, 'NOT_FOUND');
  await remoteRejects(alice.cancel(be), 404, 'NOT_FOUND');
  await alice.cancel(mine.id);
  await aliceEvents.until('her lease cancelled and released', () => aliceEvents.about('lease', mine.id).some((e) => e.kind === 'lease.step-done'));
  assert.deepEqual(leaseStates(aliceEvents.about('lease', mine.id)), ['scheduled', 'cancelled']);
  assert.ok(aliceEvents.reconnects >= 7, 'her stream, too, was read across every controller death');
  const others = aliceEvents.frames.filter((e) => e.resource === 'lease' && e.resourceId !== mine.id);
  assert.deepEqual(others, [], 'not one event of another user\'s lease');
  assert.ok(aliceEvents.frames.every((e) => e.resource !== 'lease' || e.data['ownerId'] === aliceId), 'every lease event she reads is about a lease of hers');
  assert.ok(!JSON.stringify(aliceEvents.frames).includes(be), 'nor any mention of it');
  // The admin sees hers too.
  await adminEvents.until('her lease on the admin\'s stream', () => leaseStates(adminEvents.about('lease', mine.id)).at(-1) === 'cancelled');
});

test('suspension none: an AR requeues the lease in its way (controller killed at lease-requeue: its VM ended once, the lease starts over on a new VM after the AR); with unsuspendable=cancel the next one is cancelled (killed at lease-cancel.done: ended once)', async () => {
  // Armed at lease-requeue from here: nothing below requeues a lease before the AR does (one restart instead of two).
  await controller.stop();
  controller = startController('lease-requeue', ['suspension=none']);
  await controller.waitFor(/controller listening/, 60_000);
  // What the story left holding the hosts (the hour-long AR on h1; the plain VM on h2 when this test runs alone) goes first,
  // so that the two leases below fill both hosts.
  for (const l of await leases.list()) if (!['done', 'cancelled', 'failed', 'rejected'].includes(l.state)) await leases.cancel(l.id).catch(() => undefined);
  if ((await api.getVm(plainVm)).state !== 'terminated') await api.vmAction(plainVm, 'terminate');
  await pollUntil('both hosts enabled and empty', async () => ((await api.listHosts()).every((h) => h.state === 'enabled' && h.reserved.cpus === 0) ? true : undefined), { timeoutMs: 180_000, intervalMs: 500 });
  // Both hosts taken by best-effort leases of an hour, booted side by side (r2 the younger).
  const r1 = (await leases.create({ type: 'be', durationS: 3600, template: 'tiny' })).id;
  const r2 = (await leases.create({ type: 'be', durationS: 3600, template: 'tiny' })).id;
  const [, first2] = await Promise.all([r1, r2].map((id) => leaseIn(id, (x) => x.state === 'active' && x.pendingStep === null, 'active')));
  const oldVm = first2!.vms[0]!.vm;
  const host2 = first2!.vms[0]!.host;

  // The AR takes the host of the youngest lease, which cannot be suspended: requeued, journaled in the AR's request; the controller dies before ending its VM.
  const start = Math.ceil(Date.now() / 1000) + 45;
  await leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny' }).catch(() => undefined);
  await restartAfterCrash('lease-requeue', 'lease-cancel.done', ['suspension=none', 'unsuspendable=cancel']);
  const ar = (await leases.list()).find((l) => l.type === 'ar' && l.start === iso(start))!;
  assert.ok(ar !== undefined, 'the AR was written once');
  assert.deepEqual(ar.plan.placements, [{ host: host2, vms: 1 }]);
  const requeued = await leaseIn(r2, (x) => count(x, 'step-done', 'requeue') === 1, 'requeue done');
  assert.equal(count(requeued, 'step', 'requeue'), 1, 'journaled once');
  assert.ok(['accepted', 'scheduled', 'preparing'].includes(requeued.state), `back in the queue (${requeued.state})`);
  assert.equal(requeued.remainingS, 3600, 'it starts over');
  const why = requeued.history.find((h) => h.kind === 'state' && h.detail['state'] === 'accepted' && typeof h.detail['reason'] === 'string');
  assert.match(typeof why?.detail['reason'] === 'string' ? why.detail['reason'] : '', new RegExp(`^requeued to start over at .*: advance reservation ${ar.id} needs its hosts .*suspension is off \\(policy suspension none\\)$`));
  await vmIn(oldVm, 'terminated');
  assert.equal(await terminations(oldVm), 1, 'its VM was ended once');
  assert.deepEqual(await qemuPidsOf(agentVmId(oldVm)), []);
  assert.equal((await leases.get(r1)).state, 'active', 'the older lease was left alone');

  // The AR runs on time on the freed host and ends; the requeued lease starts over there on a new VM.
  await leaseIn(ar.id, (x) => x.state === 'done' && x.pendingStep === null, 'done');
  const again = await leaseIn(r2, (x) => x.state === 'active' && x.pendingStep === null && x.vms.length === 1, 'active again');
  const newVm = again.vms[0]!.vm;
  assert.notEqual(newVm, oldVm, 'a new VM: the run starts over');
  assert.equal(again.reason, null);
  await vmIn(newVm, 'running');

  // unsuspendable=cancel: the next AR cancels the youngest lease in its way; the controller dies after ending its VM, before the journal says so.
  const ar2 = (await leases.create({ type: 'ar', start: soon(45), durationS: 20, template: 'tiny' })).id;
  await restartAfterCrash('lease-cancel.done');
  const cancelled = await leaseIn(r2, (x) => x.state === 'cancelled' && x.pendingStep === null, 'cancelled and ended', 240_000, true);
  assert.match(cancelled.reason ?? '', new RegExp(`^cancelled at .*: advance reservation ${ar2} needs its hosts`));
  assert.equal(count(cancelled, 'step', 'cancel'), 1, 'journaled once');
  assert.equal(count(cancelled, 'step-done', 'cancel'), 1, 'the repeat is recorded done once');
  await vmIn(newVm, 'terminated');
  assert.equal(await terminations(newVm), 1, 'the repeat found it terminated and did not end it twice');
  assert.deepEqual(await qemuPidsOf(agentVmId(newVm)), []);
  await leaseIn(ar2, (x) => x.state === 'active' || x.state === 'done', 'running');
  await adminEvents.until('the lease cancelled', () => leaseStates(adminEvents.about('lease', r2)).at(-1) === 'cancelled');
  assert.deepEqual(leaseStates(adminEvents.about('lease', r2)), ['accepted', 'scheduled', 'preparing', 'active', 'accepted', 'scheduled', 'preparing', 'active', 'cancelled']);
  await leases.cancel(r1);
});

