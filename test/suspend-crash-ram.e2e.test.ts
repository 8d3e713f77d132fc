import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NuboClient } from '../src/client/nubo-client.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { freshConsoleProbe } from './support/console-probes.js';
import { tinyBoot, uploadTinyImages } from './support/tiny-images.js';

// Suspend and resume with the state file of format 2 (the default: the
// guest's RAM copied by the agent's fd sender from QEMU's memfd, QEMU
// streaming only its device state; docs/suspend.md), faults at each of its
// steps: the agent SIGKILLed with the RAM copy in flight, once QEMU completed
// its device stream but before the header is written, once the file is
// committed; QEMU SIGKILLed mid-save; the RAM copy failing (the save falls back
// to format 1); the agent SIGKILLed while a resume fills the RAM, and the fill
// failing. Every time: the VM ends suspended with one whole state file (or
// runs on, never both, never a partial file taken as whole), and the resume
// brings back the same guest (its boot nonce, its uptime grown) with one QEMU.

let image: TinyImage;
let root: string;
let controllerPort: number;
let agentPort: number;
let controller: DaemonProcess;
let agent: DaemonProcess;
let api: NuboClient;
let vmId: string;
const agentTokenFile = (): string => join(root, 'agent-token');

// The guest draws a nonce at boot (kept in its memory only) and prints it with its uptime every second.
const USER_DATA = '#!/bin/sh\nhead -c 16 /dev/urandom | md5sum | cut -c1-16 > /tmp/nonce\nwhile :; do echo "PROBE $(cat /tmp/nonce) $(cut -d\' \' -f1 /proc/uptime)"; sleep 1; done\n';
interface Probe { nonce: string; uptime: number }
const probe = async (): Promise<Probe> => {
  const f = await freshConsoleProbe(api, vmId, 90_000);
  return { nonce: f[0] ?? '', uptime: Number(f[1]) };
};

function startAgent(failpoints?: string): DaemonProcess {
  return DaemonProcess.start([
    'agent', '--name', 'h1', '--listen', `127.0.0.1:${agentPort}`, '--token-file', agentTokenFile(),
    '--controller', `http://127.0.0.1:${controllerPort}`, '--data-dir', join(root, 'h1'), '--run-dir', join(root, 'run'), '--heartbeat-ms', '500',
  ], failpoints === undefined ? {} : { NUBO_FAILPOINTS: failpoints });
}

async function waitVm(states: readonly string[], timeoutMs = 180_000): Promise<VmDetailView> {
  return pollUntil(`VM ${vmId} ${states.join('|')}`, async () => {
    const vm = await api.getVm(vmId).catch(() => undefined);
    return vm && states.includes(vm.state) && (vm as { operation?: unknown }).operation == null ? vm : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

const vmDir = (): string => join(root, 'h1', 'vms', agentVmId(vmId));

/** The mode of the last `vm saved` line the agent printed since `from`. */
function savedMode(from = 0): string | undefined {
  const lines = agent.output.join('').slice(from).split('\n').filter((l) => l.includes('"msg":"vm saved"'));
  return /"mode":"(\w+)"/.exec(lines.at(-1) ?? '')?.[1];
}

/** The agent restarted (SIGKILL, then started again) with `failpoints` armed, and back in the controller's view. */
async function restartAgent(failpoints?: string): Promise<void> {
  await agent.kill();
  agent = startAgent(failpoints);
  await agent.waitFor(/agent listening/, 90_000);
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-suspend-ram-'));
  controllerPort = await freePort();
  agentPort = await freePort();
  await writeFile(agentTokenFile(), randomBytes(24).toString('hex'));
  // Heartbeats every 10 s, so 30 s of silence before a host is lost: an agent's restart (10–15 s here) is not a lost host.
  controller = DaemonProcess.start(['controller', '--listen', `127.0.0.1:${controllerPort}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '10000']);
  const token = await controller.waitFor(/its token \(shown once\): (\S+)/);
  api = new NuboClient(`http://127.0.0.1:${controllerPort}`, token);
  await api.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${agentPort}`, agentToken: await readFile(agentTokenFile(), 'utf8') });
  agent = startAgent();
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, ...tinyBoot(image) });
  vmId = (await api.createVm({ template: 'tiny', name: 'saved-ram', userData: USER_DATA })).id;
  await waitVm(['running']);
});

after(async () => {
  if (api && vmId) {
    if (!agent?.alive) agent = startAgent();
    await api.vmAction(vmId, 'terminate-hard').catch(() => {});
    await waitVm(['terminated'], 60_000).catch(() => {});
  }
  await controller?.stop();
  await agent?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** The state file's first bytes: `NUBORAM\0` for format 2, `QEVM` for QEMU's own stream. */
async function magic(): Promise<string> {
  const fh = await open(join(vmDir(), 'memory.state'), 'r');
  try {
    const b = Buffer.alloc(8);
    await fh.read(b, 0, 8, 0);
    return b.toString('latin1');
  } finally {
    await fh.close();
  }
}

const stateFiles = async (): Promise<string[]> => (await readdir(vmDir())).filter((n) => n.startsWith('memory.state'));

/** Resumed, the same guest as `p0` (nonce kept, uptime grown), one QEMU, and no state file left. */
async function resumeSameGuest(p0: Probe, from = agent.mark()): Promise<void> {
  await api.vmAction(vmId, 'resume');
  const done = await waitVm(['running', 'suspended', 'failed']);
  assert.equal(done.state, 'running', `reason: ${done.stateReason}`);
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest, restored from the file (a reboot draws another nonce)');
  assert.ok(p1.uptime > p0.uptime, `its uptime goes on: ${p0.uptime} → ${p1.uptime}`);
  assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1, 'one QEMU');
  assert.deepEqual(await stateFiles(), []);
  assert.match(agent.output.join('').slice(from), /"msg":"vm state of format 2 loaded"|"msg":"vm restored"/);
}

test('a suspend writes format 2 (a valid header, the RAM image sparse) and the resume loads it: the same guest runs on', async () => {
  const p0 = await probe();
  const from = agent.mark();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  assert.equal(savedMode(from), 'ram');
  assert.equal(await magic(), 'NUBORAM\0');
  assert.deepEqual(await stateFiles(), ['memory.state'], 'no part left');
  const at = agent.mark();
  await resumeSameGuest(p0, at);
  assert.match(agent.output.join('').slice(at), /"msg":"vm state of format 2 loaded"/);
});

for (const point of ['qemu.save.device-stream', 'qemu.save.received', 'qemu.save.written']) {
  test(`agent SIGKILLed at ${point}: once it is back the suspend finishes with one whole state file, and the resume brings back the same guest`, async () => {
    const p0 = await probe();
    const [pid] = await qemuPidsOf(agentVmId(vmId));
    assert.ok(pid);
    await restartAgent(`${point}=exit`);
    const t0 = Date.now();
    await api.vmAction(vmId, 'suspend');
    await pollUntil(`agent killed at ${point}`, () => (agent.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 20 });
    assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [pid], 'QEMU lives on without its agent');
    const files = await stateFiles();
    if (point === 'qemu.save.written') assert.ok(files.includes('memory.state'), `committed before the kill: ${files.join(' ')}`);
    else assert.ok(!files.includes('memory.state'), `nothing named the state file before its header is on the disk: ${files.join(' ')}`);
    assert.equal((await api.getVm(vmId)).state, 'saving', 'an agent that does not answer is no verdict');

    agent = startAgent();
    const done = await waitVm(['suspended', 'running', 'failed', 'unknown']);
    assert.equal(done.state, 'suspended', `reason: ${done.stateReason}`);
    assert.deepEqual(done.history.filter((h) => Date.parse(h.at) >= t0).map((h) => h.to), ['saving', 'suspended'], 'suspended once, never failed nor running in between');
    assert.deepEqual(await stateFiles(), ['memory.state'], 'the state file, no .part');
    assert.equal(await magic(), 'NUBORAM\0');
    assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [], 'no QEMU while suspended');
    await resumeSameGuest(p0);
  });
}

test('the RAM copy fails (qemu.save.ram-copy=error): the save falls back to format 1 and completes; the resume reads QEMU\'s own stream', async () => {
  const p0 = await probe();
  await restartAgent('qemu.save.ram-copy=error');
  const from = agent.mark();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  assert.match(agent.output.join('').slice(from), /"msg":"the save of format 2 failed; this save goes the way of format 1"/);
  assert.equal(savedMode(from), 'fd');
  assert.equal((await magic()).slice(0, 4), 'QEVM');
  assert.deepEqual(await stateFiles(), ['memory.state']);
  await resumeSameGuest(p0);
});

/**
 * Suspends, restarts the agent to die at `point` during the resume, checks what must outlive it (`whileDead`), starts
 * it again and asserts the resume finishes: the same guest, one QEMU, the state file removed once it runs.
 */
async function resumeSurvivesAgentKilledAt(point: string, whileDead: () => Promise<void>): Promise<void> {
  const p0 = await probe();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  await restartAgent(`${point}=exit`);
  await api.vmAction(vmId, 'resume');
  await pollUntil(`agent killed at ${point}`, () => (agent.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 20 });
  // Its last lines (what it logged just before the failpoint) may still be in the pipe when its exit is seen.
  await agent.outputRead();
  await resumeFinishesOnceBack(p0, whileDead);
}

/** The agent is dead mid-resume: the state file is kept, and once it is back the same guest runs in one QEMU. */
async function resumeFinishesOnceBack(p0: Awaited<ReturnType<typeof probe>>, whileDead: () => Promise<void>): Promise<void> {
  await whileDead();
  assert.deepEqual(await stateFiles(), ['memory.state'], 'the state file is kept until the VM runs');
  agent = startAgent();
  const done = await waitVm(['running', 'suspended', 'failed', 'unknown']);
  assert.equal(done.state, 'running', `reason: ${done.stateReason}`);
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest');
  assert.ok(p1.uptime > p0.uptime);
  assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1, 'one QEMU');
  await pollUntil('state file removed', async () => ((await stateFiles()).length === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
}

test('agent SIGKILLed while a resume fills the RAM (qemu.restore.ram-fill): the file is kept, and once the agent is back the resume finishes', async () => {
  await resumeSurvivesAgentKilledAt('qemu.restore.ram-fill', async () => {});
});

test('agent SIGKILLed while the device stream\'s hand-over waits for the fill (QEMU holds the file, the fill held back): once back, the resume finishes', async () => {
  const p0 = await probe();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  await restartAgent('qemu.restore.ram-fill=sleep(10000)');
  await api.vmAction(vmId, 'resume');
  const statePath = join(vmDir(), 'memory.state');
  // The sender handed QEMU the state file (getfd) as soon as QEMU was up, and waits for the fill to run migrate-incoming.
  await pollUntil('the restoring QEMU holding the state file', async () => {
    for (const pid of await qemuPidsOf(agentVmId(vmId))) {
      for (const n of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) if ((await readlink(`/proc/${pid}/fd/${n}`).catch(() => '')) === statePath) return true;
    }
    return undefined;
    // Well within the fill's hold: a hand-over made only after the fill would not be seen.
  }, { timeoutMs: 8_000, intervalMs: 20 });
  await agent.kill();
  await resumeFinishesOnceBack(p0, async () => {
    assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1, 'the restoring QEMU outlives its agent');
  });
});

test('agent SIGKILLed once the restoring QEMU runs but waits for its RAM (qemu.restore): once back, the resume finishes with one QEMU, the same guest', async () => {
  await resumeSurvivesAgentKilledAt('qemu.restore', async () => {
    assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1, 'the restoring QEMU outlives its agent');
  });
});

test('agent SIGKILLed once the whole state is loaded but before the guest runs (qemu.restore.loaded): once back, the start runs the loaded QEMU, the same guest', async () => {
  await resumeSurvivesAgentKilledAt('qemu.restore.loaded', async () => {
    assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1, 'the loaded QEMU outlives its agent');
    assert.match(agent.output.join(''), /"msg":"vm state of format 2 loaded"/, 'the agent died after the load');
  });
  assert.match(agent.output.join(''), /the restore of a VM whose agent died before it ran the guest is finished/);
});

test('the fill fails (qemu.restore.ram-fill=error): the resume fails cleanly, the file is kept, and a second resume brings back the same guest', async () => {
  const p0 = await probe();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  await restartAgent('qemu.restore.ram-fill=error');
  await api.vmAction(vmId, 'resume');
  const failed = await waitVm(['suspended', 'running', 'failed', 'unknown']);
  assert.equal(failed.state, 'suspended', `back to suspended: ${failed.stateReason}`);
  assert.match(failed.stateReason ?? '', /qemu\.restore\.ram-fill|failpoint/);
  assert.deepEqual(await stateFiles(), ['memory.state'], 'the state file is kept');
  assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [], 'no QEMU left of the failed resume');
  await resumeSameGuest(p0);
});

test('QEMU SIGKILLed mid-save (held at qemu.save.device-stream, the RAM copy in flight): the suspend fails, nothing half-saved is named the state file', async () => {
  const [pid] = await qemuPidsOf(agentVmId(vmId));
  assert.ok(pid);
  await restartAgent('qemu.save.device-stream=sleep(3000)');
  await api.vmAction(vmId, 'suspend');
  await pollUntil('the save\'s part file', async () => ((await readdir(vmDir())).some((n) => n.endsWith('.part')) ? true : undefined), { timeoutMs: 60_000, intervalMs: 20 });
  process.kill(pid, 'SIGKILL');
  const done = await waitVm(['suspended', 'running', 'failed', 'poweroff', 'unknown']);
  assert.notEqual(done.state, 'suspended', 'no suspend without QEMU\'s device state');
  assert.deepEqual(await stateFiles(), [], 'neither memory.state nor its part');
  assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), []);
});
