import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
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
import { freshConsoleProbe } from './support/console-probes.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';
import { LEASE_LAB_RATES, LEASE_PROBE_USER_DATA } from './support/lease-probe-guest.js';

// Capacity leases whose VMs live on the shared datastore (issue 15: where a
// suspended lease's state lives is part of the model). The controller runs
// with `--lease-rate suspendTo=shared` and the migration policy `no`: a
// suspended lease may resume on any host that shares the datastore, with no
// migrate step. Two in-process agents of 2 CPUs share one directory (the
// lab's NFS); every VM has 2 vCPUs, so one fills a host. A plain VM fills
// h2; a best-effort lease runs on h1 with its disk on the shared datastore;
// an AR for h1 suspends it — QEMU saves its memory beside its disk, on the
// shared datastore. The plain VM goes: while the AR holds h1 the lease
// resumes on h2, which adopts the VM from the shared path (a cold migration
// that copies nothing), and the guest carries on — the same data, the same
// RAM, uptime continued. The controller is SIGKILLed at `lease-resume`
// (journaled, nothing done) and at `lease-resume.done` (handed over and
// resumed, the journal not yet cleared): each part happens once. Before
// that, at `lease-admit` (inside the one transaction that writes the AR and
// the plan it cuts) and `lease-admit.done` (after it): neither or both.

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

let root: string;
let shared: string;
let port: number;
let controller: DaemonProcess;
let api: NuboClient;
let leases: LeaseClient;
const agents: AgentDaemon[] = [];

interface Probe { sum: string; nonce: string; uptime: number }
const asProbe = (f: readonly string[]): Probe => ({ sum: f[0] ?? '', nonce: f[1] ?? '', uptime: Number(f[2]) });
const soon = (s: number): string => new Date((Math.ceil(Date.now() / 1000) + s) * 1000).toISOString();
const count = (l: LeaseDetailView, kind: string, step: string): number => l.history.filter((h) => h.kind === kind && h.detail['step'] === step).length;
const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

function startController(failpoint?: string): DaemonProcess {
  const rates = Object.entries({ ...LEASE_LAB_RATES, suspendTo: 'shared' }).flatMap(([k, v]) => ['--lease-rate', `${k}=${v}`]);
  return DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '1000', '--lease-policy', 'migration=no', ...rates], failpoint === undefined ? {} : { NUBO_FAILPOINTS: `${failpoint}=exit` });
}

async function restartAfterCrash(at: string, next?: string): Promise<void> {
  await pollUntil(`controller killed at ${at}`, () => (controller.alive ? undefined : true), { timeoutMs: 240_000, intervalMs: 50 });
  assert.equal(controller.child.signalCode, 'SIGKILL', `the controller died by its failpoint ${at}`);
  controller = startController(next);
  await controller.waitFor(/controller listening/, 60_000);
}

async function leaseIn(id: string, ok: (l: LeaseDetailView) => boolean, what: string, timeoutMs = 240_000): Promise<LeaseDetailView> {
  let seen: LeaseDetailView | undefined;
  return pollUntil(`lease ${id.slice(0, 8)} ${what}`, async () => {
    const l = await leases.get(id).catch(() => undefined);
    if (l === undefined) return undefined;
    seen = l;
    if (l.state === 'failed' || l.state === 'rejected') throw new Error(`lease ${l.state}: ${l.reason ?? ''}`);
    return ok(l) ? l : undefined;
  }, { timeoutMs, intervalMs: 250 }).catch((err: unknown) => {
    process.stderr.write(`# lease ${id.slice(0, 8)} last seen: ${JSON.stringify({ state: seen?.state, pendingStep: seen?.pendingStep, plan: seen?.plan, history: seen?.history.slice(-6) })}\n# controller output (tail): ${controller.output.join('').slice(-3000)}\n`);
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

before(async () => {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-leases-shared-'));
  shared = join(root, 'shared');
  await mkdir(shared);
  port = await freePort();
  controller = startController();
  api = new NuboClient(`http://127.0.0.1:${port}`, await controller.waitFor(/its token \(shown once\): (\S+)/, 60_000));
  leases = new LeaseClient(api.baseUrl, api.token);
  await controller.waitFor(/controller listening/, 60_000);
  for (const name of ['h1', 'h2']) {
    const token = randomBytes(24).toString('hex');
    const agentPort = await freePort();
    await api.registerHost({ name, agentUrl: `http://127.0.0.1:${agentPort}`, agentToken: token });
    agents.push(await AgentDaemon.start({ name, dataDir: join(root, name), runDir: join(root, `run-${name}`), sharedDir: shared, listen: { host: '127.0.0.1', port: agentPort }, token, controllerUrl: api.baseUrl, heartbeatIntervalMs: 500, logger }));
  }
  await pollUntil('hosts enabled', async () => ((await api.listHosts()).every((h) => h.state === 'enabled') ? true : undefined), { timeoutMs: 30_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 2, memoryMiB: 128, ...tinyBoot(image) });
  await api.createTemplate({ name: 'probe-shared', vcpus: 2, memoryMiB: 128, datastore: 'shared', ...tinyBoot(image), userData: LEASE_PROBE_USER_DATA });
});

after(async () => {
  if (controller?.alive) {
    for (const vm of await api.listVms().catch(() => [])) if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    await pollUntil('every VM terminated', async () => ((await api.listVms()).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  }
  await controller?.stop();
  for (const a of agents) await a.stop();
  for (const host of ['h1', 'h2']) {
    const ids = root ? await readdir(join(root, host, 'vms')).catch(() => []) : [];
    for (const id of ids) for (const pid of await qemuPidsOf(id)) process.kill(pid, 'SIGKILL');
  }
  if (root) await rm(root, { recursive: true, force: true });
});

test('state on the shared datastore: a BE lease suspended for an AR resumes on the other host with no migrate step and nothing copied — the same guest; the controller killed at lease-resume and lease-resume.done, each part done once', async () => {
  // Not a lease's: h2 is taken while it runs, so the AR can only be had on h1.
  const plain = (await api.createVm({ name: 'plain', template: 'tiny', requirements: 'hostname == "h2"' })).id;
  await vmIn(plain, 'running');
  const be = (await leases.create({ type: 'be', durationS: 3600, template: 'probe-shared' })).id;
  const active = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null && x.vms.length === 1, 'active');
  const beVm = active.vms[0]!.vm;
  assert.equal(active.vms[0]!.host, 'h1');
  const vmDir = agentVmId(beVm);
  assert.ok(await exists(join(shared, 'vms', vmDir, 'disk.qcow2')), 'the lease VM\'s disk is on the shared datastore');
  const first = asProbe(await freshConsoleProbe(api, beVm, 120_000));

  // The AR and the plan it cuts are one write. Killed inside it (after the AR's row, before the cut): neither is there.
  await controller.kill();
  controller = startController('lease-admit');
  await controller.waitFor(/controller listening/, 60_000);
  const planBefore = (await leases.get(be)).plan;
  await leases.create({ type: 'ar', start: soon(45), durationS: 3600, template: 'tiny' }).then(() => assert.fail('the controller answered past lease-admit'), () => {});
  await restartAfterCrash('lease-admit', 'lease-admit.done');
  assert.deepEqual((await leases.list()).map((l) => l.id), [be], 'no AR was recorded');
  const untouched = await leases.get(be);
  assert.deepEqual(untouched.plan, planBefore, 'the lease\'s plan was not cut');
  assert.equal(untouched.history.filter((h) => h.kind === 'planned').length, 0);
  // Killed once both are written, before anything runs: both are there, the AR once, and the lease is suspended for it.
  await leases.create({ type: 'ar', start: soon(45), durationS: 3600, template: 'tiny' }).then(() => assert.fail('the controller answered past lease-admit.done'), () => {});
  await restartAfterCrash('lease-admit.done');
  const all = await leases.list();
  assert.equal(all.length, 2, 'the AR was recorded once');
  const ar = all.find((l) => l.id !== be)!;
  assert.equal(ar.type, 'ar');
  assert.deepEqual(ar.plan.placements, [{ host: 'h1', vms: 1 }]);
  assert.ok((await leases.get(be)).plan.segments.some((x) => x.kind === 'suspend'), 'and the lease\'s plan was cut with it');
  const suspended = await leaseIn(be, (x) => x.state === 'suspended' && x.pendingStep === null, 'suspended');
  assert.equal(count(suspended, 'step-done', 'suspend'), 1);
  assert.ok(await exists(join(shared, 'vms', vmDir, 'memory.state')), 'its memory was saved beside its disk, on the shared datastore');
  assert.ok(!(await exists(join(root, 'h1', 'vms', vmDir, 'memory.state'))), 'and not on h1\'s own disk');
  assert.deepEqual(await qemuPidsOf(vmDir), []);

  // The next controller dies as the resume begins (journaled, nothing done), the one after it once the resume is done.
  await controller.kill();
  controller = startController('lease-resume');
  await controller.waitFor(/controller listening/, 60_000);
  // h1 is the AR's for an hour: once the plain VM leaves h2, the lease resumes there, from the shared datastore.
  await api.vmAction(plain, 'terminate');
  await restartAfterCrash('lease-resume', 'lease-resume.done');
  await restartAfterCrash('lease-resume.done');
  const resumed = await leaseIn(be, (x) => x.state === 'active' && x.pendingStep === null && x.vms[0]?.host === 'h2', 'active on h2');
  assert.equal(count(resumed, 'step', 'migrate'), 0, 'no migrate step: the state was not moved');
  assert.equal(count(resumed, 'step', 'resume'), 1, 'the resume was journaled once');
  assert.equal(count(resumed, 'step-done', 'resume'), 1, 'and finished once');
  assert.deepEqual(resumed.plan.segments.map((s) => s.kind), ['resume', 'run', 'shutdown']);
  assert.deepEqual(resumed.vms.map((v) => [v.vm, v.host]), [[beVm, 'h2']], 'the same VM, on h2');

  const vm = await api.getVm(beVm);
  assert.equal(vm.host, 'h2');
  assert.equal(vm.history.filter((h) => h.from === 'suspended' && h.to === 'boot').length, 1, `restored once (${vm.history.map((h) => `${h.from}→${h.to}`).join(' ')})`);
  assert.equal(vm.history.filter((h) => h.to === 'saving').length, 1, 'saved once');
  // The hand-off is a cold migration that copied nothing: disk and saved memory were already where h2 reads them.
  const moves = await api.listMigrations({ vm: beVm });
  assert.equal(moves.length, 1, 'handed over once');
  const m = await api.getMigration(moves[0]!.id);
  assert.equal(m.state, 'succeeded');
  assert.deepEqual((m.journal.find((j) => j.stage === 'copying')?.data?.['files'] ?? []), [], 'no file copied');
  assert.ok(!(await exists(join(root, 'h1', 'vms', vmDir))), 'nothing of it is left on h1');
  assert.ok(!(await exists(join(shared, 'vms', vmDir, 'memory.state'))), 'the saved memory was consumed by the restore');

  await vmIn(beVm, 'running');
  const now = asProbe(await freshConsoleProbe(api, beVm, 120_000));
  assert.equal(now.sum, first.sum, 'the data on its disk is intact');
  assert.equal(now.nonce, first.nonce, 'its memory is the one saved (no reboot)');
  assert.ok(now.uptime > first.uptime, `uptime continued (${first.uptime} → ${now.uptime})`);
  assert.equal((await qemuPidsOf(vmDir)).length, 1, 'exactly one QEMU');
  await leaseIn(ar.id, (x) => x.state === 'active', 'the AR running on h1');
  assert.deepEqual((await leases.get(ar.id)).vms.map((v) => v.host), ['h1']);
});
