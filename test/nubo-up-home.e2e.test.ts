import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NuboClient } from '../src/client/nubo-client.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { deleteLink, linkExists } from '../src/network/lab-topology.js';
import { tapName } from '../src/agent/agent-service.js';

// A fresh NUBO_HOME after `nubo up` and one VM: the controller's database
// (the hosts' tokens), the credentials, the image store and the host's VM
// disks carry no group or world bits. The tiny images reach the controller
// as uploads (nubo up names no path), and the VM boots from them.

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) await walk(p, out);
  }
  return out;
}

test('nubo up keeps NUBO_HOME to its owner and boots a VM from the uploaded tiny image', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nubo-home-'));
  let port = await freePort();
  // nubo up takes two ports in a row (API, agent).
  while (port > 60_000) port = await freePort();
  // A bridge of the test's own: nubo up leaves its default network's bridge in place (VMs outlive it), and the
  // machine's own `nubo0` is not the test's to make or remove.
  const bridge = 'nubo0h';
  const bridgeWasThere = await linkExists(bridge);
  const up = DaemonProcess.start(['up', '--port', String(port), '--bridge', bridge], { NUBO_HOME: home, NUBO_IMAGE_CACHE: imageCacheDir() });
  let api: NuboClient | undefined;
  let vmId: string | undefined;
  try {
    await up.waitFor(/nubo is up/, 180_000);
    const creds = JSON.parse(await readFile(join(home, 'credentials.json'), 'utf8')) as { url: string; token: string };
    api = new NuboClient(creds.url, creds.token);
    const names = (await api.listImages()).map((i) => i.name).sort();
    assert.deepEqual(names, ['nubo-tiny-disk', 'nubo-tiny-initrd', 'nubo-tiny-kernel']);
    const vm = await api.createVm({ template: 'tiny', name: 'perm-check' });
    vmId = vm.id;
    const a = api;
    await pollUntil('the VM running', async () => ((await a.getVm(vm.id)).state === 'running' ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });

    const paths = await walk(home);
    const disks = paths.filter((p) => p.startsWith(join(home, 'hosts')) && /\.(qcow2|iso|raw)$/.test(p));
    assert.ok(disks.length > 0, `the host's VM disks are under NUBO_HOME: ${paths.join(', ')}`);
    assert.ok(paths.includes(join(home, 'controller', 'nubo.db')));
    assert.ok(paths.some((p) => p.startsWith(join(home, 'controller', 'images', ''))), 'the image store');
    const open: string[] = [];
    for (const p of [home, ...paths]) {
      const st = await lstat(p);
      if (st.isSymbolicLink()) continue;
      if ((st.mode & 0o077) !== 0) open.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    }
    assert.deepEqual(open, [], 'nothing in NUBO_HOME is readable by group or others');
  } finally {
    if (api && vmId !== undefined) {
      const a = api;
      const id = vmId;
      await a.vmAction(id, 'terminate').catch(() => undefined);
      await pollUntil('the VM terminated', async () => ((await a.getVm(id)).state === 'terminated' ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 }).catch(() => undefined);
    }
    await up.stop();
    // VMs outlive nubo up by design: one the terminate did not reach is ended here, by its own pid.
    if (vmId !== undefined) for (const pid of await qemuPidsOf(agentVmId(vmId))) process.kill(pid, 'SIGKILL');
    // Its TAP too, by its exact name, if the terminate did not get to remove it.
    if (vmId !== undefined) await deleteLink(tapName(agentVmId(vmId), 0));
    if (!bridgeWasThere) await deleteLink(bridge);
    await rm(home, { recursive: true, force: true });
  }
});
