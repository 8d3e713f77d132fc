import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { NuboClient } from '../src/client/nubo-client.js';
import { LeaseClient } from '../src/client/lease-client.js';
import type { LeaseDetailView, LeaseView } from '../src/contract/lease-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { pollUntil } from '../src/util/deadline.js';
import { Failpoints } from '../src/util/failpoints.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { consoleProbes, freshConsoleProbe } from './support/console-probes.js';
import { qemuPidsOf } from './support/daemon-process.js';
import { remoteRejects } from './support/remote-rejects.js';
import { LEASE_LAB_RATES, LEASE_PROBE_USER_DATA } from './support/lease-probe-guest.js';

// Capacity leases on real QEMU (issue 15): two in-process hosts of 2 CPUs,
// every VM 2 vCPU so that one fills a host. A plain VM fills h2, a best-effort
// lease runs on h1; an advance reservation that can only be had on h1 suspends
// it (QEMU saves its memory) before the reservation starts, and the lease
// resumes after it on h1 — then, with the controller restarted between the
// journal of the suspend and the suspend itself, it is suspended again and
// moved to h2 (cold migration of memory and disk) once the plain VM is gone.
// The guest prints a checksum of a file on its disk, a number kept only in
// RAM, and its uptime every second: the same checksum and number and a larger
// uptime afterwards mean the same guest, not a reboot.

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const RATES = LEASE_LAB_RATES;
const USER_DATA = LEASE_PROBE_USER_DATA;

let cloud: InProcessCloud;
let api: NuboClient;
let leases: LeaseClient;
let failpoints = new Failpoints();
let plainVm: string;
let be: LeaseView;
let beVm: string;
let first: Probe;

interface Probe { sum: string; nonce: string; uptime: number }
const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', nonce: f[1] ?? '', uptime: Number(f[2]) });
const iso = (s: number): string => new Date(s * 1000).toISOString();
const secs = (at: string): number => Date.parse(at) / 1000;

async function leaseIn(id: string, ok: (l: LeaseDetailView) => boolean, what: string, timeoutMs = 180_000): Promise<LeaseDetailView> {
  return pollUntil(`lease ${id.slice(0, 8)} ${what}`, async () => {
    const l = await leases.get(id);
    if (l.state === 'failed' || l.state === 'rejected') throw new Error(`lease ${l.state}: ${l.reason ?? ''}`);
    return ok(l) ? l : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

async function vmIn(id: string, state: string, timeoutMs = 180_000): Promise<void> {
  await pollUntil(`VM ${id.slice(0, 8)} ${state}`, async () => {
    const v = await api.getVm(id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return v.state === state && (v as { operation?: unknown }).operation == null ? true : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

/** When the journal says a step of the lease was begun / done (epoch s), the last such entry. */
function stepAt(l: LeaseDetailView, kind: 'step' | 'step-done', step: string): number | undefined {
  const e = l.history.filter((h) => h.kind === kind && h.detail['step'] === step).at(-1);
  return e === undefined ? undefined : secs(e.at);
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-leases-lab-', logger, hosts: 2, failpoints, leases: { policies: { migration: 'yes' }, rates: RATES, tickMs: 250 } });
  api = cloud.api;
  leases = new LeaseClient(api.baseUrl, api.token);
  await api.createTemplate({ name: 'probe', vcpus: 2, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: cloud.image.cmdline, userData: USER_DATA });
  // Not a lease's: the scheduler counts it as h2 taken from now on.
  plainVm = (await api.createVm({ name: 'plain', template: 'tiny', vcpus: 2, requirements: 'hostname == "h2"' })).id;
  await vmIn(plainVm, 'running');
});

after(async () => {
  await cloud?.stop();
});

test('a best-effort lease runs on the host the plain VM left free', async () => {
  be = await leases.create({ type: 'be', durationS: 3600, template: 'probe' });
  const l = await leaseIn(be.id, (x) => x.state === 'active' && x.vms.length === 1, 'active');
  beVm = l.vms[0]!.vm;
  assert.equal(l.vms[0]!.host, 'h1');
  await vmIn(beVm, 'running');
  first = asProbe(await freshConsoleProbe(api, beVm, 120_000));
});

test('an AR for now + 60 s suspends the lease before it starts, runs on time, ends; the lease resumes on the same host, same guest', async () => {
  const start = Math.ceil(Date.now() / 1000) + 60;
  const ar = await leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny', vcpus: 2 });
  assert.equal(ar.state, 'scheduled');
  assert.deepEqual(ar.plan.placements, [{ host: 'h1', vms: 1 }]);

  // Another AR in that window finds no room anywhere (the first is not preemptible, h2 holds a plain VM): refused with the reason, nothing written.
  const before = { leases: (await leases.list()).length, history: (await leases.get(be.id)).history.length };
  await remoteRejects(leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny', vcpus: 2 }), 409, 'LEASE_REJECTED', undefined, /not enough capacity/);
  await remoteRejects(leases.create({ type: 'ar', start: iso(start), durationS: 20, template: 'tiny', vcpus: 2, count: 3 }), 400, 'VALIDATION_FAILED', 'count');
  assert.deepEqual({ leases: (await leases.list()).length, history: (await leases.get(be.id)).history.length }, before);

  const suspended = await leaseIn(be.id, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  const savedAt = stepAt(suspended, 'step-done', 'suspend')!;
  assert.ok(savedAt < start, `the BE lease was saved ${(start - savedAt).toFixed(1)} s before the AR's start (it must be before)`);
  assert.equal((await api.getVm(beVm)).state, 'suspended');
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), [], 'a suspended VM has no QEMU');

  const running = await leaseIn(ar.id, (x) => stepAt(x, 'step-done', 'prepare') !== undefined, 'running');
  const arVm = running.vms[0]!.vm;
  const late = stepAt(running, 'step-done', 'prepare')! - start;
  process.stderr.write(`# the AR's VM was running ${late.toFixed(1)} s after the AR's start (negative: before)\n`);
  assert.ok(late <= 30, `the AR's VM must be running within a few seconds of its start (was ${late.toFixed(1)} s after it)`);
  assert.equal(running.vms[0]!.host, 'h1');

  await leaseIn(ar.id, (x) => x.state === 'done' && x.pendingStep === null, 'done', 120_000);
  assert.equal((await api.getVm(arVm)).state, 'terminated');

  const back = await leaseIn(be.id, (x) => x.state === 'active' && x.pendingStep === null, 'active again');
  assert.deepEqual(back.vms.map((v) => [v.vm, v.host]), [[beVm, 'h1']], 'resumed in place: the same VM on the same host');
  assert.ok(back.remainingS < 3600, `it owes what it has not run (${back.remainingS} s)`);
  await vmIn(beVm, 'running');
  const after = asProbe(await freshConsoleProbe(api, beVm, 120_000));
  assert.equal(after.sum, first.sum, 'the data on its disk is intact');
  assert.equal(after.nonce, first.nonce, 'its memory is the one saved (no reboot)');
  assert.ok(after.uptime > first.uptime, `uptime continued (${first.uptime} → ${after.uptime})`);
  assert.equal((await qemuPidsOf(agentVmId(beVm))).length, 1);
  first = after;
});

test('a controller restarted between the journal of a suspend and the suspend finishes it; the lease then moves to the other host and resumes', async () => {
  let reached!: () => void;
  const atSuspend = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  failpoints.arm('lease-suspend', () => {
    reached();
    return gate;
  });
  const start = Math.ceil(Date.now() / 1000) + 40;
  const ar = await leases.create({ type: 'ar', start: iso(start), durationS: 3600, template: 'tiny', vcpus: 2 });
  assert.deepEqual(ar.plan.placements, [{ host: 'h1', vms: 1 }]);
  await Promise.race([atSuspend, new Promise((_, no) => setTimeout(() => no(new Error('the suspend step never began')), 90_000).unref())]);
  const journaled = await leases.get(be.id);
  assert.equal(journaled.pendingStep, 'suspend', 'the step is journaled before its side effect');
  assert.equal((await api.getVm(beVm)).state, 'running', 'and nothing was done yet');

  // The old controller lets go of the step only after it was told to stop: it must not begin the side effect any more.
  setTimeout(release, 1000).unref();
  failpoints = new Failpoints();
  await cloud.restartController(failpoints);

  const suspended = await leaseIn(be.id, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended by the new controller');
  assert.equal(suspended.history.filter((h) => h.kind === 'step-done' && h.detail['step'] === 'suspend').length, 2, 'this suspension was finished once (the first was the last test\'s)');
  assert.equal((await api.getVm(beVm)).state, 'suspended');
  assert.deepEqual(await qemuPidsOf(agentVmId(beVm)), []);

  // h1 is the AR's for an hour: once the plain VM leaves h2, the lease is moved there rather than wait.
  await api.vmAction(plainVm, 'terminate');
  const moved = await leaseIn(be.id, (x) => x.state === 'active' && x.pendingStep === null && x.vms[0]?.host === 'h2', 'active on h2', 240_000);
  assert.ok(stepAt(moved, 'step-done', 'migrate') !== undefined, 'moved by a migrate step');
  assert.deepEqual(moved.vms.map((v) => v.vm), [beVm]);
  await vmIn(beVm, 'running');
  assert.equal((await api.getVm(beVm)).host, 'h2');
  const after = asProbe(await freshConsoleProbe(api, beVm, 120_000));
  assert.equal(after.sum, first.sum, 'the data on its disk came along');
  assert.equal(after.nonce, first.nonce, 'its memory came along (no reboot)');
  assert.ok(after.uptime > first.uptime, `uptime continued (${first.uptime} → ${after.uptime})`);
  assert.equal((await qemuPidsOf(agentVmId(beVm))).length, 1, 'exactly one QEMU for the VM');
  assert.equal((await consoleProbes(api, beVm)).length > 0, true);

  // The AR (running on h1 by now) and the lease are cancelled: their VMs terminated.
  await leaseIn(ar.id, (x) => x.state === 'active', 'active');
  await leases.cancel(ar.id);
  await leases.cancel(be.id);
  await leaseIn(ar.id, (x) => x.pendingStep === null, 'released', 120_000);
  await leaseIn(be.id, (x) => x.pendingStep === null, 'released', 120_000);
  await vmIn(beVm, 'terminated');
});
