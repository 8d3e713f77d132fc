/**
 * Hybrid cloud (issue 18) with real guests: the two-nubo set-up of
 * test/support/hybrid-clouds.ts with one real QEMU agent a site (TCG, the
 * 128 MiB nubo-tiny guest) instead of the fake fleets, so what is checked is
 * that a guest actually boots on the other site, not only that the control
 * plane agrees. One guest at a time, no lab.
 *
 * Covered: a VM that asks for the cloud `burst-1` launches there, the
 * remote's QEMU boots it and its console (EC2 GetConsoleOutput through the
 * AWS SDK) shows NUBO-READY and the output of the VM's user data (the context
 * carried across); poweroff → the instance stopped and no QEMU process left
 * for it on the remote, start → running and booted again, terminate → gone on
 * both sites. A powered-off local VM with a pattern written into its disk
 * migrates to the cloud with `--start` and boots there, then back to the
 * local host where it boots again: the written region's digest the same on
 * every copy of the disk (the out leg needs the guest's kernel and initrd on
 * the cloud: registered with those of the AMI its image maps to).
 *
 * The guest's hostname there is the one its cloud gives it (the remote VM's
 * name): the local name travels as the instance's Name tag, which EC2 — and
 * nubo's EC2 API — does not make a hostname.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GetConsoleOutputCommand } from '@aws-sdk/client-ec2';
import type { NuboClient } from '../src/client/nubo-client.js';
import type { CloudMigrationView } from '../src/contract/migration-schemas.js';
import type { VmView } from '../src/contract/vm-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { HybridClouds } from './support/hybrid-clouds.js';

const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const WAIT = { timeoutMs: 180_000, intervalMs: 250 };
/** Where the test writes into a disk: the last 64 KiB of the 64 MiB tiny disk, past what the guest's ext4 uses at boot. */
const REGION = { offset: 64 * 1024 * 1024 - 65_536, length: 65_536 };

let root: string;
let h: HybridClouds;
const lApi = (): NuboClient => h.localApi;

async function vmIn(id: string, states: readonly string[], what: string): Promise<VmView> {
  return pollUntil(`${what} ${states.join('|')}`, async () => {
    const v = await lApi().getVm(id).catch(() => undefined);
    if (v?.state === 'failed') throw new Error(`${what} failed: ${v.stateReason ?? ''}`);
    return v !== undefined && states.includes(v.state) ? v : undefined;
  }, WAIT);
}

/** The VM's one live remote instance (none terminated counted). */
async function liveInstance(vmId: string): Promise<{ id: string; state: string } | undefined> {
  const live = await h.instancesOf(vmId, { live: true });
  assert.ok(live.length <= 1, `at most one live instance: ${JSON.stringify(live)}`);
  return live[0];
}

async function remoteStateIs(vmId: string, state: string): Promise<void> {
  await pollUntil(`the remote instance ${state}`, async () => ((await h.instancesOf(vmId)).some((i) => i.state === state) ? true : undefined), WAIT);
}

/** The remote's console of an instance (GetConsoleOutput) once `re` matches it: the match. */
async function remoteConsole(instanceId: string, re: RegExp): Promise<RegExpExecArray> {
  let last = '';
  try {
    return await pollUntil(`the remote console of ${instanceId} showing ${re}`, async () => {
      const out = await h.ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
      last = Buffer.from(out.Output ?? '', 'base64').toString('utf8');
      return re.exec(last) ?? undefined;
    }, { timeoutMs: 150_000, intervalMs: 1_000 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; console so far:\n${last.slice(-2000)}`, { cause: err });
  }
}

/** The remote's (one) live VM: the instance's own record on the remote site. */
async function remoteVm(): Promise<VmView> {
  const live = (await h.remoteApi.listVms()).filter((v) => v.state !== 'terminated');
  assert.equal(live.length, 1, `one live VM on the remote: ${JSON.stringify(live.map((v) => [v.name, v.state]))}`);
  return live[0]!;
}

/** Whether a QEMU process runs for the agent's VM `id` (its pid file, and a live process of that pid that is QEMU). */
async function qemuRunning(agent: string, id: string): Promise<boolean> {
  const pid = Number((await readFile(join(h.agentRunDir(agent), agentVmId(id), 'qemu.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('qemu-system');
}

const diskOf = (agent: string, id: string): string => join(h.agentDir(agent), 'vms', agentVmId(id), 'disk.qcow2');

/** The sha256 of the guest-visible bytes of REGION of a qcow2 disk (overlay and base together). */
async function regionDigest(disk: string): Promise<string> {
  const raw = join(root, `region-${Date.now()}-${Math.random().toString(16).slice(2)}.raw`);
  try {
    await runCommand('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', disk, raw], { timeoutMs: 60_000 });
    const f = await open(raw, 'r');
    try {
      const bytes = Buffer.alloc(REGION.length);
      const { bytesRead } = await f.read(bytes, 0, REGION.length, REGION.offset);
      assert.equal(bytesRead, REGION.length);
      return createHash('sha256').update(bytes).digest('hex');
    } finally {
      await f.close();
    }
  } finally {
    await rm(raw, { force: true });
  }
}

async function migrationEnded(id: string): Promise<CloudMigrationView> {
  return pollUntil(`the cloud migration of ${id} to end`, async () => {
    const m = await lApi().getCloudMigration(id).catch(() => undefined);
    return m !== undefined && (m.step === 'done' || m.step === 'failed') ? m : undefined;
  }, WAIT);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-hqemu-'));
  h = await HybridClouds.start({ root, localCpus: 1, logger, qemu: true, localArgs: ['--cloud-poll-ms', '500', '--cloud-backoff-ms', '3000'] });
  await lApi().addCloud(h.cloudBody());
});

after(async () => {
  await h?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

test('a VM that asks for the cloud boots there for real: its console shows NUBO-READY and its user data; poweroff ends its QEMU there, start boots it again, terminate ends it on both sites', async () => {
  // Printed by the guest from its user data on every boot: its hostname and the kernel's id of that boot.
  const userData = '#!/bin/sh\necho "BURST-USER-DATA host=$(hostname) boot=$(cat /proc/sys/kernel/random/boot_id)"\n';
  const made = await lApi().createVm({ template: 'cloudy', name: 'burst-q', userData });
  const running = await vmIn(made.id, ['running'], 'burst-q');
  assert.equal(running.host, null, 'on no local host');
  assert.equal(await qemuRunning('l1', made.id), false, 'no local QEMU for it');
  const inst = await liveInstance(made.id);
  assert.ok(inst, 'one remote instance');
  const rvm = await remoteVm();
  const printed = /^NUBO-READY \S+\r?\n[\s\S]*^BURST-USER-DATA host=(\S+) boot=([0-9a-f-]{36})/m;
  const first = await remoteConsole(inst.id, printed);
  // The remote nubo names the guest after its own VM (EC2's Name tag is a tag, not a hostname).
  assert.equal(first[1], rvm.name, 'the guest has the hostname its cloud gave it');
  assert.equal(rvm.state, 'running');
  assert.equal(await qemuRunning('r1', rvm.id), true, 'the remote\'s QEMU runs the guest');

  await lApi().vmAction(made.id, 'poweroff');
  await vmIn(made.id, ['poweroff'], 'burst-q');
  await remoteStateIs(made.id, 'stopped');
  await pollUntil('no QEMU for it on the remote', async () => (!(await qemuRunning('r1', rvm.id)) ? true : undefined), WAIT);
  assert.equal((await h.remoteApi.getVm(rvm.id)).state, 'poweroff');

  await lApi().vmAction(made.id, 'start');
  await vmIn(made.id, ['running'], 'burst-q');
  await remoteStateIs(made.id, 'running');
  assert.equal((await liveInstance(made.id))?.id, inst.id, 'the same instance, started again');
  const again = await remoteConsole(inst.id, new RegExp(`^BURST-USER-DATA host=${rvm.name} boot=(?!${first[2]!})[0-9a-f-]{36}`, 'm'));
  assert.ok(again, 'booted again (a new boot id), the user data run again');
  assert.equal(await qemuRunning('r1', rvm.id), true);

  await lApi().vmAction(made.id, 'terminate');
  await vmIn(made.id, ['terminated'], 'burst-q');
  await remoteStateIs(made.id, 'terminated');
  assert.equal(await liveInstance(made.id), undefined);
  await pollUntil('the remote VM terminated', async () => ((await h.remoteApi.getVm(rvm.id)).state === 'terminated' ? true : undefined), WAIT);
  assert.equal(await qemuRunning('r1', rvm.id), false, 'no QEMU left on the remote');
  assert.equal((await lApi().getCloud('burst-1')).vms, 0, 'its place on the cloud given back');
});

test('cold migration with a real disk: out to the cloud with --start (boots there), back to the local host (boots again), the written region the same on every copy', async () => {
  const made = await lApi().createVm({ template: 'small', name: 'mig-q' });
  const here = await vmIn(made.id, ['running'], 'mig-q');
  assert.equal(here.host, 'l1');
  await lApi().vmAction(made.id, 'poweroff');
  await vmIn(made.id, ['poweroff'], 'mig-q');
  assert.equal(await qemuRunning('l1', made.id), false);
  // Powered off, nothing holds the disk: written as the guest would have.
  await runCommand('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${REGION.offset} ${REGION.length}`, diskOf('l1', made.id)], { timeoutMs: 30_000 });
  const digest = await regionDigest(diskOf('l1', made.id));

  await lApi().migrateVmCloud(made.id, { cloud: 'burst-1', start: true });
  const out = await migrationEnded(made.id);
  assert.equal(out.step, 'done', out.error ?? '');
  const there = await vmIn(made.id, ['running'], 'mig-q');
  assert.equal(there.host, null);
  const inst = await liveInstance(made.id);
  assert.ok(inst);
  assert.equal(inst.state, 'running');
  await remoteConsole(inst.id, /^NUBO-READY \S+/m);
  const rvm = await remoteVm();
  assert.equal(await qemuRunning('r1', rvm.id), true, 'booted by the remote\'s QEMU');
  assert.equal(await qemuRunning('l1', made.id), false);

  await lApi().vmAction(made.id, 'poweroff');
  await vmIn(made.id, ['poweroff'], 'mig-q');
  await remoteStateIs(made.id, 'stopped');
  await pollUntil('no QEMU for it on the remote', async () => (!(await qemuRunning('r1', rvm.id)) ? true : undefined), WAIT);
  assert.equal(await regionDigest(diskOf('r1', rvm.id)), digest, 'the remote copy holds what was written');

  await lApi().migrateVmCloud(made.id, { cloud: 'local', start: true });
  const back = await migrationEnded(made.id);
  assert.equal(back.step, 'done', back.error ?? '');
  const home = await vmIn(made.id, ['running'], 'mig-q');
  assert.equal(home.host, 'l1');
  await pollUntil('NUBO-READY on the local console', async () => (/^NUBO-READY \S+/m.test(await lApi().vmConsole(made.id)) ? true : undefined), { timeoutMs: 150_000, intervalMs: 1_000 });
  assert.equal(await qemuRunning('l1', made.id), true, 'booted by the local QEMU');
  assert.equal(await liveInstance(made.id), undefined, 'the remote copy ended');
  assert.equal((await lApi().getCloud('burst-1')).vms, 0);

  await lApi().vmAction(made.id, 'poweroff');
  await vmIn(made.id, ['poweroff'], 'mig-q');
  assert.equal(await regionDigest(diskOf('l1', made.id)), digest, 'back home with the same bytes');
  await lApi().vmAction(made.id, 'terminate');
  await vmIn(made.id, ['terminated'], 'mig-q');
});
