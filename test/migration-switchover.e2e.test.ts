import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import { isQemuOf } from '../src/hypervisor/qemu/qemu-process.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { httpGet } from './support/http-get.js';
import { MigrationLab } from './support/migration-lab.js';
import { terminateEverywhere } from './support/terminate-everywhere.js';

/**
 * Resume on completion (issue 12, item 1): on shared storage the destination
 * QEMU runs the guest the moment its incoming stream completes, before the
 * controller journals or commits anything; the source that completed never
 * runs again. Faults at the new commit point — the destination's agent away
 * across the completion, the source's agent killed after it, the
 * destination's QEMU killed after it — each end with exactly one running copy
 * (none only when the destination QEMU itself died), a decided record and no
 * reservation left. The controller killed before it learns of the completion
 * is in migration-crash.e2e (it needs a controller process to kill).
 */

const lab = new MigrationLab();

before(() => lab.start(2));
after(() => lab.stop());

async function answers(ip: string, path: string, timeoutMs: number): Promise<boolean> {
  return httpGet(`http://${ip}${path}`, timeoutMs).then((r) => r.status === 200, () => false);
}

test('the destination runs the guest before the controller journals the switch; without resume on completion it waits paused', async () => {
  const { vm, ip } = await lab.bootVm('sw-first', 1, 'shared');
  const before = await lab.facts(ip);
  let ranBeforeCommit: boolean | undefined;
  let hostAtStop: string | null | undefined;
  lab.failpoints.arm('migration.stop-and-copy', async () => {
    hostAtStop = (await lab.api.getVm(vm.id)).host;
    // The controller is held here, before `transferred`, the commit and `activate`: only a destination that started itself answers.
    ranBeforeCommit = await pollUntil('the guest to answer', async () => ((await answers(ip, '/cgi-bin/uptime', 1_000)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }).catch(() => false);
  });
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  assert.equal(hostAtStop, lab.host(1).name, 'not committed yet when the guest was asked');
  assert.equal(ranBeforeCommit, true, 'the guest answered from the destination before the commit');
  assert.equal(m.journal.find((j) => j.stage === 'prepared')?.data?.['resumeOnCompletion'], true);
  await lab.assertOneCopy(vm.id, 2);
  const mid = await lab.facts(ip);
  assert.ok(mid.uptime > before.uptime, 'no reboot');
  assert.equal(mid.sum, before.sum);

  // The controller's switch-over (policy resumeOnCompletion false): the guest stays paused while the controller is held.
  let ranBeforeCommitOld: boolean | undefined;
  lab.failpoints.arm('migration.stop-and-copy', async () => {
    ranBeforeCommitOld = await answers(ip, '/cgi-bin/uptime', 2_000);
  });
  const back = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(1).name, policy: { resumeOnCompletion: false } })).id);
  assert.equal(back.state, 'succeeded', `${back.reason}`);
  assert.equal(ranBeforeCommitOld, false, 'without resume on completion nothing runs the guest before activation');
  assert.equal(back.journal.find((j) => j.stage === 'prepared')?.data?.['resumeOnCompletion'], false);
  await lab.assertOneCopy(vm.id, 1);
  await terminateEverywhere(lab, vm.id);
});

test('destination agent killed before the completion → its QEMU runs the guest anyway; rolled forward once the agent is back', async () => {
  const { vm, ip } = await lab.bootVm('sw-dagent', 1, 'shared');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.precopy', () => lab.killAgent(2));
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name });
  // Nobody on the destination host can `cont`: the guest answers because QEMU started it itself at completion.
  await pollUntil('the guest to run on the destination', async () => ((await answers(ip, '/cgi-bin/uptime', 1_000)) ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
  assert.equal((await lab.api.getMigration(started.id)).state, 'running', 'undecided while the destination cannot be asked');
  await lab.agentsUp(lab.hosts.length);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  assert.ok(['activated', 'cleaned'].includes(m.stage), m.journal.map((j) => j.stage).join(' '));
  await lab.assertOneCopy(vm.id, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});

test('destination agent killed right after the completion → rolled forward once it is back; the source never resumed', async () => {
  const { vm, ip } = await lab.bootVm('sw-dagent2', 1, 'shared');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.stop-and-copy', () => lab.killAgent(2));
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name });
  await pollUntil('the guest to run on the destination', async () => ((await answers(ip, '/cgi-bin/uptime', 1_000)) ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal((await lab.api.getMigration(started.id)).state, 'running', 'undecided while the destination cannot be asked');
  await lab.agentsUp(lab.hosts.length);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  await lab.assertOneCopy(vm.id, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});

test('source agent killed after the completion → succeeded on the destination; the source copy is released once its agent is back', async () => {
  const { vm, ip } = await lab.bootVm('sw-sagent', 1, 'shared');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.stop-and-copy', () => lab.killAgent(1));
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  assert.equal(m.stats['sourceReleased'], false, 'the source could not be released while its agent was away');
  await lab.agentsUp(lab.hosts.length);
  const done = await pollUntil('the record to say the source was released', async () => {
    const r = await lab.api.getMigration(m.id);
    return r.stats['sourceReleased'] === true ? r : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });
  assert.equal(done.stage, 'cleaned', done.journal.map((j) => j.stage).join(' '));
  await lab.assertOneCopy(vm.id, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});

test('destination QEMU killed after the completion → failed and lost: the completed source is never resumed', async () => {
  const { vm, ip } = await lab.bootVm('sw-dqemu', 1, 'shared');
  lab.failpoints.arm('migration.stop-and-copy', async () => {
    const pid = await lab.qemuPid(2, vm.id);
    assert.ok(pid !== undefined, 'the destination QEMU runs');
    process.kill(pid, 'SIGKILL');
  });
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'failed', `${m.reason}`);
  assert.match(m.reason ?? '', /on its own/);
  assert.ok(!m.journal.some((j) => j.stage === 'aborting' || j.stage === 'reverted'), m.journal.map((j) => j.stage).join(' '));
  const failed = await lab.waitState(vm.id, 'failed');
  // Two outcomes are right, told by whether the controller committed before it saw the destination die
  // (decide-migration's `PRE … dead → lost` and `after … dead → lost` rows): uncommitted, the VM stays bound to
  // its source, whose QEMU is kept (recover starts from what that host holds); committed, it is bound to the
  // destination, and the source's paused copy is a leftover its host's next heartbeat may release. Either way its
  // vCPUs never ran again: the guest is silent.
  const pid = await lab.qemuPid(1, vm.id);
  if (failed.host === lab.host(1).name) {
    assert.ok(pid !== undefined && (await isQemuOf(pid, agentVmId(vm.id))), 'the source QEMU is kept, paused');
  } else {
    assert.equal(failed.host, lab.host(2).name, 'a lost VM stays bound to one of its two hosts');
  }
  for (let i = 0; i < 3; i++) {
    assert.equal(await answers(ip, '/cgi-bin/uptime', 1_000), false, 'no copy runs the guest');
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal((await lab.api.getMigration(m.id)).state, 'failed');
  await terminateEverywhere(lab, vm.id);
});
