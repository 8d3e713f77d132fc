import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
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
 */

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'nubo.js');
const bridge = 'nubo0t';
let home: string;
let env: NodeJS.ProcessEnv;
let up: DaemonProcess | undefined;
let bridgeWasThere = false;

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
  if (!bridgeWasThere) await deleteLink(bridge);
  await rm(home, { recursive: true, force: true });
});

test('nubo up: a tiny VM on the default network answers HTTP from this host, and nothing is left after', async () => {
  const port = await freePort();
  up = DaemonProcess.start(['up', '--port', String(port), '--bridge', bridge], env);
  await up.waitFor(/nubo is up/, 600_000);
  assert.deepEqual(await addressesOf(bridge), [DEFAULT_NETWORK.hostAddress], 'the bridge holds the host address');

  const { url, token } = await resolveCredentials({}, env);
  const api = new NuboClient(url, token);
  const local = await api.getHost('local');
  assert.equal(local.cpuOvercommit, 4, 'nubo up lets the local host run 4 vCPUs per core');
  const net = (await api.listNetworks()).find((n) => n.name === 'default');
  assert.ok(net, 'the default network is registered');
  assert.deepEqual([net.cidr, net.gateway, net.bridge], [DEFAULT_NETWORK.cidr, DEFAULT_NETWORK.gateway, bridge]);

  const created = await cli(['vm', 'create', '--template', 'tiny', '--name', 'first', '--wait', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const id = (JSON.parse(created.stdout) as { id: string }).id;
  const vm = await api.getVm(id);
  assert.equal(vm.state, 'running');
  const address = vm.nics[0]?.address?.split('/')[0];
  assert.ok(address !== undefined, `the VM has an address: ${JSON.stringify(vm.nics)}`);
  assert.notEqual(address, DEFAULT_NETWORK.gateway, "a lease never takes the host's address");
  assert.match(address, /^198\.19\.0\.\d+$/);

  // The guest's web server starts with its init; give it the time a TCG boot takes.
  const page = await pollUntil(`GET http://${address}/`, async () => httpGet(`http://${address}/`, 3_000).catch(() => undefined), { timeoutMs: 120_000, intervalMs: 500 });
  assert.equal(page.status, 200);
  assert.ok(page.body.length > 0);

  const gone = await cli(['vm', 'terminate', id, '--wait']);
  assert.equal(gone.code, 0, gone.stderr);
  await up.stop();
  assert.equal(up.child.exitCode, 0, up.output.join('').slice(-2000));
  assert.deepEqual(await qemuPidsOf(id), [], 'no QEMU left');
  const { stdout } = await promisify(execFile)('ip', ['-j', 'link', 'show', 'master', bridge]);
  assert.deepEqual(JSON.parse(stdout || '[]'), [], 'no TAP left on the bridge');
});
