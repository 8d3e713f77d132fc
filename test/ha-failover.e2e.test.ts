import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import PgLib from 'pg';
import { NuboClient } from '../src/client/nubo-client.js';
import { AgentClient } from '../src/client/agent-client.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { startPostgresCluster, type PostgresCluster } from './support/postgres-cluster.js';

// Two `nubo controller` processes on one PostgreSQL and `nubo agent`s that
// know both; tiny VMs under real QEMU. The leader is killed (SIGKILL) or
// paused (SIGSTOP) in the middle of provisions, and killed in the middle of a
// live migration between two agents sharing a datastore.

// Long enough for renewals on a loaded 2-core machine; a failover takes about this long.
const LEASE_MS = 5_000;

interface Controller { readonly port: number; proc: DaemonProcess }

let image: TinyImage;
let pg: PostgresCluster;
let root: string;
let agentPort: number;
let agentToken: string;
let agent: DaemonProcess;
/** The second host, started by the live-migration case. */
let agent2: DaemonProcess | undefined;
let adminToken: string;
let leader: Controller;
let follower: Controller;
/** Every VM this suite made, so that after() can end their QEMUs by pid whatever state the controllers are in. */
const created: string[] = [];

const urlOf = (c: Controller): string => `http://127.0.0.1:${c.port}`;
const apiOf = (c: Controller): NuboClient => new NuboClient(urlOf(c), adminToken);

/** Every controller process started, for the logs kept when the suite fails. */
const started: DaemonProcess[] = [];

function startController(port: number, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  // The controllers share their data directory (image store, system store), as they would an NFS mount.
  return track(DaemonProcess.start([
    'controller', '--listen', `127.0.0.1:${port}`, '--data-dir', join(root, 'controller'), '--postgres', pg.connectionString,
    '--lease-ms', String(LEASE_MS), '--heartbeat-ms', '4000',
  ], env));
}

function startAgent(name: string, port: number, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  // Both hosts see the shared datastore at one path, so a VM's disk there migrates without a copy.
  return DaemonProcess.start([
    'agent', '--name', name, '--listen', `127.0.0.1:${port}`, '--token-file', join(root, 'agent-token'),
    '--controller', `${urlOf(follower)},${urlOf(leader)}`, '--data-dir', join(root, name), '--run-dir', join(root, `run-${name}`),
    '--shared-dir', join(root, 'shared'), '--heartbeat-ms', '500',
  ], env);
}

async function registerHost(name: string, port: number): Promise<void> {
  const res = await fetch(`${urlOf(follower)}/api/v1/hosts`, {
    method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, agentUrl: `http://127.0.0.1:${port}`, agentToken, cpuOvercommit: 4 }),
  });
  assert.equal(res.status, 201, await res.text());
}

function track(p: DaemonProcess): DaemonProcess {
  started.push(p);
  return p;
}

async function waitState(api: NuboClient, id: string, states: readonly string[], timeoutMs = 120_000): Promise<VmDetailView> {
  let last = '';
  try {
    return await pollUntil(`VM ${id} ${states.join('|')}`, async () => {
      const vm = await api.getVm(id).catch(() => undefined);
      if (vm) last = `${vm.state} (${vm.stateReason ?? ''})`;
      return vm && states.includes(vm.state) ? vm : undefined;
    }, { timeoutMs, intervalMs: 200 });
  } catch (err) {
    throw new Error(`VM ${id} never reached ${states.join('|')}; last seen ${last}`, { cause: err });
  }
}

/** Every VM ran exactly once: running in the store, reached `running` once, one QEMU, one record on the agent. */
async function assertRanOnce(api: NuboClient, ids: readonly string[]): Promise<void> {
  const vms = [];
  for (const id of ids) vms.push(await waitState(api, id, ['running', 'failed']));
  const onAgent = await new AgentClient(`http://127.0.0.1:${agentPort}`, agentToken).list();
  for (const vm of vms) {
    const id = vm.id;
    assert.equal(vm.state, 'running', `${id}: ${vm.stateReason}`);
    assert.equal(vm.history.filter((h) => h.to === 'running').length, 1, `${id} reached running once`);
    assert.equal((await qemuPidsOf(agentVmId(id))).length, 1, `${id} has exactly one QEMU`);
    assert.equal(onAgent.filter((v) => v.id === agentVmId(id)).length, 1, `${id} is on the agent once`);
  }
}

async function exitOf(p: DaemonProcess, timeoutMs: number): Promise<number | null> {
  if (!p.alive) return p.child.exitCode;
  const code = new Promise<number | null>((resolve) => p.child.once('exit', (c) => resolve(c)));
  return Promise.race([code, sleep(timeoutMs).then(() => { throw new Error(`daemon ${p.child.pid} did not exit in ${timeoutMs} ms`); })]);
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  pg = await startPostgresCluster();
  root = await mkdtemp(join(tmpdir(), 'nubo-ha-'));
  agentPort = await freePort();
  agentToken = randomBytes(24).toString('hex');
  await writeFile(join(root, 'agent-token'), agentToken);
  const leaderPort = await freePort();
  leader = { port: leaderPort, proc: startController(leaderPort) };
  adminToken = await leader.proc.waitFor(/its token \(shown once\): (\S+)/);
  await leader.proc.waitFor(/controller is the leader/);
  const followerPort = await freePort();
  follower = { port: followerPort, proc: startController(followerPort) };
  await follower.proc.waitFor(/controller is a follower/);
  // Everything below goes through the follower: writes are forwarded to the leader.
  const api = apiOf(follower);
  // Three tiny VMs at once on a 2-core machine: overcommitted, as a lab host would be.
  await mkdir(join(root, 'shared'));
  await registerHost('h1', agentPort);
  agent = startAgent('h1', agentPort);
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  await api.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await api.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
  await api.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline });
  // One provision first puts the images in h1's cache: an image download in flight from a leader that dies fails the
  // prolog of the VMs sharing it (the agent's image cache, not the leadership: see docs/several-controllers.md, Limits).
  const warm = await api.createVm({ template: 'tiny' });
  created.push(warm.id);
  await waitState(api, warm.id, ['running']);
  await api.vmAction(warm.id, 'terminate-hard');
  await waitState(api, warm.id, ['terminated']);
});

after(async () => {
  for (const c of [leader, follower]) if (c?.proc.alive) c.proc.child.kill('SIGCONT');
  const alive = [leader, follower].find((c) => c?.proc.alive);
  if (alive) {
    const api = apiOf(alive);
    for (const vm of await api.listVms().catch(() => [])) if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    await pollUntil('VMs terminated', async () => ((await api.listVms().catch(() => [])).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  }
  await leader?.proc.stop();
  await follower?.proc.stop();
  await agent?.stop();
  await agent2?.stop();
  for (const id of created) for (const pid of await qemuPidsOf(agentVmId(id))) process.kill(pid, 'SIGTERM');
  if (process.env['NUBO_HA_LOG_DIR'] !== undefined) {
    for (const [i, p] of started.entries()) await writeFile(join(process.env['NUBO_HA_LOG_DIR'], `controller-${i}.log`), p.output.join(''));
    if (agent) await writeFile(join(process.env['NUBO_HA_LOG_DIR'], 'agent.log'), agent.output.join(''));
    if (agent2) await writeFile(join(process.env['NUBO_HA_LOG_DIR'], 'agent2.log'), agent2.output.join(''));
  }
  await pg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('a follower serves reads itself and forwards writes to the leader, naming it', async () => {
  const res = await fetch(`${urlOf(follower)}/api/v1/vms`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-nubo-leader'), urlOf(leader));
  // A bad write is refused by the leader, with the leader's error, and changes nothing.
  const before = (await apiOf(leader).listVms()).length;
  const bad = await fetch(`${urlOf(follower)}/api/v1/vms`, {
    method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ template: 'tiny', memoryMiB: -1 }),
  });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
  assert.equal((await apiOf(leader).listVms()).length, before);
});

test('leader SIGKILLed during provisions: the follower takes over and runs every VM exactly once', async () => {
  const api = apiOf(follower);
  const vms = await Promise.all([0, 1, 2].map(() => api.createVm({ template: 'tiny' })));
  created.push(...vms.map((v) => v.id));
  await sleep(400);
  const from = follower.proc.mark();
  await leader.proc.kill();
  const took = Date.now();
  await follower.proc.waitFor(/controller is the leader/, 30_000, from);
  assert.ok(Date.now() - took < 3 * LEASE_MS, 'taken over within the lease and a campaign round');
  [leader, follower] = [follower, leader];
  await assertRanOnce(apiOf(leader), vms.map((v) => v.id));
  // The killed one comes back as a follower of the new leader.
  follower.proc = startController(follower.port);
  await follower.proc.waitFor(/controller is a follower/);
});

test('leader SIGSTOPped during provisions, woken after losing the lease: it changes nothing and exits', async () => {
  const api = apiOf(leader);
  const vms = await Promise.all([0, 1].map(() => api.createVm({ template: 'tiny' })));
  created.push(...vms.map((v) => v.id));
  await sleep(400);
  const paused = leader;
  const from = follower.proc.mark();
  paused.proc.child.kill('SIGSTOP');
  await follower.proc.waitFor(/controller is the leader/, 30_000, from);
  [leader, follower] = [follower, paused];
  const newApi = apiOf(leader);
  await assertRanOnce(newApi, vms.map((v) => v.id));
  // What the store and the host hold once the new leader is done: the woken one must not change it.
  const snapshot = async (): Promise<unknown> => ({
    vms: (await Promise.all(vms.map((v) => newApi.getVm(v.id)))).map((v) => ({ id: v.id, state: v.state, host: v.host, history: v.history })),
    qemu: await Promise.all(vms.map((v) => qemuPidsOf(agentVmId(v.id)))),
  });
  const was = await snapshot();
  paused.proc.child.kill('SIGCONT');
  const code = await exitOf(paused.proc, 30_000);
  assert.equal(code, 1);
  assert.match(paused.proc.output.join(''), /leadership lost/);
  await sleep(2_000);
  assert.deepEqual(await snapshot(), was);
  // Three terms: the first leader's, the one after the kill, the one after the pause; the woken process did not take the lease back.
  const db = new PgLib.Pool({ connectionString: pg.connectionString, max: 1 });
  try {
    const { rows } = await db.query<{ term: string; url: string }>('SELECT term, url FROM controller_leadership');
    assert.deepEqual(rows.map((r) => ({ term: Number(r.term), url: r.url })), [{ term: 3, url: urlOf(leader) }]);
  } finally {
    await db.end();
  }
});

test('leader SIGKILLed in the middle of a live migration: the new leader decides it, and exactly one copy of the guest runs', async () => {
  // The controller paused in the previous case has exited; it comes back armed to die (SIGKILL, by a failpoint) when a
  // live migration enters pre-copy, and is made the leader by killing the current one while nothing is in flight.
  follower.proc = startController(follower.port, { NUBO_FAILPOINTS: 'migration.precopy=exit' });
  await follower.proc.waitFor(/controller is a follower/);
  const from = follower.proc.mark();
  await leader.proc.kill();
  await follower.proc.waitFor(/controller is the leader/, 30_000, from);
  [leader, follower] = [follower, leader];
  follower.proc = startController(follower.port);
  await follower.proc.waitFor(/controller is a follower/);
  const api = apiOf(follower);
  const agent2Port = await freePort();
  await registerHost('h2', agent2Port);
  agent2 = startAgent('h2', agent2Port);
  await pollUntil('h2 enabled', async () => ((await api.getHost('h2')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  const vm = await api.createVm({ template: 'tiny', datastore: 'shared', host: 'h1' });
  created.push(vm.id);
  const ran = await waitState(api, vm.id, ['running']);
  assert.equal(ran.host, 'h1');
  const doomed = leader;
  // The forwarded request may or may not be answered before the leader dies: the migration is looked up afterwards.
  const dying = follower.proc.mark();
  await api.migrateVm(vm.id, { to: 'h2' }).catch(() => undefined);
  assert.equal(await exitOf(doomed.proc, 120_000), null, 'the leader was killed by a signal at the failpoint');
  await follower.proc.waitFor(/controller is the leader/, 30_000, dying);
  [leader, follower] = [follower, doomed];
  const newApi = apiOf(leader);
  const migrations = await newApi.listMigrations({ vm: vm.id });
  assert.equal(migrations.length, 1, 'one migration was recorded');
  const id = migrations[0]?.id ?? '';
  const m = await pollUntil(`migration ${id} decided`, async () => {
    const x = await newApi.getMigration(id);
    return x.state === 'running' ? undefined : x;
  }, { timeoutMs: 180_000, intervalMs: 250 });
  // The destination held the complete image (shared disk, resume on completion): the commit rule rolls forward.
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  assert.ok(m.journal.some((j) => j.stage === 'precopy'), `the leader died in pre-copy: ${m.journal.map((j) => j.stage).join(' ')}`);
  const after = await waitState(newApi, vm.id, ['running']);
  assert.equal(after.host, 'h2');
  assert.equal(after.history.filter((h) => h.to === 'boot').length, 1, 'the guest was booted once, never restarted');
  const qemu = await pollUntil(`one QEMU of ${vm.id}`, async () => {
    const pids = await qemuPidsOf(agentVmId(vm.id));
    return pids.length === 1 ? pids : undefined;
  }, { timeoutMs: 30_000, intervalMs: 250 });
  assert.equal(qemu.length, 1);
  const on = async (port: number): Promise<boolean> => (await new AgentClient(`http://127.0.0.1:${port}`, agentToken).list()).some((v) => v.id === agentVmId(vm.id));
  assert.equal(await on(agentPort), false, 'the source holds nothing of the VM');
  assert.equal(await on(agent2Port), true, 'the destination holds the VM');
  // The controller that takes over next must not find anything left to do with it.
  const settled = await newApi.getMigration(id);
  assert.deepEqual({ state: settled.state, stage: settled.stage }, { state: m.state, stage: m.stage });
});

test('leader SIGKILLed while the agent is still starting its VM: the new leader\'s start joins it, one QEMU, running once', async () => {
  // The previous case's leader died at its failpoint: a follower again, so that there is someone to take over.
  follower.proc = startController(follower.port);
  await follower.proc.waitFor(/controller is a follower/);
  // h1's agent comes back (its VMs adopted) holding the next launch for 10 s once QEMU has daemonised: the leader's boot
  // step is then waiting for the agent's answer, the window in which CI saw a second QEMU launched.
  await agent.stop();
  agent = startAgent('h1', agentPort, { NUBO_FAILPOINTS: 'qemu.launched=sleep(10000)' });
  const api = apiOf(leader);
  const h1 = new AgentClient(`http://127.0.0.1:${agentPort}`, agentToken);
  await pollUntil('h1 serving again', async () => (await h1.list().then(() => true, () => undefined)), { timeoutMs: 60_000, intervalMs: 250 });
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  const vm = await api.createVm({ template: 'tiny', requirements: 'hostname == "h1"' });
  created.push(vm.id);
  // Daemonised: the pid file names the one QEMU left (before that, the launching parent carries the same argv).
  const pidFile = join(root, 'run-h1', agentVmId(vm.id), 'qemu.pid');
  const launched = await pollUntil(`QEMU of ${vm.id} launched`, async () => {
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    const pids = await qemuPidsOf(agentVmId(vm.id));
    return pid > 0 && pids.length === 1 && pids[0] === pid ? pids : undefined;
  }, { timeoutMs: 120_000, intervalMs: 100 });
  assert.equal((await api.getVm(vm.id)).state, 'boot', 'the leader is still waiting for the start');
  const from = follower.proc.mark();
  await leader.proc.kill();
  await follower.proc.waitFor(/controller is the leader/, 30_000, from);
  [leader, follower] = [follower, leader];
  await assertRanOnce(apiOf(leader), [vm.id]);
  assert.deepEqual(await qemuPidsOf(agentVmId(vm.id)), launched, 'the QEMU the dead leader\'s start launched is the one that runs');
});
