import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { killQemusIn } from '../src/lab/lab-process.js';
import { pollUntil } from '../src/util/deadline.js';
import { refusal, MigrationLab } from './support/migration-lab.js';
import { HaLab } from './support/ha-lab.js';

// High availability with fencing in a 3-host lab (run under `flock /tmp/nubo-lab.lock`): the lab's own
// controller process, tiny 128 MiB guests, the lab's shared datastore, the `lab` fence method (uplink
// cut, QEMUs killed by pid). Each case puts its VMs on one host, fails that host, and checks that the HA
// VMs run again elsewhere exactly once, within a bound, and that the host coming back keeps no copy.

/** Detect (3 missed 500 ms beats) → suspect → fence → take over → boot, on a loaded 2-core machine. */
const RECOVERY_BOUND_MS = 120_000;

const lab = new MigrationLab();
const ha = new HaLab(lab);

before(async () => {
  await lab.start(3, 'process');
  for (const h of lab.hosts) {
    await lab.api.setFenceConfig(h.name, { method: 'lab', labDir: lab.dir, timeoutMs: 30_000 });
    // Three tiny guests of one vCPU on a host of this 2-core machine: overcommitted, as the lab's hosts are for tests.
    await lab.api.updateHost(h.name, { cpuOvercommit: 4 });
  }
});

after(async () => {
  await lab.stop();
});

const runningHistory = (vm: { history: { to: string }[] }): number => vm.history.filter((h) => h.to === 'running').length;

test('fence configuration: bad input is refused naming the field, and changes nothing', async () => {
  const before_ = await lab.api.hostHa('h1');
  const e1 = await refusal(lab.api.setFenceConfig('h1', { method: 'command', argv: [] }));
  assert.equal(e1.status, 400);
  assert.match(JSON.stringify(e1.details), /argv/);
  const e2 = await refusal(lab.api.setFenceConfig('h1', { method: 'lab', labDir: lab.dir, timeoutMs: 5 }));
  assert.match(JSON.stringify(e2.details), /timeoutMs/);
  const e3 = await refusal(lab.api.setFenceConfig('h1', { method: 'ipmi' } as never));
  assert.equal(e3.status, 400);
  assert.deepEqual(await lab.api.hostHa('h1'), before_);
  assert.equal((await refusal(lab.api.setFenceConfig('no-such-host', { method: 'none' }))).status, 404);
});

test('a host killed (agent and QEMUs): fenced, its HA VM runs again on another host exactly once; non-HA and local-disk VMs are lost; the host comes back without a stale copy', async () => {
  const [a, b, c] = await ha.vmsOn(1, [
    { name: 'ha-a', ha: true, datastore: 'shared' },
    { name: 'ha-b', ha: false, datastore: 'shared' },
    { name: 'ha-c', ha: true, datastore: 'local' },
  ]);
  assert.ok(a && b && c);
  await lab.killAgent(1);
  const killedAt = Date.now();
  await killQemusIn(lab.host(1).runDir);
  const { vm, maxCopies } = await ha.waitRestarted(a.id, 'h1', RECOVERY_BOUND_MS);
  const recoveryMs = Date.now() - killedAt;
  process.stdout.write(`# HA recovery after a host kill: ${recoveryMs} ms (bound ${RECOVERY_BOUND_MS} ms)\n`);
  assert.ok(maxCopies <= 1, `never two copies (saw ${maxCopies})`);
  assert.deepEqual(await ha.runningCopies(a.id), [vm.host], 'exactly one QEMU, on its new host');
  assert.equal(runningHistory(vm), 2, 'booted once more, once');
  assert.equal(vm.history.at(-1)?.action, 'ha-restart');
  const h1 = await pollUntil('h1 recovered', async () => { const x = await lab.api.hostHa('h1'); return x.state === 'recovered' ? x : undefined; }, { timeoutMs: 30_000 });
  assert.ok(h1.suspectedAt && h1.fencingAt && h1.fencedAt && h1.recoveringAt && h1.recoveredAt, 'every step has its time');
  assert.ok(h1.suspectedAt <= h1.fencingAt && h1.fencingAt <= h1.fencedAt && h1.fencedAt <= h1.recoveringAt && h1.recoveringAt <= h1.recoveredAt, 'in order');
  const byVm = new Map(h1.restarts.map((r) => [r.vmId, r]));
  assert.equal(byVm.get(a.id)?.action, 'restart');
  assert.equal(byVm.get(b.id)?.action, 'lost');
  assert.equal(byVm.get(c.id)?.action, 'lost');
  for (const lost of [b, c]) {
    const v = await lab.api.getVm(lost.id);
    assert.equal(v.host, 'h1', 'a lost VM stays with its host');
    assert.match(v.stateReason ?? '', /^lost: /);
    assert.deepEqual(await ha.runningCopies(lost.id), [], 'and runs nowhere');
  }

  // The host returns (uplink up, agent started): held until its stale copies are ended, then enabled.
  await lab.agentsUp(3);
  await pollUntil('h1 enabled', async () => ((await lab.api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  assert.equal((await lab.api.hostHa('h1')).state, 'ok');
  await pollUntil('h1 keeps no copy of the restarted VM', async () => (!(await lab.agentVms(1)).includes(agentVmId(a.id)) ? true : undefined), { timeoutMs: 30_000 });
  const after_ = await lab.api.getVm(a.id);
  assert.equal(after_.host, vm.host);
  assert.equal(after_.state, 'running');
  assert.equal(runningHistory(after_), 2, 'not restarted twice');
  assert.deepEqual(await ha.runningCopies(a.id), [vm.host]);
  for (const id of [a.id, b.id, c.id]) await lab.api.vmAction(id, 'terminate-hard');
});

test('a partition (uplink cut, QEMUs alive): the fence stops the QEMU before the restart; one running copy at every sample', async () => {
  const [a] = await ha.vmsOn(2, [{ name: 'ha-p', ha: true, datastore: 'shared' }]);
  assert.ok(a);
  await ha.cutLink(2);
  assert.deepEqual(await ha.runningCopies(a.id), ['h2'], 'the cut-off copy keeps running at first');
  const { vm, maxCopies } = await ha.waitRestarted(a.id, 'h2', RECOVERY_BOUND_MS);
  assert.equal(maxCopies, 1, 'exactly one running copy at every sample');
  assert.deepEqual(await ha.runningCopies(a.id), [vm.host]);
  assert.equal(runningHistory(vm), 2);
  await lab.agentsUp(3);
  await pollUntil('h2 enabled', async () => ((await lab.api.getHost('h2')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  await pollUntil('h2 keeps no copy', async () => (!(await lab.agentVms(2)).includes(agentVmId(a.id)) ? true : undefined), { timeoutMs: 30_000 });
  assert.equal(runningHistory(await lab.api.getVm(a.id)), 2, 'not restarted twice');
  await lab.api.vmAction(a.id, 'terminate-hard');
});

test('the controller killed in the middle of a restart (journaled, not yet started): the restarted controller finishes it, exactly once', async () => {
  const [a] = await ha.vmsOn(3, [{ name: 'ha-r', ha: true, datastore: 'shared' }]);
  assert.ok(a);
  await ha.restartController('ha.restart=exit');
  await lab.killAgent(3);
  await killQemusIn(lab.host(3).runDir);
  await ha.controllerExited(RECOVERY_BOUND_MS);
  const journal = await (async () => {
    await ha.restartController();
    return lab.api.hostHa('h3');
  })();
  assert.ok(['recovering', 'recovered'].includes(journal.state), `the journal was read back (${journal.state})`);
  const { vm, maxCopies } = await ha.waitRestarted(a.id, 'h3', RECOVERY_BOUND_MS);
  assert.ok(maxCopies <= 1);
  assert.deepEqual(await ha.runningCopies(a.id), [vm.host]);
  assert.equal(runningHistory(vm), 2, 'restarted once');
  await lab.agentsUp(3);
  await pollUntil('h3 enabled', async () => ((await lab.api.getHost('h3')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  assert.equal(runningHistory(await lab.api.getVm(a.id)), 2, 'not restarted twice');
  await lab.api.vmAction(a.id, 'terminate-hard');
});
