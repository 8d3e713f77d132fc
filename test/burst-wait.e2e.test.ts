/**
 * The bursting policies beside `when-full` (hybrid.e2e.test.ts): the
 * template flag `burst` and the controller's `--burst-policy
 * when-wait-exceeds`, against a second nubo on loopback as the public cloud
 * (both controllers processes of their own on the fake driver, as in
 * hybrid.e2e.test.ts — the control plane is what is under test).
 *
 * The local site has room for one 1-vCPU VM and waits 5 s before a VM
 * bursts; the cloud `burst-1` is registered `never`: only VMs that ask for it
 * go there — here by their template's flag. Covered: the flag checked at
 * template create (an unknown cloud → 400 naming `burst`, nothing written; a
 * cloud may not be named `any`; changed in place by PATCH, checked the same
 * way); a flagged VM on a full site waits, then
 * bursts once, its history saying why; an unflagged one keeps waiting with
 * the cloud's reason; the controller SIGKILLed while a VM waits → after the
 * restart it bursts once (the wait measured from the stored pending time);
 * a VM that finds a local host before the wait is over never bursts; a cloud
 * a template's flag names cannot be removed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { NuboClient } from '../src/client/nubo-client.js';
import type { VmView } from '../src/contract/vm-schemas.js';
import { pollUntil } from '../src/util/deadline.js';
import { HybridClouds } from './support/hybrid-clouds.js';
import { remoteRejects } from './support/remote-rejects.js';

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const WAIT = { timeoutMs: 180_000, intervalMs: 200 };
// Long enough that a loaded machine still sees the VM wait before it goes; short enough for the test.
const MAX_WAIT_S = 5;

let root: string;
let h: HybridClouds;
let lApi: NuboClient;

async function vmIn(id: string, states: readonly string[], what: string): Promise<VmView> {
  return pollUntil(`${what} ${states.join('|')}`, async () => {
    const v = await lApi.getVm(id).catch(() => undefined);
    if (v?.state === 'failed') throw new Error(`${what} failed: ${v.stateReason ?? ''}`);
    return v !== undefined && states.includes(v.state) ? v : undefined;
  }, WAIT);
}

/** Pending, with the wait policy's words for the cloud in its reason. */
async function waitingForTheWait(id: string): Promise<VmView> {
  return pollUntil('waiting out the wait policy', async () => {
    const v = await lApi.getVm(id);
    assert.equal(v.state, 'pending', `${v.name} left pending before its wait was over: ${v.stateReason ?? ''}`);
    return new RegExp(`burst-1: it takes VMs that waited more than ${MAX_WAIT_S} s for a local host`).test(v.stateReason ?? '') ? v : undefined;
  }, WAIT);
}

/** The VM went to burst-1 once, after waiting more than MAX_WAIT_S in pending (as its stored history times say). */
async function burstOnceAfterTheWait(id: string, what: string): Promise<void> {
  const v = await vmIn(id, ['running'], what);
  assert.equal(v.host, null, 'on no local host');
  const live = await h.instancesOf(id, { live: true });
  assert.equal(live.length, 1, `exactly one remote instance: ${JSON.stringify(live)}`);
  const { history } = await lApi.getVm(id);
  const placed = history.filter((e) => /placed on cloud/.test(e.reason ?? ''));
  assert.equal(placed.length, 1, `placed once: ${JSON.stringify(history)}`);
  assert.match(placed[0]!.reason ?? '', new RegExp(`^placed on cloud burst-1: waited \\d+(\\.\\d)? s > ${MAX_WAIT_S} s for a local host$`));
  const created = history.find((e) => e.from === null)!;
  const waitedMs = Date.parse(placed[0]!.at) - Date.parse(created.at);
  assert.ok(waitedMs > MAX_WAIT_S * 1000, `it waited ${waitedMs} ms before it burst`);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-burst-wait-'));
  h = await HybridClouds.start({ root, localCpus: 1, logger, localArgs: ['--cloud-poll-ms', '500', '--burst-policy', 'when-wait-exceeds', '--burst-max-wait-s', String(MAX_WAIT_S)] });
  lApi = h.localApi;
});

after(async () => {
  await h?.close();
  await rm(root, { recursive: true, force: true });
});

test('the template flag is checked at create and update: an unknown cloud is refused naming burst, nothing written; `any` and `local` are no cloud\'s name', async () => {
  await remoteRejects(lApi.addCloud(h.cloudBody({ name: 'any' })), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(lApi.addCloud(h.cloudBody({ name: 'local' })), 400, 'VALIDATION_FAILED', 'name');
  await lApi.addCloud(h.cloudBody({ burst: 'never' }));
  const before = (await lApi.listTemplates()).map((t) => t.name);
  await remoteRejects(lApi.createTemplate({ name: 'flagged', vcpus: 1, memoryMiB: 128, image: 'disk', burst: 'burst-9' }), 400, 'VALIDATION_FAILED', 'burst', /no cloud burst-9/);
  await remoteRejects(lApi.createTemplate({ name: 'flagged', vcpus: 1, memoryMiB: 128, image: 'disk', burst: 'bad name' }), 400, 'VALIDATION_FAILED', 'burst');
  assert.deepEqual((await lApi.listTemplates()).map((t) => t.name), before, 'nothing was written');
  const t = await lApi.createTemplate({ name: 'flagged', vcpus: 1, memoryMiB: 128, image: 'disk', burst: 'burst-1' });
  assert.equal(t.burst, 'burst-1');
  assert.equal((await lApi.createTemplate({ name: 'anywhere', vcpus: 1, memoryMiB: 128, image: 'disk', burst: 'any' })).burst, 'any');
  assert.equal((await lApi.listTemplates()).find((x) => x.name === 'small')?.burst, undefined);
  // Changed in place (PATCH): checked as at create, nothing changed when refused; null clears it.
  await remoteRejects(lApi.updateTemplate('anywhere', { burst: 'burst-9' }), 400, 'VALIDATION_FAILED', 'burst', /no cloud burst-9/);
  assert.equal((await lApi.listTemplates()).find((x) => x.name === 'anywhere')?.burst, 'any', 'nothing changed');
  assert.equal((await lApi.updateTemplate('anywhere', { burst: null })).burst, undefined);
  assert.equal((await lApi.updateTemplate('anywhere', { burst: 'burst-1' })).burst, 'burst-1');
  assert.equal((await lApi.listTemplates()).find((x) => x.name === 'anywhere')?.burst, 'burst-1');
});

let localVm: VmView;

test('on a full site a flagged VM waits, then bursts once with the reason; an unflagged one keeps waiting (the cloud takes only VMs that ask for it)', async () => {
  localVm = await lApi.createVm({ template: 'small', name: 'local-1' });
  assert.equal((await vmIn(localVm.id, ['running'], 'local-1')).host, h.localFleet.hosts[0]!.name);
  const u = await lApi.createVm({ template: 'small', name: 'plain-u' });
  const f = await lApi.createVm({ template: 'flagged', name: 'flag-f' });
  await waitingForTheWait(f.id);
  await burstOnceAfterTheWait(f.id, 'flag-f');
  const plain = await lApi.getVm(u.id);
  assert.equal(plain.state, 'pending');
  assert.match(plain.stateReason ?? '', /burst-1: it takes only VMs that ask for it/);
  assert.deepEqual(await h.instancesOf(u.id), [], 'nothing launched for the unflagged VM');
  // A cloud a template's flag names is not removed from under it.
  await remoteRejects(lApi.removeCloud('burst-1'), 409, 'CONFLICT', undefined, /flagged/);
  await lApi.vmAction(u.id, 'terminate-hard');
  await vmIn(u.id, ['terminated'], 'plain-u');
});

test('the controller SIGKILLed while a VM waits: after the restart it bursts once, the wait measured from its stored pending time', async () => {
  const f = await lApi.createVm({ template: 'flagged', name: 'flag-k' });
  await waitingForTheWait(f.id);
  process.kill(h.local.pid, 'SIGKILL');
  assert.equal(await h.local.exited, 'SIGKILL');
  assert.deepEqual(await h.instancesOf(f.id), [], 'nothing launched before the crash');
  h.local = await h.startLocal({ adminToken: h.local.adminToken });
  await burstOnceAfterTheWait(f.id, 'flag-k');
  // Nothing more is launched for it afterwards (a second pass, a poll).
  await new Promise((ok) => setTimeout(ok, 1_500));
  assert.equal((await h.instancesOf(f.id)).length, 1, 'still one instance');
});

test('a flagged VM that finds a local host before its wait is over never bursts', async () => {
  // A long wait here, so that the local room surely comes first on a loaded machine.
  await h.local.stop();
  h.local = await h.startLocal({ adminToken: h.local.adminToken, args: ['--burst-max-wait-s', '600'] });
  const f = await lApi.createVm({ template: 'flagged', name: 'flag-l' });
  await pollUntil('waiting for a local host', async () => {
    const v = await lApi.getVm(f.id);
    return v.state === 'pending' && /waited more than 600 s/.test(v.stateReason ?? '') ? v : undefined;
  }, WAIT);
  await lApi.vmAction(localVm.id, 'terminate');
  const l = await vmIn(f.id, ['running'], 'flag-l');
  assert.equal(l.host, h.localFleet.hosts[0]!.name);
  assert.deepEqual(await h.instancesOf(f.id), [], 'nothing launched for it');
  assert.ok(!(await lApi.getVm(f.id)).history.some((e) => /placed on cloud/.test(e.reason ?? '')));
});
