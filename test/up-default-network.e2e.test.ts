import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { tapName } from '../src/agent/hypervisor-vm-spec.js';
import { httpGet } from './support/http-get.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { resolveCredentials } from '../src/cli/credentials.js';
import { DEFAULT_NETWORK } from '../src/network/default-network.js';
import { addressesOf, deleteLink, linkExists } from '../src/network/lab-topology.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';

/**
 * The README's first steps on one machine, with the real processes: `nubo up`
 * → `nubo vm create --template tiny --wait` → the VM's address from the API →
 * an HTTP GET from this host to the guest → terminate → stop `nubo up` →
 * nothing left. The bridge has a name of the test's own (the default
 * network's address, 198.19.0.1/16, is the same), removed by that name if the
 * test made it.
 *
 * The same `nubo up` and VM (one boot under TCG is the expensive part) show a
 * fresh NUBO_HOME kept to its owner: the controller's database (the hosts'
 * tokens), the credentials, the image store and the host's VM disks carry no
 * group or world bits; the tiny images reach the controller as uploads (nubo
 * up names no path), and the VM boots from them.
 */

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'nubo.js');
const bridge = 'nubo0t';
let home: string;
let env: NodeJS.ProcessEnv;
let up: DaemonProcess | undefined;
let bridgeWasThere = false;
let vmId: string | undefined;

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) await walk(p, out);
  }
  return out;
}

const cli = async (args: string[], timeoutMs = 300_000): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, ...args], { env, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
};

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'nubo-up-'));
  // The shared image cache (not the temp home's): the image is built once per machine.
  env = { ...process.env, NUBO_HOME: home, NUBO_IMAGE_CACHE: imageCacheDir() };
  // This test's own controller, not one the environment names.
  delete env['NUBO_URL'];
  delete env['NUBO_TOKEN'];
  bridgeWasThere = await linkExists(bridge);
});

after(async () => {
  await up?.stop();
  // VMs outlive nubo up by design: one the test's terminate did not reach is ended here, by its own pid, and its
  // TAP removed by its exact name.
  if (vmId !== undefined) {
    for (const pid of await qemuPidsOf(agentVmId(vmId))) process.kill(pid, 'SIGKILL');
    await deleteLink(tapName(agentVmId(vmId), 0));
  }
  if (!bridgeWasThere) await deleteLink(bridge);
  await rm(home, { recursive: true, force: true });
});

test('nubo up: a tiny VM from the uploaded tiny image on the default network answers HTTP from this host; NUBO_HOME stays its owner\'s; nothing is left after', async () => {
  let port = await freePort();
  // nubo up takes two ports in a row (API, agent).
  while (port > 60_000) port = await freePort();
  up = DaemonProcess.start(['up', '--port', String(port), '--bridge', bridge], env);
  await up.waitFor(/nubo is up/, 600_000);
  // Its EC2 and S3 listeners start with it: none of the libraries may print a deprecation on the user's terminal.
  assert.doesNotMatch(up.output.join(''), /DeprecationWarning|FSTDEP/, 'nubo up prints no deprecation warning');
  assert.deepEqual(await addressesOf(bridge), [DEFAULT_NETWORK.hostAddress], 'the bridge holds the host address');

  const { url, token } = await resolveCredentials({}, env);
  const api = new NuboClient(url, token);
  const local = await api.getHost('local');
  assert.equal(local.cpuOvercommit, 4, 'nubo up lets the local host run 4 vCPUs per core');
  const names = (await api.listImages()).map((i) => i.name).sort();
  assert.deepEqual(names, ['nubo-tiny-disk', 'nubo-tiny-initrd', 'nubo-tiny-kernel']);
  const net = (await api.listNetworks()).find((n) => n.name === 'default');
  assert.ok(net, 'the default network is registered');
  assert.deepEqual([net.cidr, net.gateway, net.bridge], [DEFAULT_NETWORK.cidr, DEFAULT_NETWORK.gateway, bridge]);

  const created = await cli(['vm', 'create', '--template', 'tiny', '--name', 'first', '--wait', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const id = (JSON.parse(created.stdout) as { id: string }).id;
  vmId = id;
  const vm = await api.getVm(id);
  assert.equal(vm.state, 'running');
  const address = vm.nics[0]?.address?.split('/')[0];
  assert.ok(address !== undefined, `the VM has an address: ${JSON.stringify(vm.nics)}`);
  assert.notEqual(address, DEFAULT_NETWORK.gateway, "a lease never takes the host's address");
  assert.match(address, /^198\.19\.0\.\d+$/);

  const paths = await walk(home);
  const disks = paths.filter((p) => p.startsWith(join(home, 'hosts')) && /\.(qcow2|iso|raw)$/.test(p));
  assert.ok(disks.length > 0, `the host's VM disks are under NUBO_HOME: ${paths.join(', ')}`);
  assert.ok(paths.includes(join(home, 'controller', 'nubo.db')));
  assert.ok(paths.some((p) => p.startsWith(join(home, 'controller', 'images', ''))), 'the image store');
  assert.ok(paths.includes(join(home, 'credentials.json')));
  const open: string[] = [];
  for (const p of [home, ...paths]) {
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    if ((st.mode & 0o077) !== 0) open.push(`${p} ${(st.mode & 0o777).toString(8)}`);
  }
  assert.deepEqual(open, [], 'nothing in NUBO_HOME is readable by group or others');

  // The guest's web server starts with its init; give it the time a TCG boot takes.
  const page = await pollUntil(`GET http://${address}/`, async () => httpGet(`http://${address}/`, 3_000).catch(() => undefined), { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal(page.status, 200);
  assert.ok(page.body.length > 0);

  const gone = await cli(['vm', 'terminate', id, '--wait']);
  assert.equal(gone.code, 0, gone.stderr);
  await up.stop();
  assert.equal(up.child.exitCode, 0, up.output.join('').slice(-2000));
  assert.deepEqual(await qemuPidsOf(agentVmId(id)), [], 'no QEMU left');
  const { stdout } = await promisify(execFile)('ip', ['-j', 'link', 'show', 'master', bridge]);
  assert.deepEqual(JSON.parse(stdout || '[]'), [], 'no TAP left on the bridge');
});
