import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { NuboClient } from '../src/client/nubo-client.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { pollUntil } from '../src/util/deadline.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';

// Reboot with real QEMU: the soft reboot asks the guest (ACPI), which syncs
// and powers off by itself, then boots it again — so a file it had only in its
// page cache is on its disk afterwards; a guest that ignores the power button
// is reset after the grace, and the VM says so; --hard resets at once. The
// guest counts its boots in /data and, on each boot, prints the checksum of
// the file it wrote on the boot before, then writes a new one without sync.

const GRACE_S = 8;
let cloud: InProcessCloud;
let api: NuboClient;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

const USER_DATA = `#!/bin/sh
n=$(( $(cat /data/boots 2>/dev/null || echo 0) + 1 ))
echo $n > /data/boots
sync
if [ "$n" = 2 ]; then
  # Deaf to the power button on its second boot: init's watcher is a dd blocked on the button's event device.
  for p in $(pidof dd); do kill $p; done
  echo "DEAF $n"
fi
echo "BOOT $n $(md5sum /data/note-$(( n - 1 )) 2>/dev/null | cut -c1-32)"
# Only in the page cache (ext4 writes it back after ~30 s): a clean shutdown writes it out, a reset loses it.
head -c 262144 /dev/urandom > /data/note-$n
echo "WROTE $n $(md5sum /data/note-$n | cut -c1-32)"
`;

// Whole lines only: a line the guest is still writing could hand back a cut checksum.
const lines = async (id: string, word: string): Promise<string[][]> =>
  [...(await api.vmConsole(id)).matchAll(new RegExp(`^${word} ([^\\r\\n]*)\\r?\\n`, 'gm'))].map((m) => m[1]!.split(' '));

async function line(id: string, word: string, n: number, timeoutMs = 120_000): Promise<string[]> {
  return pollUntil(`${word} ${n} on the console`, async () => (await lines(id, word)).find((f) => f[0] === String(n)), { timeoutMs, intervalMs: 300 });
}

async function waitRunning(id: string, timeoutMs = 240_000): Promise<VmDetailView> {
  return pollUntil(`VM ${id} running`, async () => {
    const v = await api.getVm(id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return v.state === 'running' ? v : undefined;
  }, { timeoutMs, intervalMs: 250 });
}

/** The console from the line starting with `from` on. */
async function consoleFrom(id: string, from: string): Promise<string> {
  const log = await api.vmConsole(id);
  const at = log.indexOf(from);
  assert.ok(at >= 0, `the console has ${from}`);
  return log.slice(at);
}

let vmId: string;

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-reboot-', logger, rebootGraceS: GRACE_S });
  api = cloud.api;
  vmId = (await api.createVm({ template: 'tiny', name: 'rebooter', userData: USER_DATA })).id;
  await waitRunning(vmId);
});

after(async () => {
  await cloud.stop();
});

test('reboot asks the guest: it shuts down by itself, writing out what it had only in memory, and boots again; nubo vm reboot --wait waits for that', async () => {
  const [, wrote] = await line(vmId, 'WROTE', 1);
  assert.match(wrote ?? '', /^[0-9a-f]{32}$/);
  const t0 = Date.now();
  const r = await runCli(['vm', 'reboot', vmId, '--wait', '--json', '--url', api.baseUrl, '--token', api.token]);
  assert.equal(r.code, 0, r.stderr);
  const done = JSON.parse(r.stdout) as VmDetailView;
  assert.equal(done.state, 'running');
  assert.equal(done.stateReason, null, 'a clean reboot leaves no reason');
  // The CLI came back only after the reboot: the guest had shut down and was started again by then.
  assert.match(await consoleFrom(vmId, 'WROTE 1'), /power button pressed, shutting down/);
  const boot2 = await line(vmId, 'BOOT', 2);
  assert.equal(boot2[1], wrote, 'the file written just before the reboot is on the disk, whole');
  const states = (await api.getVm(vmId)).history.filter((h) => Date.parse(h.at) >= t0 - 1000);
  assert.deepEqual(states.map((h) => [h.from, h.to, h.action]), [['running', 'boot', 'reboot'], ['boot', 'running', 'reboot']]);
  assert.match(states[1]?.reason ?? '', /shut down by itself/);
});

test('a guest that ignores the power button is reset after the grace, and the VM, its history and the CLI say so', async () => {
  await line(vmId, 'DEAF', 2);
  await line(vmId, 'WROTE', 2);
  const t0 = Date.now();
  const asked = await api.vmAction(vmId, 'reboot');
  assert.equal(asked.state, 'boot', 'the action answers in boot, not in the running of before');
  const back = await waitRunning(vmId);
  assert.ok(Date.now() - t0 >= GRACE_S * 1000, `the guest had its ${GRACE_S} s grace first`);
  assert.match(back.stateReason ?? '', new RegExp(`rebooted by a reset: the guest did not shut down within ${GRACE_S} s`));
  const last = (await api.getVm(vmId)).history.at(-1);
  assert.equal(last?.to, 'running');
  assert.match(last?.reason ?? '', /reset instead of a clean reboot/);
  await line(vmId, 'BOOT', 3);
  // The CLI shows it too.
  const shown = await runCli(['vm', 'show', vmId, '--url', api.baseUrl, '--token', api.token]);
  assert.match(shown.stdout, /rebooted by a reset/);
});

test('--hard resets at once: the guest is not asked', async () => {
  await line(vmId, 'WROTE', 3);
  const r = await runCli(['vm', 'reboot', vmId, '--hard', '--wait', '--url', api.baseUrl, '--token', api.token]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /rebooted by a reset: a hard reboot/);
  await line(vmId, 'BOOT', 4);
  const since = await consoleFrom(vmId, 'WROTE 3');
  assert.doesNotMatch(since.slice(0, since.indexOf('BOOT 4')), /power button pressed/, 'no ACPI shutdown before the reset');
  const last = (await api.getVm(vmId)).history.at(-1);
  assert.equal(last?.action, 'reboot-hard');
  assert.match(last?.reason ?? '', /hard reboot/);
});
