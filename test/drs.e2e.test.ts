import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrationLab } from './support/migration-lab.js';
import { ElasticityClient } from '../src/client/elasticity-client.js';
import type { DrsAppliedView } from '../src/contract/drs-schemas.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { pollUntil } from '../src/util/deadline.js';

/**
 * Issue 16 items 4 and 5 (proactive HA) in the namespace lab, two hosts, the
 * controller a process of its own (run under `flock /tmp/nubo-lab.lock`):
 * busy VMs on one host → `drs plan` explains each move, `drs apply`
 * live-migrates, the imbalance drops, and an immediate second plan moves
 * nothing; consolidation empties a host onto standby, which placement wakes
 * when a VM needs it; a host whose health check fails has its VMs
 * live-migrated away — the controller SIGKILLed right after it journaled the
 * degradation, the restarted one does the moves — and takes none until healthy.
 * Then the controller is SIGKILLed (failpoint `exit`) at each step of
 * applying a plan — `drs.after-journal`, `drs.move-running`,
 * `drs.migration-started` — and after the restart every plan ends
 * `interrupted` with each move decided: dropped and never migrated when it
 * had not been requested, else its one migration followed to its end.
 */

const lab = new MigrationLab();
let drs: ElasticityClient;
before(async () => {
  await lab.start(2, 'process');
  drs = new ElasticityClient(lab.api.baseUrl, lab.token);
});
after(async () => {
  await lab.stop();
});

const BUSY = '#!/bin/sh\n(/bin/nubo-burn 3600) &\necho USERDATA-DONE\n';

async function boot(name: string, i: number, userData?: string): Promise<string> {
  const vm = await lab.api.createVm({ template: 'tiny-mig', name, host: lab.host(i).name, datastore: 'shared', ...(userData !== undefined ? { userData } : {}) });
  await lab.waitState(vm.id, 'running');
  return vm.id;
}

const hostOf = async (id: string): Promise<string | null> => (await lab.api.getVm(id)).host;
const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--url', lab.api.baseUrl, '--token', lab.token]);

async function applied(id: string): Promise<DrsAppliedView> {
  return pollUntil(`DRS plan ${id} ends`, async () => {
    const p = await drs.drsApplied(id);
    return p.state === 'applying' ? undefined : p;
  }, { timeoutMs: 240_000, intervalMs: 500 });
}

test('balance: plan explains, apply live-migrates, imbalance drops, hysteresis; consolidate to standby and wake; proactive HA across a controller SIGKILL', async () => {
  const h1 = lab.host(1).name, h2 = lab.host(2).name;
  const a = await boot('busy-a', 1, BUSY);
  const b = await boot('busy-b', 1, BUSY);
  const policy = { threshold: 0.02, hysteresis: 0.01, maxMoves: 1, minMinutesBetweenMoves: 30 };
  // Both burn on h1, h2 runs nothing: once the metrics show it, the plan moves one of them to h2.
  const plan = await pollUntil('a plan with a move', async () => {
    const p = await drs.drsPlan(policy);
    return p.moves.length === 1 ? p : undefined;
  }, { timeoutMs: 120_000, intervalMs: 2_000 });
  const move = plan.moves[0]!;
  assert.equal(move.from, h1);
  assert.equal(move.to, h2);
  assert.match(move.reason, new RegExp(`^${h1} \\(CPU \\d+%, memory \\d+%\\) → ${h2} .*: the largest cut in imbalance`));
  const printed = await cli(['drs', 'plan', '--threshold', '0.02', '--hysteresis', '0.01', '--max-moves', '1']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /imbalance [\d.]+ > [\d.]+: 1 move\(s\)/);
  assert.match(printed.stdout, new RegExp(`busy-[ab]\\s+${h1}\\s+${h2}\\s+.*largest cut in imbalance`));

  const done = await applied((await drs.drsApply(policy)).id);
  assert.equal(done.state, 'done', done.message ?? '');
  assert.equal(done.moves[0]?.state, 'done', JSON.stringify(done.moves));
  const moved = done.moves[0]?.vmId ?? assert.fail('no move');
  assert.equal(await hostOf(moved), h2);
  assert.deepEqual([await hostOf(a), await hostOf(b)].sort(), [h1, h2]);
  assert.ok(done.imbalanceAfter < done.imbalanceBefore, `${done.imbalanceAfter} < ${done.imbalanceBefore}`);
  // Hysteresis and the cost limit: the next plan moves nothing, and says the moved VM is held.
  const again = await drs.drsPlan(policy);
  assert.deepEqual(again.moves, []);
  assert.ok(again.held.some((h) => h.vmId === moved && /migrated 0 min ago \(not again within 30 min\)/.test(h.reason)), JSON.stringify(again.held));

  // Consolidate: one host is emptied and goes on standby.
  const cons = await applied((await drs.drsApply({ mode: 'consolidate', maxHostUse: 1, minMinutesBetweenMoves: 0, maxMoves: 2 })).id);
  assert.equal(cons.state, 'done', cons.message ?? '');
  assert.equal(cons.standby.length, 1, JSON.stringify(cons));
  const idle = cons.standby[0]!.host;
  const busy = idle === h1 ? h2 : h1;
  const idleIndex = idle === h1 ? 1 : 2;
  const busyIndex = idle === h1 ? 2 : 1;
  assert.equal(await hostOf(a), busy);
  assert.equal(await hostOf(b), busy);
  // The host view says which host is on standby (host list: `enabled, standby`).
  assert.notEqual((await lab.api.getHost(idle)).standbySince, null, 'the emptied host is on standby');
  assert.equal((await lab.api.getHost(busy)).standbySince, null);
  // A VM an admin deploys on the standby host wakes it (as placement wakes one when nothing else fits).
  const c = await boot('needs-idle', idleIndex);
  assert.equal(await hostOf(c), idle);
  assert.equal((await lab.api.getHost(idle)).standbySince, null, 'woken by placement');
  // Room on the idle host for the two busy VMs again (2 vCPUs a host).
  await lab.api.vmAction(c, 'terminate-hard');
  await lab.waitState(c, 'terminated');

  // Proactive HA: the controller dies right after it journaled that the busy host is degraded, before any VM moved.
  await lab.restartController('ha.degraded-recorded=exit');
  const { pid } = await lab.controllerProcess();
  const earlier = new Set((await lab.api.listMigrations()).map((m) => m.id));
  const flag = join(lab.host(busyIndex).dataDir, 'degraded');
  await writeFile(flag, 'fan failure\n');
  await pollUntil('the controller to die at ha.degraded-recorded', async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 200 });
  const killedAt = Date.now();
  await lab.restartController();
  assert.notEqual((await lab.controllerProcess()).pid, pid, 'a new controller process');
  assert.equal((await lab.api.hostHa(busy)).degraded, 'fan failure', 'the degradation was journaled before the kill');
  // The restarted controller moves them: each live-migrated to the healthy host, one copy.
  // Both moved before either is checked: one-copy checks the degraded host holds no reservation, which it does while the other VM is still on it.
  for (const id of [a, b]) {
    await pollUntil(`${id} moved off the degraded host`, async () => ((await hostOf(id)) === idle && (await lab.api.getVm(id)).state === 'running' ? true : undefined), { timeoutMs: 240_000, intervalMs: 500 });
  }
  for (const id of [a, b]) await lab.assertOneCopy(id, idleIndex);
  // Every move off the degraded host was the restarted controller's: the first one died before it moved any.
  const moves = (await lab.api.listMigrations()).filter((m) => !earlier.has(m.id));
  assert.deepEqual(moves.filter((m) => m.state === 'succeeded').map((m) => m.vmId).sort(), [a, b].sort(), JSON.stringify(moves));
  for (const m of moves) assert.ok(Date.parse(m.queuedAt ?? m.startedAt) > killedAt, `${m.id} was queued after the kill`);
  // A degraded host takes no new VM, and placement says why.
  const pinned = await lab.api.createVm({ template: 'tiny-mig', name: 'on-degraded', requirements: lab.on(busyIndex), datastore: 'shared' });
  await pollUntil('placement names the degraded host\'s reason', async () => (/degraded: fan failure/.test((await lab.api.getVm(pinned.id)).stateReason ?? '') ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
  assert.equal((await lab.api.getVm(pinned.id)).state, 'pending');
  const shown = await cli(['host', 'ha', busy]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /health:\s+degraded: fan failure/);
  // Healthy again: it takes VMs again, and the waiting VM is placed on it.
  await rm(flag);
  await lab.waitState(pinned.id, 'running', 180_000);
  assert.equal(await hostOf(pinned.id), busy);
  assert.equal((await lab.api.hostHa(busy)).degraded, null);
});

test('crash safety: the controller SIGKILLed at drs.after-journal, drs.move-running, drs.migration-started — after the restart each plan ends decided, each move once or not at all, one copy of every VM', async () => {
  // The burning VMs share a host since the proactive-HA part; the other runs one idle VM: a plan moves one burner.
  const policy = { threshold: 0.02, hysteresis: 0.01, maxMoves: 1, minMinutesBetweenMoves: 0 };
  const indexOf = (host: string): number => (host === lab.host(1).name ? 1 : 2);
  for (const failpoint of ['drs.after-journal', 'drs.move-running', 'drs.migration-started']) {
    await lab.restartController(`${failpoint}=exit`);
    // A new controller has no metrics yet: the plan needs a few samples of the burners.
    await pollUntil(`a plan with a move (${failpoint})`, async () => ((await drs.drsPlan(policy)).moves.length === 1 ? true : undefined), { timeoutMs: 180_000, intervalMs: 2_000 });
    const known = new Set((await drs.drsPlans()).map((p) => p.id));
    const earlier = new Set((await lab.api.listMigrations()).map((m) => m.id));
    // At drs.after-journal the controller dies before it answers: the request fails, the plan is in the journal.
    await drs.drsApply(policy).catch(() => undefined);
    await pollUntil(`the controller to die at ${failpoint}`, async () => ((await lab.controllerProcess()).alive ? undefined : true), { timeoutMs: 120_000, intervalMs: 200 });
    await lab.restartController();
    const plans = (await drs.drsPlans()).filter((p) => !known.has(p.id));
    assert.equal(plans.length, 1, `one plan journaled before the kill (${failpoint}): ${JSON.stringify(plans)}`);
    const id = plans[0]!.id;
    // Every move ends decided: none stays pending or running.
    const p = await pollUntil(`plan ${id}'s move decided`, async () => {
      const x = await drs.drsApplied(id);
      return x.moves.every((m) => m.state !== 'pending' && m.state !== 'running') ? x : undefined;
    }, { timeoutMs: 300_000, intervalMs: 500 });
    assert.equal(p.state, 'interrupted', `${failpoint}: ${p.message ?? ''}`);
    assert.equal(p.moves.length, 1, JSON.stringify(p.moves));
    const move = p.moves[0]!;
    const migrations = (await lab.api.listMigrations()).filter((m) => !earlier.has(m.id) && m.vmId === move.vmId);
    if (failpoint === 'drs.migration-started') {
      // It had started: it ran on under its own journal, and the move records how it ended — the one migration.
      assert.equal(migrations.length, 1, JSON.stringify(migrations));
      assert.equal(move.migrationId, migrations[0]?.id);
      const m = await pollUntil('the migration ended', async () => {
        const x = (await lab.api.listMigrations()).find((y) => y.id === move.migrationId);
        return x !== undefined && x.state !== 'running' && x.state !== 'queued' ? x : undefined;
      }, { timeoutMs: 300_000, intervalMs: 500 });
      assert.equal(move.state, m.state === 'succeeded' ? 'done' : 'failed', `move ${move.state}, migration ${m.state}`);
      await lab.assertOneCopy(move.vmId, indexOf(m.state === 'succeeded' ? move.to : move.from), { otherVms: true });
    } else {
      // Killed before its migration was requested: dropped, never moved, and no migration made for it after the restart.
      assert.equal(move.state, 'dropped', JSON.stringify(move));
      assert.equal(move.migrationId, null);
      assert.deepEqual(migrations, [], 'no migration was ever requested for the dropped move');
      await lab.assertOneCopy(move.vmId, indexOf(move.from), { otherVms: true });
    }
  }
});
