import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MigrationLab } from './support/migration-lab.js';
import { terminateEverywhere } from './support/terminate-everywhere.js';

/**
 * Faults at the steps of a live migration that migration-faults,
 * migration-crash and migration-recovery do not reach (the controller's
 * failpoint `migration.<stage>` fires right after the stage is journalled):
 * the destination prepared, the disks being mirrored, the source stopped for
 * its last pass. Each ends with one copy, on the source, with the guest's
 * uptime and data, and a record in its final stage.
 */

const lab = new MigrationLab();
// Slow enough that the mirror is still copying when the fault lands.
const SLOW = { maxBandwidthMiBps: 2 };

before(() => lab.start(2));
after(() => lab.stop());

async function qemuKiller(i: number, vmId: string): Promise<void> {
  const pid = await lab.qemuPid(i, vmId);
  assert.ok(pid !== undefined, `host ${i} runs the VM's QEMU`);
  process.kill(pid, 'SIGKILL');
}

test('source agent killed once the destination is prepared → the destination is dropped; the VM stays on its source', async () => {
  const { vm, ip } = await lab.bootVm('s-prep', 1, 'shared');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.prepared', () => lab.killAgent(1));
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name });
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal((await lab.api.getMigration(started.id)).state, 'running', 'undecided while the source cannot be asked');
  await lab.agentsUp(lab.hosts.length);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'failed', `${m.reason}`);
  assert.equal(m.stage, 'aborted', m.journal.map((j) => j.stage).join(' '));
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});

test('destination QEMU killed while the disks are mirrored → aborted; the source never stopped and its disk is intact', async () => {
  const { vm, ip } = await lab.bootVm('s-mirror', 1, 'local');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.mirroring', () => qemuKiller(2, vm.id));
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name, policy: SLOW })).id);
  assert.equal(m.state, 'failed', `${m.reason}`);
  assert.equal(m.stage, 'aborted', m.journal.map((j) => j.stage).join(' '));
  assert.ok(!m.journal.some((j) => j.stage === 'precopy'), 'it never reached the memory copy');
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});

// With resume on completion the destination may have run the guest by then: migration-switchover.e2e has that case.
test('destination QEMU killed as the source stops for its last pass, the destination waiting for the controller → the source resumes its complete image; no reboot', async () => {
  const { vm, ip } = await lab.bootVm('s-stop', 1, 'shared');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.stop-and-copy', () => qemuKiller(2, vm.id));
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name, policy: { resumeOnCompletion: false } })).id);
  assert.equal(m.state, 'failed', `${m.reason}`);
  const stages = m.journal.map((j) => j.stage);
  // Killed before the destination paused: an abort that resumes the source; just after: the commit is reverted.
  assert.ok(stages.includes('aborting') || stages.includes('reverted'), stages.join(' '));
  assert.equal(m.stage, 'aborted', stages.join(' '));
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'the source resumed: no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});
