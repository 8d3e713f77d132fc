import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import { NUBO_CLI } from '../src/lab/lab-process.js';
import { labDown } from '../src/lab/lab.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { labLeftovers } from './support/lab-checks.js';
import { MigrationLab, refusal } from './support/migration-lab.js';
import { assertConsoleInOrder, bootsOnConsole } from './support/console-order.js';

/**
 * Cold migration through the controller on a 3-host lab: a powered-off VM, a
 * suspended one (memory kept: no reboot), a suspended one on the shared
 * datastore (its saved memory is there too: nothing is copied, a hand-off)
 * through the CLI; a cancel and a
 * destination agent killed mid-copy leave the VM whole on its source and
 * nothing on the destination.
 */

const lab = new MigrationLab();
const api = () => lab.api;

// The blob is written once (a boot after a cold migration must find the old one);
// the nonce lives in RAM only, so it survives a suspend and resume but not a reboot.
const USER_DATA = [
  '#!/bin/sh',
  '[ -f /data/blob ] || { dd if=/dev/urandom of=/data/blob bs=64k count=32 2>/dev/null; sync; }',
  'dd if=/dev/urandom bs=16 count=1 2>/dev/null | sha256sum | cut -c1-32 > /www/nonce',
  "cat > /www/cgi-bin/sum <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'sync; echo 3 > /proc/sys/vm/drop_caches',
  "sha256sum /data/blob | cut -d' ' -f1",
  'EOF',
  // GET /cgi-bin/mark?WORD prints `MARK WORD` on the serial console: a line the test knows when it was written.
  "cat > /www/cgi-bin/mark <<'EOF'",
  '#!/bin/sh',
  'echo "MARK $QUERY_STRING" > /dev/ttyS0',
  "printf 'Content-Type: text/plain\\r\\n\\r\\nok'",
  'EOF',
  'chmod 755 /www/cgi-bin/sum /www/cgi-bin/mark',
  'echo USERDATA-DONE',
  '',
].join('\n');

const COLD_STAGES = ['reservation', 'copying', 'verified', 'committed', 'cleaned'];

interface Guest { sum: string; nonce: string; uptime: number }

async function guest(ip: string): Promise<Guest> {
  return { sum: await lab.guest(ip, '/cgi-bin/sum'), nonce: await lab.guest(ip, '/nonce'), uptime: Number(await lab.guest(ip, '/cgi-bin/uptime')) };
}

async function userDataDone(id: string): Promise<void> {
  await pollUntil(`${id} user data`, async () => (/USERDATA-DONE/.test(await api().vmConsole(id)) ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
}

/** After a fresh boot: its user data ran once the guest serves a new nonce (and the checksum script, written after it). */
async function rebooted(ip: string, old: Guest): Promise<Guest> {
  return pollUntil('the new boot\'s user data', async () => {
    const g = await guest(ip).catch(() => undefined);
    return g !== undefined && g.nonce !== old.nonce ? g : undefined;
  }, { timeoutMs: 90_000, intervalMs: 500 });
}

async function boot(name: string, i: number, datastore: 'local' | 'shared'): Promise<{ vm: VmDetailView; ip: string }> {
  const created = await api().createVm({ template: 'tiny-mig', name, host: lab.host(i).name, datastore, userData: USER_DATA });
  const vm = await lab.waitState(created.id, 'running');
  assert.equal(vm.host, lab.host(i).name);
  await userDataDone(vm.id);
  const ip = vm.nics[0]?.address?.split('/')[0];
  assert.ok(ip, 'the VM has an address');
  return { vm, ip };
}

async function act(id: string, action: 'poweroff' | 'start' | 'suspend' | 'resume' | 'terminate-hard', state: string): Promise<VmDetailView> {
  await api().vmAction(id, action);
  return lab.waitState(id, state);
}

/** Files a crashed copy could have left anywhere in a host's datastore. */
async function partialFiles(i: number): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries: Dirent[] = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (/\.part|\.tmp$|receiving\.json/.test(e.name)) out.push(join(d, e.name));
    }
  };
  await walk(lab.host(i).dataDir);
  return out;
}

const stagesOf = (m: MigrationView): string[] => m.journal.map((j) => j.stage).filter((s) => COLD_STAGES.includes(s));
const filesOf = (m: MigrationView): string[] =>
  ((m.journal.find((j) => j.stage === 'copying')?.data?.['files'] ?? []) as { name: string }[]).map((f) => f.name).sort();
const reserved = async (i: number) => (await api().getHost(lab.host(i).name)).reserved;

async function copyUnderWay(id: string): Promise<MigrationView> {
  return pollUntil('copy under way', async () => {
    const m = await api().getMigration(id);
    if (m.state !== 'running') throw new Error(`migration ended: ${m.state} ${m.reason}`);
    return Number(m.stats['copiedBytes'] ?? 0) > 0 ? m : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
}

before(async () => {
  await lab.start(3);
});

after(async () => {
  await lab.stop();
});

test('a powered-off VM, h1 → h2: its disk is copied and verified; it boots there with the same data; nothing is left on h1', async () => {
  const { vm, ip } = await boot('cold-off', 1, 'local');
  const before = await guest(ip);
  await lab.mark(vm.id, ip, 'first-boot');
  await act(vm.id, 'poweroff', 'poweroff');

  const t0 = Date.now();
  const started = await api().migrateVm(vm.id, { to: lab.host(2).name });
  assert.equal(started.kind, 'cold');
  assert.equal(started.source, lab.host(1).name);
  assert.equal(started.destination, lab.host(2).name);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `migration: ${m.reason}`);
  assert.deepEqual(stagesOf(m), COLD_STAGES, 'every stage journalled, in order');
  assert.deepEqual(filesOf(m), ['cidata.iso', 'disk.qcow2'], 'disk overlay and config drive, no saved memory');
  const verified = m.journal.find((j) => j.stage === 'verified')?.data?.['files'] as { sha256: string }[];
  assert.ok(verified.every((f) => /^[0-9a-f]{64}$/.test(f.sha256)), 'a sha256 per file');
  assert.ok(Number(m.stats['transferredBytes']) > 1_000_000, `stats: ${JSON.stringify(m.stats)}`);
  assert.equal(m.stats['copiedBytes'], m.stats['copyTotalBytes']);
  assert.equal(m.stats['sourceReleased'], true);
  console.log(`# powered-off VM migrated in ${Date.now() - t0} ms: ${JSON.stringify(m.stats)}`);

  const moved = await api().getVm(vm.id);
  assert.equal(moved.state, 'poweroff');
  assert.equal(moved.host, lab.host(2).name);
  assert.ok(!(await lab.agentVms(1)).includes(agentVmId(vm.id)), "nothing of the VM left on h1");
  assert.deepEqual(await reserved(1), { cpus: 0, memoryMiB: 0, diskMiB: 0 }, 'h1 holds no reservation');
  assert.equal((await reserved(2)).memoryMiB, 128);

  assertConsoleInOrder(await api().vmConsole(vm.id), ['USERDATA-DONE', 'MARK first-boot']);

  await act(vm.id, 'start', 'running');
  const after = await rebooted(ip, before);
  assert.equal(after.sum, before.sum, '/data/blob read from the copied disk is unchanged');
  // One console log across the power cycle and the move: h1's boot (carried after the commit), then h2's.
  await pollUntil('the second boot on the console', async () => (bootsOnConsole(await api().vmConsole(vm.id)) >= 2 ? true : undefined), { timeoutMs: 30_000, intervalMs: 300 });
  const log = await lab.mark(vm.id, ip, 'second-boot');
  assertConsoleInOrder(log, ['MARK first-boot', 'MARK second-boot']);
  assert.equal(bootsOnConsole(log), 2, 'both boots');
  await act(vm.id, 'terminate-hard', 'terminated');
});

test('a suspended VM, destination chosen by the scheduler: its saved memory moves; resumed, it carries on where it stopped', async () => {
  const { vm, ip } = await boot('cold-sus', 2, 'local');
  const before = await guest(ip);
  await lab.mark(vm.id, ip, 'before-suspend');
  await act(vm.id, 'suspend', 'suspended');

  const started = await api().migrateVm(vm.id, {});
  assert.equal(started.kind, 'cold');
  assert.notEqual(started.destination, lab.host(2).name);
  const m = await lab.waitMigration(started.id);
  assert.equal(m.state, 'succeeded', `migration: ${m.reason}`);
  assert.deepEqual(filesOf(m), ['cidata.iso', 'disk.qcow2', 'memory.state']);
  const moved = await api().getVm(vm.id);
  assert.equal(moved.state, 'suspended');
  assert.equal(moved.host, started.destination);
  assert.ok(!(await lab.agentVms(2)).includes(agentVmId(vm.id)), 'nothing of the VM left on h2');

  await act(vm.id, 'resume', 'running');
  const after = await guest(ip);
  assert.equal(after.nonce, before.nonce, 'the same memory: no reboot');
  assert.ok(after.uptime >= before.uptime, `uptime went on (${before.uptime} → ${after.uptime})`);
  assert.equal(after.sum, before.sum);
  // The console goes on where it stopped: h2's lines before the suspend (carried), then the resumed guest's on the destination.
  const log = await lab.mark(vm.id, ip, 'after-resume');
  assertConsoleInOrder(log, ['USERDATA-DONE', 'MARK before-suspend', 'MARK after-resume']);
  assert.equal(bootsOnConsole(log), 1, 'one boot');
  await act(vm.id, 'terminate-hard', 'terminated');
});

test('a suspended VM on the shared datastore, through `nubo vm migrate --wait`: its memory was saved there too, so nothing is copied (a hand-off)', async () => {
  const { vm, ip } = await boot('cold-shared', 3, 'shared');
  const before = await guest(ip);
  await act(vm.id, 'suspend', 'suspended');

  const url = lab.controller?.url;
  assert.ok(url, 'an in-process controller');
  const cli = await runCommand(process.execPath, [NUBO_CLI, 'vm', 'migrate', vm.name, '--to', lab.host(1).name, '--wait', '--json', '--url', url, '--token', lab.token], { timeoutMs: 180_000 });
  const m = JSON.parse(cli.stdout) as MigrationView;
  assert.equal(m.state, 'succeeded', `migration: ${m.reason}`);
  assert.equal(m.kind, 'cold');
  assert.deepEqual(filesOf(m), [], 'the disk and the saved memory stay where both hosts see them');
  assert.deepEqual(stagesOf(m), COLD_STAGES);
  const moved = await api().getVm(vm.id);
  assert.equal(moved.host, lab.host(1).name);
  assert.ok(!(await lab.agentVms(3)).includes(agentVmId(vm.id)), 'nothing of the VM left on h3');

  await act(vm.id, 'resume', 'running');
  const after = await guest(ip);
  assert.equal(after.nonce, before.nonce, 'the same memory: no reboot');
  assert.equal(after.sum, before.sum, 'the same shared disk');
  await act(vm.id, 'terminate-hard', 'terminated');
});

test('cancelled, then its destination agent killed mid-copy: the VM stays whole on its source; the destination keeps nothing', async () => {
  const { vm, ip } = await boot('cold-fault', 3, 'local');
  const before = await guest(ip);
  await act(vm.id, 'poweroff', 'poweroff');
  const slow = { policy: { maxBandwidthMiBps: 1 } };

  // A cancel while the copy runs.
  const first = await api().migrateVm(vm.id, { to: lab.host(2).name, ...slow });
  await copyUnderWay(first.id);
  // The VM is migrating: a second migration is refused and changes nothing.
  const n0 = (await api().listMigrations()).length;
  const busy = await refusal(api().migrateVm(vm.id, { to: lab.host(1).name }));
  assert.equal(busy.status, 409);
  assert.equal(busy.details['check'], 'vm-state', busy.message);
  assert.match(busy.message, /migrating/);
  assert.equal((await api().listMigrations()).length, n0);
  await api().cancelMigration(first.id);
  const cancelled = await lab.waitMigration(first.id);
  assert.equal(cancelled.state, 'aborted');
  assert.match(cancelled.reason ?? '', /cancel/);
  assert.ok(cancelled.journal.some((j) => j.stage === 'aborting'));
  let back = await lab.waitState(vm.id, 'poweroff');
  assert.equal(back.host, lab.host(3).name);
  assert.ok(!(await lab.agentVms(2)).includes(agentVmId(vm.id)), 'the destination kept nothing');
  assert.deepEqual(await partialFiles(2), []);
  assert.deepEqual(await reserved(2), { cpus: 0, memoryMiB: 0, diskMiB: 0 }, 'the reservation is freed');

  // The destination's agent dies mid-copy.
  const second = await api().migrateVm(vm.id, { to: lab.host(2).name, ...slow });
  await copyUnderWay(second.id);
  await lab.killAgent(2);
  const failed = await lab.waitMigration(second.id, 120_000);
  assert.equal(failed.state, 'failed');
  assert.ok(failed.journal.some((j) => j.stage === 'aborting'), 'rolled back');
  assert.match(failed.reason ?? '', /destination/);
  back = await lab.waitState(vm.id, 'poweroff');
  assert.equal(back.host, lab.host(3).name, 'the VM stays on its source');
  assert.deepEqual(await reserved(2), { cpus: 0, memoryMiB: 0, diskMiB: 0 }, 'the reservation is freed');
  assert.ok((await partialFiles(2)).length > 0, 'the killed agent left a partial copy (or the test killed it too late)');

  // Its agent back: the half-copied files are gone.
  await lab.agentsUp(3);
  assert.ok(!(await lab.agentVms(2)).includes(agentVmId(vm.id)), 'no VM directory on h2');
  assert.deepEqual(await partialFiles(2), [], 'no half-copied file on h2');

  // The source's copy is whole: it boots there with its data.
  await act(vm.id, 'start', 'running');
  const after = await rebooted(ip, before);
  assert.equal(after.sum, before.sum);
  assert.equal((await api().getVm(vm.id)).host, lab.host(3).name);
  await act(vm.id, 'terminate-hard', 'terminated');

  await labDown(lab.dir);
  lab.down = true;
  assert.deepEqual(await labLeftovers(lab.prefix), []);
});
