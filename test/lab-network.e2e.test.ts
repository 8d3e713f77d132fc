import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { AgentClient } from '../src/client/agent-client.js';
import type { AgentVmSpecInput, ImageRef } from '../src/contract/agent-api.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { processGone, readPidFile } from '../src/hypervisor/qemu/qemu-process.js';
import { labDown, labFabricUp, labUp } from '../src/lab/lab.js';
import { FABRIC_ADDRESS, HOST_BRIDGE, readLabState, type LabHost } from '../src/lab/lab-state.js';
import { linkExists } from '../src/network/lab-topology.js';
import { nsHttpGet } from './support/ns-http-get.js';
import { labLeftovers, reachProber } from './support/lab-checks.js';

/**
 * VMs on the lab fabric with VLAN isolation, driven through each host's agent:
 * a (h1, VLAN 100) reaches b (h2, VLAN 100) and not c (h3, VLAN 200).
 */

const prefix = `nv${randomBytes(3).toString('hex')}`;
let root: string;
let dir: string;
let controller: ControllerDaemon;
let image: TinyImage;
let imageServer: Server;
let refs: { disk: ImageRef; kernel: ImageRef; initrd: ImageRef };
let hosts: LabHost[] = [];
const agents = new Map<string, AgentClient>();
const qemuPids: number[] = [];
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

/** Serves the tiny image to the lab's agents on the fabric address; each agent sends its own host token. */
async function startImageServer(files: Map<string, string>, tokens: () => Promise<string[]>): Promise<number> {
  imageServer = createServer((req, res) => {
    void (async () => {
      const id = /^\/images\/([A-Za-z0-9-]+)$/.exec(req.url ?? '')?.[1];
      const path = id === undefined ? undefined : files.get(id);
      if (!(await tokens()).some((t) => req.headers.authorization === `Bearer ${t}`)) return void res.writeHead(401).end();
      if (!path) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(path).pipe(res);
    })();
  });
  await new Promise<void>((resolve) => imageServer.listen(0, FABRIC_ADDRESS, resolve));
  return (imageServer.address() as AddressInfo).port;
}

async function ref(port: number, id: string, path: string, format: ImageRef['format']): Promise<ImageRef> {
  const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
  return { id, url: `http://${FABRIC_ADDRESS}:${port}/images/${id}`, sha256, sizeBytes: (await stat(path)).size, format };
}

function spec(hostname: string, mac: string, address: string, vlan: number, userData?: string): AgentVmSpecInput {
  return {
    vcpus: 1,
    memoryMiB: 128,
    disk: { image: refs.disk },
    kernel: refs.kernel,
    initrd: refs.initrd,
    cmdline: image.cmdline,
    nics: [{ mac, address, bridge: HOST_BRIDGE, vlan }],
    context: { hostname, ...(userData !== undefined ? { userData } : {}) },
  };
}

function host(name: string): { h: LabHost; agent: AgentClient } {
  const h = hosts.find((x) => x.name === name);
  const agent = agents.get(name);
  assert.ok(h && agent, `lab host ${name}`);
  return { h, agent };
}

async function waitConsole(name: string, id: string, re: RegExp, timeoutMs = 90_000): Promise<string> {
  const { agent } = host(name);
  let last = '';
  try {
    return await pollUntil(`${id}: ${re}`, async () => {
      last = await agent.consoleLog(id);
      return re.test(last) ? last : undefined;
    }, { timeoutMs, intervalMs: 500 });
  } catch (err) {
    throw new Error(`${String(err)}\n--- console of ${id} ---\n${last.slice(-3000)}`, { cause: err });
  }
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-labnet-'));
  dir = join(root, 'lab');
  await labFabricUp(prefix, dir);
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 500, logger });
  const token = (await controller.bootstrapAdmin())!;
  const files = new Map([['tiny-disk', image.dataDisk], ['tiny-kernel', image.kernel], ['tiny-initrd', image.initrd]]);
  const port = await startImageServer(files, async () => Promise.all(hosts.map(async (h) => (await readFile(h.tokenFile, 'utf8')).trim())));
  refs = {
    disk: await ref(port, 'tiny-disk', image.dataDisk, 'qcow2'),
    kernel: await ref(port, 'tiny-kernel', image.kernel, 'kernel'),
    initrd: await ref(port, 'tiny-initrd', image.initrd, 'initrd'),
  };
  const r = await labUp({ prefix, dir, hosts: 3, controller: { url: controller.url, token }, heartbeatMs: 500 });
  hosts = r.state.hosts;
  for (const h of hosts) agents.set(h.name, new AgentClient(h.agentUrl, (await readFile(h.tokenFile, 'utf8')).trim()));
});

after(async () => {
  await labDown(dir).catch(() => {});
  await controller.stop();
  await new Promise<void>((resolve) => (imageServer ? imageServer.close(() => resolve()) : resolve()));
  await rm(root, { recursive: true, force: true });
});

test('VLAN 100 spans hosts h1 and h2; VLAN 200 on h3 is isolated from it', async () => {
  const vms = [
    { host: 'h2', id: 'vb', spec: spec('vb', '52:54:00:40:00:12', '198.18.64.12/24', 100) },
    { host: 'h3', id: 'vc', spec: spec('vc', '52:54:00:40:00:13', '198.18.64.13/24', 200, reachProber(['198.18.64.11', '198.18.64.12'])) },
    { host: 'h1', id: 'va', spec: spec('va', '52:54:00:40:00:11', '198.18.64.11/24', 100, reachProber(['198.18.64.12', '198.18.64.13'])) },
  ];
  const boot = async (v: (typeof vms)[number]): Promise<void> => {
    const { agent, h } = host(v.host);
    await agent.prepare(v.id, v.spec);
    assert.equal((await agent.start(v.id)).state, 'running');
    const pid = await readPidFile(join(h.runDir, v.id, 'qemu.pid'));
    if (pid !== undefined) qemuPids.push(pid);
    await waitConsole(v.host, v.id, new RegExp(`NUBO-READY ${v.id}`));
  };
  // b and c first, side by side (one TCG boot's wait instead of two): a's probes must meet guests that are up.
  await Promise.all([boot(vms[0]!), boot(vms[1]!)]);
  await boot(vms[2]!);
  assert.equal(qemuPids.length, 3);
  // Each TAP is on its VLAN's segment of br0, not on br0 itself.
  assert.equal(await linkExists('br0v100', `${prefix}-h1`), true);
  assert.equal(await linkExists('br0v200', `${prefix}-h3`), true);
  const master = async (ns: string, dev: string): Promise<string | undefined> =>
    (JSON.parse((await runCommand('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])).stdout) as { master?: string }[])[0]?.master;
  assert.equal(await master(`${prefix}-h1`, 'br0x100'), 'br0v100');

  const a = await waitConsole('h1', 'va', /REACH 198\.18\.64\.13 (OK|FAIL)/);
  assert.match(a, /REACH 198\.18\.64\.12 OK/, 'a reaches b: same VLAN, other host');
  assert.match(a, /REACH 198\.18\.64\.13 FAIL/, 'a does not reach c: other VLAN');
  const c = await waitConsole('h3', 'vc', /REACH 198\.18\.64\.12 (OK|FAIL)/);
  assert.match(c, /REACH 198\.18\.64\.11 FAIL/, 'c does not reach a');
  assert.match(c, /REACH 198\.18\.64\.12 FAIL/, 'c does not reach b');

  // The management network is untouched: hosts reach each other and the controller.
  assert.ok((await nsHttpGet(`${prefix}-h1`, 'http://198.18.1.2:7481/')).status >= 200);
  assert.equal((await nsHttpGet(`${prefix}-h3`, `${controller.url}/api/v1/openapi.json`)).status, 200);
  // …and the guests of a VLAN are not on it.
  await assert.rejects(nsHttpGet(`${prefix}-h2`, 'http://198.18.64.12/', 3_000));
});

test('deleting the last VM of a VLAN on a host removes its segment', async () => {
  await host('h3').agent.delete('vc');
  assert.equal(await linkExists('br0v200', `${prefix}-h3`), false);
  assert.equal(await linkExists('br0x200', `${prefix}-h3`), false);
  assert.equal(await linkExists(HOST_BRIDGE, `${prefix}-h3`), true);
});

test('lab down leaves nothing: no namespace, link or QEMU', async () => {
  assert.ok((await readLabState(dir))?.hosts.length === 3);
  await labDown(dir);
  assert.deepEqual(await labLeftovers(prefix), []);
  for (const pid of qemuPids) assert.equal(await processGone(pid), true, `QEMU ${pid} gone`);
});
