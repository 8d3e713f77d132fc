import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { buildConfigDrive } from '../src/storage/config-drive.js';
import { tapExists } from '../src/network/tap-device.js';
import { processGone } from '../src/hypervisor/qemu/qemu-process.js';
import { runCommand } from '../src/util/run-command.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import type { VmSpecInput } from '../src/hypervisor/vm-spec.js';
import { nsHttpGet, type NsHttpResult } from './support/ns-http-get.js';

// One namespace per test run, named after our pid, removed by that exact name.
const NS = `nubo-t${process.pid}`;
const BRIDGE = 'br-t';
const TAP = 'tap-g1';
const GUEST_IP = '198.18.251.10';

let image: TinyImage;
let root: string;
let ds: string;
let driver: QemuDriver;

/** HTTP GET from inside the test namespace (the guest is only reachable there); rejects unless 200. */
async function getInNs(path: string, timeoutMs = 5_000): Promise<NsHttpResult> {
  const r = await nsHttpGet(NS, `http://${GUEST_IP}${path}`, timeoutMs);
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return r;
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-e2e-'));
  ds = join(root, 'ds');
  await mkdir(ds);
  driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [ds, image.dir] });
  await runCommand('ip', ['netns', 'add', NS]);
  await runCommand('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  await runCommand('ip', ['-n', NS, 'link', 'add', BRIDGE, 'type', 'bridge']);
  await runCommand('ip', ['-n', NS, 'addr', 'add', '198.18.251.1/24', 'dev', BRIDGE]);
  await runCommand('ip', ['-n', NS, 'link', 'set', BRIDGE, 'up']);
});

after(async () => {
  for (const s of await driver.list().catch(() => [])) await driver.destroy(s.id).catch(() => {});
  await driver.close();
  await runCommand('ip', ['netns', 'del', NS]).catch(() => {});
  await rm(root, { recursive: true, force: true });
});

async function tapSpec(id: string, userData: string, tap = TAP): Promise<VmSpecInput> {
  return prepareTinyVm({
    image,
    dir: ds,
    id,
    netns: NS,
    userData,
    nics: [{ kind: 'tap', ifname: tap, bridge: BRIDGE, mac: '52:54:00:00:20:01', address: `${GUEST_IP}/24`, gateway: '198.18.251.1' }],
  });
}

test('boots nubo-tiny on a TAP in a namespace: NUBO-READY, HTTP, /data survives a power cycle, nothing left behind', async () => {
  const id = 'g-tap';
  const token = randomBytes(8).toString('hex');
  const spec = await tapSpec(id, `#!/bin/sh\necho ${token} > /data/token\nsync\necho token-written\n`);

  await driver.start(spec);
  const log = await waitForConsole(driver.pathsOf(id).serialLog, `NUBO-READY ${id}`, { timeoutMs: 60_000 });
  assert.match(log, new RegExp(`NUBO-READY ${id}`));
  assert.ok(await tapExists({ name: TAP, netns: NS }), 'the driver made the TAP');

  assert.match((await getInNs('/')).text, new RegExp(id));
  assert.equal((await getInNs('/file-512k')).length, 512 * 1024);
  await waitForConsole(driver.pathsOf(id).serialLog, 'token-written', { timeoutMs: 30_000 });
  assert.equal((await getInNs('/data/token')).text.trim(), token);

  // Power off cleanly (ACPI): the guest unmounts /data and QEMU exits.
  const { pid } = await driver.status(id);
  const off = await driver.shutdown(id, { timeoutMs: 30_000 });
  assert.equal(off.clean, true, 'the guest answered the ACPI power button');
  assert.ok(pid !== undefined && (await processGone(pid)), 'the QEMU process is gone');
  assert.equal(await tapExists({ name: TAP, netns: NS }), false, 'the TAP is gone');

  // Boot again from the same disk, this time with no user data: the file must come from the disk.
  await buildConfigDrive(spec.configDrive!, {
    instanceId: id,
    hostname: id,
    nics: [{ mac: '52:54:00:00:20:01', addresses: [`${GUEST_IP}/24`], gateway: '198.18.251.1' }],
  });
  await driver.start(spec);
  await waitForConsole(driver.pathsOf(id).serialLog, `NUBO-READY ${id}`, { timeoutMs: 60_000 });
  assert.equal((await getInNs('/data/token')).text.trim(), token, '/data kept the file across power off and boot');

  // Paused: the guest does not answer; resumed: it does again.
  await driver.pause(id);
  await assert.rejects(getInNs('/', 2_000));
  await driver.resume(id);
  assert.match((await getInNs('/')).text, new RegExp(id));

  const { pid: pid2 } = await driver.status(id);
  const runDir = driver.pathsOf(id).dir;
  await driver.destroy(id);
  assert.ok(pid2 !== undefined && (await processGone(pid2)), 'no process left');
  await assert.rejects(stat(runDir), 'no sockets or pid file left');
  assert.equal(await tapExists({ name: TAP, netns: NS }), false, 'no TAP left');
});

test('a start that QEMU refuses leaves no TAP, run directory or record behind', async () => {
  const id = 'g-fail';
  const spec = await tapSpec(id, '#!/bin/sh\ntrue\n', 'tap-g2');
  // A CPU model QEMU does not know passes the schema (it is a well-formed name) but QEMU rejects it.
  await assert.rejects(driver.start({ ...spec, cpuModel: 'no-such-cpu' }), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /start of VM g-fail failed/);
    assert.match(err.message, /no-such-cpu/);
    return true;
  });
  assert.equal(await tapExists({ name: 'tap-g2', netns: NS }), false);
  await assert.rejects(stat(driver.pathsOf(id).dir));
  assert.ok(!(await driver.list()).some((v) => v.id === id));
});

test('a graceful shutdown asked while the guest still boots is answered once it boots: the power button is pressed again (clean, not the timeout\'s kill)', async () => {
  const id = 'g-early';
  await driver.start(await tapSpec(id, '#!/bin/sh\ntrue\n', 'tap-g3'));
  // Right after QEMU started the kernel has not even loaded the ACPI button driver: that first press is lost.
  const off = await driver.shutdown(id, { timeoutMs: 90_000 });
  assert.equal(off.clean, true, 'the guest powered itself off (a press after it booted was answered)');
  assert.equal(await tapExists({ name: 'tap-g3', netns: NS }), false);
});
