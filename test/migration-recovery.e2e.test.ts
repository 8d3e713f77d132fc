import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { pollUntil } from '../src/util/deadline.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { vmPaths } from '../src/hypervisor/qemu/vm-paths.js';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import { MigrationLab } from './support/migration-lab.js';
import { terminateEverywhere } from './support/terminate-everywhere.js';

/**
 * Live migration crash recovery (issue 11, items 3 and 4): an agent killed
 * where the migration protocol has the least slack, and the records a
 * recovery leaves behind. Every migration must end with one running copy
 * where the store says, agents that agree (no host still calls the VM an
 * incoming destination), no reservation left, a record in a final stage
 * with its final figures, and a VM that can migrate again and be terminated.
 */

const lab = new MigrationLab();
// Slow enough that a cancel lands during the copy.
const SLOW = { maxBandwidthMiBps: 2 };

before(() => lab.start(2));
after(() => lab.stop());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Restarts host `i`'s agent with `NUBO_FAILPOINTS` set to `spec` (only that agent is down, so only it gets them). */
async function restartAgentWith(i: number, spec: string): Promise<void> {
  await lab.killAgent(i);
  // Restarted before the controller noticed, the host would still be marked down (and refused) just after.
  const name = lab.host(i).name;
  await pollUntil(`${name} seen down`, async () => ((await lab.api.getHost(name)).state !== 'enabled' ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
  process.env['NUBO_FAILPOINTS'] = spec;
  try {
    await lab.agentsUp(lab.hosts.length);
  } finally {
    delete process.env['NUBO_FAILPOINTS'];
  }
}

/** Neither the agent's marker nor the driver's record on host `i` still treats the VM as an incoming migration. */
async function assertNotIncoming(i: number, vmId: string): Promise<void> {
  const id = agentVmId(vmId);
  const marker = join(lab.host(i).dataDir, 'vms', id, 'incoming.json');
  assert.equal(await stat(marker).then(() => true, () => false), false, `${lab.host(i).name} still has ${marker}`);
  const record = JSON.parse(await readFile(vmPaths(lab.host(i).runDir, id).record, 'utf8')) as { migration?: unknown };
  assert.equal(record.migration, undefined, `${lab.host(i).name}'s driver record still says ${JSON.stringify(record.migration)}`);
}

function journalNumber(m: MigrationView, stage: string, key: string): unknown {
  return m.journal.find((j) => j.stage === stage)?.data?.[key];
}

test('destination agent killed inside activate, after cont → rolled forward and cleaned; it migrates back; terminate works', async () => {
  const { vm, ip } = await lab.bootVm('r-activ', 1, 'local');
  const before = await lab.facts(ip);
  await restartAgentWith(2, 'activate.continued=exit');
  const pid = lab.host(2).agent?.pid;
  assert.ok(pid !== undefined);
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name });
  await pollUntil('the destination agent to die inside activate', async () => (alive(pid) ? undefined : true), { timeoutMs: 180_000, intervalMs: 100 });
  assert.equal((await lab.api.getMigration(started.id)).state, 'running', 'undecided while the destination cannot be asked');
  await lab.agentsUp(lab.hosts.length);

  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  await lab.assertOneCopy(vm.id, 2);
  await assertNotIncoming(2, vm.id);
  // The record ends in its final stage, with the figures the journal had.
  assert.equal(m.stage, 'cleaned', m.journal.map((j) => j.stage).join(' '));
  assert.equal(m.stats['sourceReleased'], true);
  const downtime = journalNumber(m, 'stop-and-copy', 'downtimeMs');
  assert.ok(typeof downtime === 'number' && downtime > 0, `the journal has the downtime (${String(downtime)})`);
  assert.equal(m.stats['downtimeMs'], downtime);
  assert.equal(m.stats['transferredBytes'], journalNumber(m, 'transferred', 'transferredBytes'));
  assert.equal(m.stats['passes'], journalNumber(m, 'transferred', 'passes'));
  const mid = await lab.facts(ip);
  assert.ok(mid.uptime > before.uptime, 'no reboot');
  assert.equal(mid.sum, before.sum);

  // The host that was the destination is an ordinary source now.
  const back = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(1).name })).id);
  assert.equal(back.state, 'succeeded', `${back.reason}`);
  assert.equal(back.stage, 'cleaned');
  await lab.assertOneCopy(vm.id, 1);
  const after = await lab.facts(ip);
  assert.ok(after.uptime > mid.uptime, 'no reboot');
  assert.equal(after.sum, before.sum);
  await terminateEverywhere(lab, vm.id);
});

test('source agent killed right after activation → the record ends cleaned once the host monitor released the source', async () => {
  const { vm } = await lab.bootVm('r-srcgone', 1, 'shared');
  lab.failpoints.arm('migration.activated', () => lab.killAgent(1));
  const m = await lab.waitMigration((await lab.api.migrateVm(vm.id, { to: lab.host(2).name })).id);
  assert.equal(m.state, 'succeeded', `${m.reason}`);
  assert.equal(m.stats['sourceReleased'], false, 'the source could not be released while its agent was away');
  await lab.agentsUp(lab.hosts.length);
  const done = await pollUntil('the record to say the source was released', async () => {
    const r = await lab.api.getMigration(m.id);
    return r.stats['sourceReleased'] === true ? r : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });
  assert.equal(done.stage, 'cleaned', done.journal.map((j) => j.stage).join(' '));
  assert.equal(done.state, 'succeeded');
  await lab.assertOneCopy(vm.id, 2);
  await terminateEverywhere(lab, vm.id);
});

test('a cancelled migration ends in stage aborted with its total time', async () => {
  const { vm } = await lab.bootVm('r-cancel', 1, 'shared');
  const started = await lab.api.migrateVm(vm.id, { to: lab.host(2).name, policy: SLOW });
  await lab.waitStage(started.id, ['precopy']);
  await lab.api.cancelMigration(started.id);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'aborted', `${m.reason}`);
  assert.equal(m.stage, 'aborted', m.journal.map((j) => j.stage).join(' '));
  assert.ok(typeof m.stats['totalTimeMs'] === 'number' && m.stats['totalTimeMs'] > 0, `totalTimeMs ${String(m.stats['totalTimeMs'])}`);
  await lab.assertOneCopy(vm.id, 1);
  await terminateEverywhere(lab, vm.id);
});
