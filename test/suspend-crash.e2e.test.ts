import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

// A suspend whose agent dies while QEMU streams the VM's memory into the state
// file, once QEMU completed but before the file is durable, once the file is
// whole but QEMU not yet ended, and once everything is done but the answer
// (agent failpoints, `exit`: a SIGKILL of the agent process). QEMU and its
// writer outlive the agent; the controller waits for the agent (no answer is
// no verdict) and asks again once it is back. The retried save must end the VM
// `suspended` with a whole state file — never from a partial one: committed
// only when QEMU completed and its writer exited 0 — and the resume must bring
// back the same guest (the nonce it drew at boot, its uptime grown), with one
// QEMU. And a retry that finds the VM stopped by the dead agent's save and
// then fails must run it again.
//
// Format 1 here (the agent runs `--save-format qemu`: QEMU's whole stream; format 2,
// the default, is test/suspend-crash-ram.e2e.test.ts). Saves go the fd way (QEMU writes the state file itself, handed it by the
// agent's python3 fd sender over the VM's fdpass.sock monitor): the retry
// commits a part on QEMU's `completed` alone. And the fd sender failing —
// killed before a request (replaced, the save stays in fd mode) or hung in
// one (killed at its timeout, the save falls back to the exec: dd writer) —
// never fails a save.

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
    '--save-format', 'qemu',
  ], failpoints === undefined ? {} : { NUBO_FAILPOINTS: failpoints });
}

async function waitVm(states: readonly string[], timeoutMs = 180_000): Promise<VmDetailView> {
  return pollUntil(`VM ${vmId} ${states.join('|')}`, async () => {
    const vm = await api.getVm(vmId).catch(() => undefined);
    return vm && states.includes(vm.state) && (vm as { operation?: unknown }).operation == null ? vm : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

const vmDir = (): string => join(root, 'h1', 'vms', agentVmId(vmId));

/** The agent's fd sender (its python3 child), if it runs. */
async function fdSenderPid(): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) (\S) (\d+) /.exec(stat);
    if (m && m[1] === 'python3' && m[2] !== 'Z' && Number(m[3]) === agent.child.pid) return Number(name);
  }
  return undefined;
}

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
  root = await mkdtemp(join(tmpdir(), 'nubo-suspend-crash-'));
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
  vmId = (await api.createVm({ template: 'tiny', name: 'saved', userData: USER_DATA })).id;
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

test('a failed stream (failpoint error mid-stream) fails the suspend cleanly: the VM runs on, the same guest, and no state file is left', async () => {
  const p0 = await probe();
  await restartAgent('qemu.save.streaming=error');
  const t0 = Date.now();
  await api.vmAction(vmId, 'suspend');
  const back = await waitVm(['running', 'suspended', 'failed']);
  assert.equal(back.state, 'running', `reason: ${back.stateReason}`);
  assert.match(back.stateReason ?? '', /save/);
  assert.equal(back.history.filter((h) => Date.parse(h.at) >= t0 && h.to === 'suspended').length, 0);
  assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), [], 'neither memory.state nor its .part');
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest runs on');
  assert.ok(p1.uptime > p0.uptime);
  assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1);
});

test('a retried save that finds the VM paused (its agent died after stopping it) and fails runs the VM again: the controller holds it running', async () => {
  const p0 = await probe();
  const [pid] = await qemuPidsOf(agentVmId(vmId));
  await restartAgent('qemu.save=exit');
  const t0 = Date.now();
  await api.vmAction(vmId, 'suspend');
  await pollUntil('agent killed at qemu.save', () => (agent.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 20 });
  assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [pid], 'QEMU lives on, stopped, without its agent');
  // The retry finds QEMU paused, not running; its save fails mid-stream.
  agent = startAgent('qemu.save.streaming=error');
  await agent.waitFor(/agent listening/, 90_000);
  const back = await waitVm(['running', 'suspended', 'failed']);
  assert.equal(back.state, 'running', `reason: ${back.stateReason}`);
  assert.equal(back.history.filter((h) => Date.parse(h.at) >= t0 && h.to === 'suspended').length, 0);
  assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), [], 'no state file, no part or rc file');
  // A paused guest prints nothing: a fresh probe proves it runs.
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest runs on');
  assert.ok(p1.uptime > p0.uptime);
  assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [pid], 'the same QEMU');
  await restartAgent();
});

for (const point of ['qemu.save.streaming', 'qemu.save.received', 'qemu.save.written', 'qemu.save.ended']) {
  test(`agent SIGKILLed at ${point}: once it is back the suspend finishes from a whole state file, and the resume brings back the same guest`, async () => {
    const p0 = await probe();
    const [pid] = await qemuPidsOf(agentVmId(vmId));
    assert.ok(pid);
    await restartAgent(`${point}=exit`);
    const t0 = Date.now();
    await api.vmAction(vmId, 'suspend');
    await pollUntil(`agent killed at ${point}`, () => (agent.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 20 });
    // QEMU outlives its agent, and nothing names a partial file as the saved state.
    const files = await readdir(vmDir());
    if (point !== 'qemu.save.ended' && point !== 'qemu.save.written') assert.ok(files.some((n) => /^memory\.state\.[0-9a-f]+\.part$/.test(n)) && !files.some((n) => n.endsWith('.rc')), `fd mode: a part, no writer's rc file: ${files.join(' ')}`);
    if (point === 'qemu.save.ended') {
      assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [], 'the save had ended QEMU');
      assert.ok(files.includes('memory.state'));
    } else {
      assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [pid], 'QEMU lives on without its agent');
      if (point !== 'qemu.save.written') assert.ok(!files.includes('memory.state'), `no memory.state before it is durable: ${files.join(' ')}`);
    }
    const meanwhile = await api.getVm(vmId);
    assert.equal(meanwhile.state, 'saving', 'an agent that does not answer is no verdict: the suspend waits for it');

    agent = startAgent();
    const done = await waitVm(['suspended', 'running', 'failed', 'unknown']);
    assert.equal(done.state, 'suspended', `reason: ${done.stateReason}\nagent:\n${agent.output.join('').split('\n').filter((l) => l.includes(agentVmId(vmId))).slice(-10).join('\n')}`);
    const since = done.history.filter((h) => Date.parse(h.at) >= t0).map((h) => h.to);
    assert.deepEqual(since, ['saving', 'suspended'], 'suspended once, never failed nor running in between');
    assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), ['memory.state'], 'the state file, no .part');
    assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), [], 'no QEMU while suspended');
    if (point === 'qemu.save.streaming' || point === 'qemu.save.received') {
      // QEMU went on writing without the agent (fd mode: QEMU is the writer): the retry committed its whole file on
      // QEMU's `completed` alone instead of saving again.
      assert.match(agent.output.join(''), /"mode":"fd"[^\n]*"msg":"an interrupted save had streamed all of its state/);
    }

    await api.vmAction(vmId, 'resume');
    assert.equal((await waitVm(['running', 'suspended', 'failed'])).state, 'running');
    const p1 = await probe();
    assert.equal(p1.nonce, p0.nonce, 'the same guest, restored from the file (a reboot draws another nonce)');
    assert.ok(p1.uptime > p0.uptime, `its uptime goes on: ${p0.uptime} → ${p1.uptime}`);
    assert.equal((await qemuPidsOf(agentVmId(vmId))).length, 1, 'one QEMU');
    // Nothing of the earlier save is left behind for a later one to mistake.
    assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), []);
  });
}

for (const [point, what] of [
  ['qemu.restored', 'once the restored guest runs but before its state file is removed'],
  ['qemu.restore.loaded', 'once the whole state is loaded but before the guest runs (no `cont` yet)'],
] as const) test(`agent SIGKILLed ${what} (${point}): once back, the VM runs on in the same QEMU, the same guest, and the stale file is gone`, async () => {
  const p0 = await probe();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  await restartAgent(`${point}=exit`);
  await api.vmAction(vmId, 'resume');
  await pollUntil(`agent killed at ${point}`, () => (agent.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 20 });
  const pids = await qemuPidsOf(agentVmId(vmId));
  assert.equal(pids.length, 1, 'the restored QEMU lives on without its agent');
  assert.ok((await readdir(vmDir())).includes('memory.state'), 'killed before the file was removed');

  agent = startAgent();
  const done = await waitVm(['running', 'suspended', 'failed', 'unknown']);
  assert.equal(done.state, 'running', `reason: ${done.stateReason}`);
  // Left behind, the file would make the VM `suspended` again once it is off, and a start would bring back old memory.
  await pollUntil('stale state file removed', async () => ((await readdir(vmDir())).includes('memory.state') ? undefined : true), { timeoutMs: 30_000, intervalMs: 100 });
  assert.deepEqual(await qemuPidsOf(agentVmId(vmId)), pids, 'the same QEMU, not a second restore');
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest');
  assert.ok(p1.uptime >= p0.uptime, `its uptime goes on: ${p0.uptime} → ${p1.uptime}`);
});

/**
 * A restarted agent whose saves wait 3 s at `qemu.save.fd-send`, and a suspend asked of it, held there: the fd sender's
 * pid (started with the agent: its adoption warms it up) and where the agent's output stood before the suspend. The
 * part file is made just before the failpoint, so its appearance tells the hold.
 */
async function suspendHeldAtFdSend(): Promise<{ sender: number; from: number }> {
  await restartAgent('qemu.save.fd-send=sleep(3000)');
  const sender = Number(await agent.waitFor(/"senderPid":(\d+)[^\n]*"msg":"fd sender started"/, 60_000));
  const from = agent.mark();
  await api.vmAction(vmId, 'suspend');
  await pollUntil('the save\'s part file', async () => ((await readdir(vmDir())).some((n) => n.endsWith('.part')) ? true : undefined), { timeoutMs: 60_000, intervalMs: 20 });
  return { sender, from };
}

test('the fd sender SIGKILLed before it is asked: the next request starts a new one, and the save stays in fd mode', async () => {
  const p0 = await probe();
  // Held at the failpoint (3 s) before its request — the part is made just before it — and killed there.
  const { sender: first, from } = await suspendHeldAtFdSend();
  assert.equal(await fdSenderPid(), first);
  process.kill(first, 'SIGKILL');
  const done = await waitVm(['suspended', 'running', 'failed']);
  assert.equal(done.state, 'suspended', `reason: ${done.stateReason}`);
  assert.equal(savedMode(from), 'fd');
  const second = await fdSenderPid();
  assert.ok(second !== undefined && second !== first, 'a new sender');
  assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), ['memory.state']);
  await api.vmAction(vmId, 'resume');
  assert.equal((await waitVm(['running', 'suspended', 'failed'])).state, 'running');
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest');
});

test('the fd sender hung mid-request (stopped): killed at its timeout, the save falls back to the exec: writer and completes; the next save is fd again', async () => {
  const p0 = await probe();
  const { sender: hung, from } = await suspendHeldAtFdSend();
  // Stopped while the save is held at the failpoint (3 s; the part is made just before it): the request then goes to a child that never answers.
  process.kill(hung, 'SIGSTOP');
  const done = await waitVm(['suspended', 'running', 'failed']);
  assert.equal(done.state, 'suspended', `reason: ${done.stateReason}`);
  const out = agent.output.join('').slice(from);
  assert.match(out, /"msg":"the fd sender could not hand QEMU the state file; this save goes through the exec: writer"/);
  assert.equal(savedMode(from), 'exec');
  assert.ok((await fdSenderPid()) !== hung, 'the hung sender was ended');
  assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), ['memory.state'], 'the state file, no part or rc file');
  await api.vmAction(vmId, 'resume');
  assert.equal((await waitVm(['running', 'suspended', 'failed'])).state, 'running');
  const p1 = await probe();
  assert.equal(p1.nonce, p0.nonce, 'the same guest, from the exec-written file');
  assert.ok(p1.uptime > p0.uptime);
  // The next save starts a new sender and goes the fd way again.
  const again = agent.mark();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  assert.equal(savedMode(again), 'fd');
  await api.vmAction(vmId, 'resume');
  assert.equal((await waitVm(['running', 'suspended', 'failed'])).state, 'running');
  assert.equal((await probe()).nonce, p0.nonce);
});

test('a QEMU without the fd-passing monitor (started by an older agent) is saved through the exec: writer', async () => {
  const p0 = await probe();
  // As if launched before fdpass.sock existed: the agent finds no such socket in the VM's run directory.
  await rm(join(root, 'run', agentVmId(vmId), 'fdpass.sock'));
  const from = agent.mark();
  await api.vmAction(vmId, 'suspend');
  assert.equal((await waitVm(['suspended', 'running', 'failed'])).state, 'suspended');
  assert.equal(savedMode(from), 'exec');
  assert.doesNotMatch(agent.output.join('').slice(from), /the fd sender could not hand QEMU/, 'not a fallback: exec chosen up front');
  assert.deepEqual((await readdir(vmDir())).filter((n) => n.startsWith('memory.state')), ['memory.state'], 'no part or rc file');
  await api.vmAction(vmId, 'resume');
  assert.equal((await waitVm(['running', 'suspended', 'failed'])).state, 'running');
  assert.equal((await probe()).nonce, p0.nonce, 'the same guest');
});
