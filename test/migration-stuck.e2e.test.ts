import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { isQemuOf } from '../src/hypervisor/qemu/qemu-process.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { MIGRATION_USER_DATA, MigrationLab, refusal } from './support/migration-lab.js';
import { terminateEverywhere } from './support/terminate-everywhere.js';

/**
 * A live migration that cannot end by itself (issue 11, item 3): every wait
 * of its resolution is bounded, but by minutes, and the VM stays `migrating`
 * meanwhile. An admin may end the VM once the migration ran past its own
 * timeout (core's terminateDuringMigration); its owner may not.
 */

const lab = new MigrationLab();
// Long enough for the copy of an idle 128 MiB guest to reach its commit on a busy machine (a few seconds
// unloaded), with room left for the refusal within the timeout; the test waits the rest out.
const TIMEOUT_S = 25;

before(() => lab.start(2));
after(() => lab.stop());

test('a VM whose migration is stuck past its timeout (destination gone after the commit): an admin may terminate it, its owner may not', async (t) => {
  assert.ok(lab.controller, 'an in-process controller');
  const owner = await lab.controller.store.users.create({ name: 'r-owner' });
  const mine = new NuboClient(lab.controller.url, owner.token);
  const created = await mine.createVm({ template: 'tiny-mig', name: 'r-stuck', requirements: lab.on(1), datastore: 'shared', userData: MIGRATION_USER_DATA });
  const vm = await lab.waitState(created.id, 'running');
  try {
    lab.failpoints.arm('migration.committed', () => lab.killAgent(2));
    // The controller's switch: with resume on completion the destination's QEMU runs the guest without its agent, and
    // the VM is not stuck (migration-switchover covers that). The controller's switch is still what local disks and
    // post-copy use, and there a dead destination agent after the commit leaves the VM waiting for it.
    // Forced: the owner pinned it to h1 by its requirements (a user cannot choose a host); an admin may override that.
    const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name, force: true, policy: { timeoutS: TIMEOUT_S, resumeOnCompletion: false } });
    // Committed, then the destination's agent is gone: the migration waits for it (the VM is the destination's now).
    await pollUntil('the commit', async () => ((await lab.api.getMigration(started.id)).journal.some((j) => j.stage === 'committed') ? true : undefined), { timeoutMs: 120_000, intervalMs: 200 });
    assert.equal((await lab.api.getVm(vm.id)).state, 'migrating');
    const byOwner = await refusal(mine.vmAction(vm.id, 'terminate-hard'));
    assert.equal(byOwner.status, 409);
    assert.match(byOwner.message, /only an admin/);
    const deadline = Date.parse(started.startedAt) + TIMEOUT_S * 1000;
    // How much of the timeout the commit took: what TIMEOUT_S must leave room for.
    t.diagnostic(`committed ${((Date.now() - Date.parse(started.startedAt)) / 1000).toFixed(1)} s into its ${TIMEOUT_S} s timeout`);
    if (Date.now() < deadline - 1_000) {
      const early = await refusal(lab.api.vmAction(vm.id, 'terminate-hard'));
      assert.equal(early.status, 409);
      assert.match(early.message, /within its timeout/);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now() + 500)));
    assert.equal((await lab.api.getMigration(started.id)).state, 'running', 'still waiting for the destination');
    await lab.api.vmAction(vm.id, 'terminate-hard');
    const m = await lab.waitMigration(started.id, 30_000);
    assert.equal(m.state, 'failed');
    assert.match(m.reason ?? '', /terminated by an admin/);
    // The destination holds the VM and does not answer: the epilog fails, to be retried once it does.
    await pollUntil('the epilog to fail', async () => (['failed', 'unknown'].includes((await lab.api.getVm(vm.id)).state) ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    const src = await lab.qemuPid(1, vm.id);
    assert.equal(src !== undefined && (await isQemuOf(src, agentVmId(vm.id))), false, 'the source copy was released');
    assert.ok(!(await lab.agentVms(1)).includes(agentVmId(vm.id)));
  } finally {
    // Back whatever happened: a migration left waiting for it would hold the lab's clean-up for minutes.
    await lab.agentsUp(lab.hosts.length);
  }
  await terminateEverywhere(lab, vm.id);
});
