import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import { MigrationLab } from './support/migration-lab.js';

/**
 * The controller killed (SIGKILL, by a failpoint armed through
 * NUBO_FAILPOINTS) just before and just after the commit of a live
 * migration. The restarted controller reads the journal, asks both agents
 * what they hold, and finishes the migration: exactly one copy runs, on the
 * destination (both the paused complete image and the committed one roll
 * forward), with the guest's uptime and data intact. And killed before it
 * learns that the migration completed: the destination ran the guest on its
 * own meanwhile (resume on completion), and the restarted controller rolls
 * forward to it.
 */

const lab = new MigrationLab();

before(() => lab.start(2, 'process'));
after(() => lab.stop());

// migration.console-carry: after the commit and the activation, carrying the console log: the restarted controller carries it.
for (const [point, when] of [['migration.transferred', 'before'], ['migration.committed', 'after'], ['migration.console-carry', 'after']] as const) {
  test(`controller killed ${when} the commit (${point}) → the restarted controller rolls forward; one copy on the destination`, async () => {
    await lab.restartController(`${point}=exit`);
    const { pid } = await lab.controllerProcess();
    const { vm, ip } = await lab.bootVm(`crash-${when}`, 1, 'shared');
    const before = await lab.facts(ip);
    const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name });
    await pollUntil('the controller to die at the failpoint', async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 200 });
    await lab.restartController();
    assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
    const m = await lab.waitMigration(started.id);
    assert.equal(m.state, 'succeeded', `${m.reason}`);
    assert.match(m.reason ?? '', /restarted/);
    const stages = m.journal.map((j) => j.stage);
    assert.ok(stages.includes(when === 'before' ? 'transferred' : 'committed'), stages.join(' '));
    await lab.assertOneCopy(vm.id, 2);
    const after = await lab.facts(ip);
    assert.ok(after.uptime > before.uptime, 'no reboot');
    assert.equal(after.sum, before.sum);
    assert.equal(after.mac, before.mac);
    // The restarted controller's roll forward carries the source's console log before it releases the source.
    assert.match(await lab.api.vmConsole(vm.id), /USERDATA-DONE/, 'the console log of the source was carried');
    await lab.api.vmAction(vm.id, 'terminate-hard');
    await lab.waitState(vm.id, 'terminated');
  });
}

test('controller killed before it learns of the completion (migration.precopy) → the destination ran the guest on its own; the restarted controller rolls forward', async () => {
  await lab.restartController('migration.precopy=exit');
  const { pid } = await lab.controllerProcess();
  const { vm, ip } = await lab.bootVm('crash-unseen', 1, 'shared');
  const before = await lab.facts(ip);
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name });
  await pollUntil('the controller to die at the failpoint', async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 200 });
  // No controller: QEMU completes the migration and the destination starts the guest by itself.
  await pollUntil('the guest to run on the destination', async () => {
    const r = await lab.guest(ip, '/cgi-bin/uptime').catch(() => undefined);
    return r === undefined ? undefined : true;
  }, { timeoutMs: 120_000, intervalMs: 250 });
  await lab.restartController();
  assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  assert.match(m.reason ?? '', /restarted/);
  assert.ok(!m.journal.some((j) => j.stage === 'transferred'), 'the first controller never saw the completion');
  await lab.assertOneCopy(vm.id, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await lab.api.vmAction(vm.id, 'terminate-hard');
  await lab.waitState(vm.id, 'terminated');
});

test('controller killed once the request is queued, before the queue\'s first round and the prediction (migration-queue.queued) → the restarted controller\'s queue starts it; the VM moves once', async () => {
  await lab.restartController('migration-queue.queued=exit');
  const { pid } = await lab.controllerProcess();
  const { vm, ip } = await lab.bootVm('crash-queued', 1, 'shared');
  const before = await lab.facts(ip);
  // The controller dies before it answers.
  await assert.rejects(lab.api.migrateVm(vm.id, { to: lab.host(2).name }));
  await pollUntil('the controller to die at the failpoint', async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 200 });
  await lab.restartController();
  assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
  const [entry, ...more] = await lab.api.listMigrations({ vm: vm.id });
  assert.ok(entry, 'the request was kept');
  assert.equal(more.length, 0, 'one migration, not two');
  const m = await lab.waitMigration(entry.id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  await lab.assertOneCopy(vm.id, 2);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  assert.equal((await lab.api.listMigrations({ vm: vm.id })).length, 1, 'still one migration');
  await lab.api.vmAction(vm.id, 'terminate-hard');
  await lab.waitState(vm.id, 'terminated');
});
