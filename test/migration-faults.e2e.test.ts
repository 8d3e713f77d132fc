import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { MigrationLab } from './support/migration-lab.js';

/**
 * Faults injected at each stage of a live migration (issue 5): after each,
 * exactly one copy of the VM runs, on the host the rules say, store and
 * agents agree, and nothing leaked (process, disk, TAP, reservation). The
 * guest keeps its uptime and data wherever it ends. The controller-crash
 * cases are in migration-crash.e2e (they need a controller process to kill).
 */

const lab = new MigrationLab();
// Slow enough that a fault lands during the copy; a 128 MiB guest then takes well over ten seconds.
const SLOW = { maxBandwidthMiBps: 2 };

before(() => lab.start());
after(() => lab.stop());

async function end(vmId: string): Promise<void> {
  await lab.api.vmAction(vmId, 'terminate-hard');
  await lab.waitState(vmId, 'terminated');
}

test('destination agent killed during reservation → aborted; the VM runs on the source; nothing on the destination once it is back', async () => {
  const { vm, ip } = await lab.bootVm('f-resv', 1, 'local');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.reservation', () => lab.killAgent(2));
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'failed');
  assert.match(m.reason ?? '', /unreachable|ECONNREFUSED|fetch failed/i);
  await lab.agentsUp();
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime);
  assert.equal(after.sum, before.sum);
  await end(vm.id);
});

test('destination QEMU killed during pre-copy → aborted; the source never stopped', async () => {
  const { vm, ip } = await lab.bootVm('f-dqemu', 1, 'shared');
  const before = await lab.facts(ip);
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name, policy: SLOW });
  await lab.waitStage(started.id, ['precopy']);
  const pid = await lab.qemuPid(2, vm.id);
  assert.ok(pid !== undefined, 'the destination QEMU runs');
  process.kill(pid, 'SIGKILL');
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'failed');
  assert.ok(m.journal.some((j) => j.stage === 'aborting'));
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime);
  assert.equal(after.sum, before.sum);
  await end(vm.id);
});

test('destination uplink cut during pre-copy → the overall timeout aborts; the copy left there is released once it is back', async () => {
  const { vm, ip } = await lab.bootVm('f-link', 1, 'local');
  const before = await lab.facts(ip);
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name, policy: { ...SLOW, timeoutS: 15 } });
  await lab.waitStage(started.id, ['mirroring', 'precopy']);
  const veth = lab.host(2).vethRoot;
  await runCommand('ip', ['link', 'set', veth, 'down']);
  let m;
  try {
    m = await lab.waitMigration(started.id, 120_000);
  } finally {
    await runCommand('ip', ['link', 'set', veth, 'up']);
  }
  assert.equal(m.state, 'failed');
  assert.match(m.reason ?? '', /time|abort/i);
  await pollUntil('h2 back', async () => ((await lab.api.getHost(lab.host(2).name)).state === 'enabled' ? true : undefined), { timeoutMs: 30_000 });
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime);
  assert.equal(after.sum, before.sum);
  await end(vm.id);
});

test('source agent killed during pre-copy → the destination is dropped, and the migration ends once the source answers again', async () => {
  const { vm, ip } = await lab.bootVm('f-sagent', 1, 'shared');
  const before = await lab.facts(ip);
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name, policy: SLOW });
  await lab.waitStage(started.id, ['precopy']);
  await lab.killAgent(1);
  // The guest keeps serving while its agent is away.
  assert.ok(Number(await lab.guest(ip, '/cgi-bin/uptime')) > before.uptime);
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal((await lab.api.getMigration(started.id)).state, 'running', 'undecided while the source cannot be asked');
  await lab.agentsUp();
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'failed');
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await end(vm.id);
});

test('activation fails on the destination after the commit → the VM goes back to its complete copy on the source', async () => {
  const { vm, ip } = await lab.bootVm('f-activ', 1, 'local');
  const before = await lab.facts(ip);
  lab.failpoints.arm('migration.committed', async () => {
    const pid = await lab.qemuPid(2, vm.id);
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGKILL');
  });
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'failed');
  assert.ok(m.journal.some((j) => j.stage === 'reverted'), `journal: ${m.journal.map((j) => j.stage).join(' ')}`);
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > before.uptime, 'the source resumed: no reboot');
  assert.equal(after.sum, before.sum);
  await end(vm.id);
});
