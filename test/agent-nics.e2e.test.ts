import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { FakeDriver } from '../src/hypervisor/fake/fake-driver.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { runCommand } from '../src/util/run-command.js';
import { AgentService } from '../src/agent/agent-service.js';
import { tapName } from '../src/agent/hypervisor-vm-spec.js';
import { ImageCache } from '../src/agent/image-cache.js';
import { createAgentServer } from '../src/agent/agent-server.js';
import type { AgentVmSpecInput, AttachNicRequest, ImageRef } from '../src/contract/agent-api.js';
import { AgentClient } from '../src/client/agent-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import { TestImageServer } from './support/image-server.js';

/**
 * The agent's NIC routes over the fake driver (the QEMU side of hot-plug is
 * the hypervisor contract suite's; the guest's, the lab suite's): the stored
 * spec, the config drive and the driver's device model change together;
 * both calls are idempotent; refusals name the field or the state.
 */

const TOKEN = 'host-secret-nics';
let image: TinyImage;
let root: string;
let dataDir: string;
let images: TestImageServer;
let refs: { disk: ImageRef; kernel: ImageRef; initrd: ImageRef };
let driver: FakeDriver;
let server: FastifyInstance;
let client: AgentClient;
let url: string;

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-agnic-'));
  dataDir = join(root, 'host');
  await mkdir(dataDir, { recursive: true });
  images = new TestImageServer(TOKEN);
  await images.start();
  refs = {
    disk: await images.add('tiny-disk', image.dataDisk, 'qcow2'),
    kernel: await images.add('tiny-kernel', image.kernel, 'kernel'),
    initrd: await images.add('tiny-initrd', image.initrd, 'initrd'),
  };
  const logger = pino({ level: 'silent' });
  driver = new FakeDriver({ allowedDirs: [dataDir] });
  const service = new AgentService({ dataDir, hypervisor: driver, images: new ImageCache(join(dataDir, 'images'), TOKEN), logger });
  server = createAgentServer({ service, token: TOKEN, logger, hostReport: () => Promise.reject(new Error('not used')) });
  await server.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  client = new AgentClient(url, TOKEN);
});

after(async () => {
  await server.close();
  await images.stop();
  await rm(root, { recursive: true, force: true });
});

const spec = (hostname: string): AgentVmSpecInput => ({
  vcpus: 1, memoryMiB: 128, disk: { image: refs.disk }, kernel: refs.kernel, initrd: refs.initrd, cmdline: image.cmdline,
  nics: [{ mac: '52:54:00:00:40:01', address: '198.18.66.2/24', gateway: '198.18.66.254', bridge: 'br0' }],
  context: { hostname },
});
const nic = (index: number, last: number): AttachNicRequest => ({ mac: `52:54:00:00:41:${last.toString(16).padStart(2, '0')}`, address: `198.18.67.${last}/24`, gateway: '198.18.67.254', bridge: 'br0', index });

function rejectsWith(status: number, code: string, match?: RegExp | string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    if (typeof match === 'string') assert.ok(((err.details['issues'] ?? []) as { field: string }[]).some((i) => i.field === match), `names ${match}: ${err.message}`);
    else if (match) assert.match(err.message, match);
    return true;
  };
}

const isoOf = (id: string): string => join(dataDir, 'vms', id, 'cidata.iso');
const networkConfig = async (id: string): Promise<string> => (await runCommand('isoinfo', ['-R', '-i', isoOf(id), '-x', '/network-config'])).stdout;
const stored = async (id: string): Promise<{ nics: { mac: string; index?: number }[] }> => JSON.parse(await readFile(join(dataDir, 'vms', id, 'agent-vm.json'), 'utf8')) as { nics: { mac: string; index?: number }[] };
const hvNics = (id: string) => driver.specOf(id).nics.map((n) => ({ id: n.id, mac: n.mac, pciSlot: n.pciSlot, ...(n.kind === 'tap' ? { ifname: n.ifname } : {}) }));

test('running: attach hot-plugs and rewrites spec and config drive (by rename); idempotent; conflicts refused', async () => {
  const id = 'nic-run';
  await client.prepare(id, spec(id));
  assert.equal((await client.start(id)).state, 'running');
  assert.deepEqual(hvNics(id), [{ id: 'nic0', mac: '52:54:00:00:40:01', pciSlot: 0x10, ifname: tapName(id, 0) }], 'NIC 0 at its fixed PCI slot');
  const oldIso = await open(isoOf(id), 'r');
  try {
    const r = await client.attachNic(id, nic(1, 10));
    assert.equal(r.state, 'running');
    assert.deepEqual(hvNics(id)[1], { id: 'nic1', mac: '52:54:00:00:41:0a', pciSlot: 0x11, ifname: tapName(id, 1) });
    assert.deepEqual((await stored(id)).nics.map((n) => [n.index, n.mac]), [[0, '52:54:00:00:40:01'], [1, '52:54:00:00:41:0a']]);
    const cfg = await networkConfig(id);
    assert.match(cfg, /macaddress: "52:54:00:00:41:0a"[\s\S]*- 198\.18\.67\.10\/24/);
    // The running QEMU's open file still reads the old drive: it was replaced by a rename, not rewritten.
    const before = (await oldIso.readFile()).toString('latin1');
    assert.ok(!before.includes('198.18.67.10'), 'the open file is the old drive');
  } finally {
    await oldIso.close();
  }
  await client.attachNic(id, nic(1, 10)); // the same NIC again
  assert.equal(hvNics(id).length, 2, 'nothing added twice');
  await assert.rejects(client.attachNic(id, nic(1, 11)), rejectsWith(409, 'AGENT_VM_CONFLICT', /NIC 1 is already there/));
  await assert.rejects(client.attachNic(id, { ...nic(2, 12), mac: '52:54:00:00:41:0a' }), rejectsWith(409, 'AGENT_VM_CONFLICT', /MAC 52:54:00:00:41:0a/));
  await assert.rejects(client.attachNic(id, { ...nic(8, 12) }), rejectsWith(400, 'VALIDATION_FAILED', 'index'));
  await assert.rejects(client.attachNic(id, { ...nic(2, 12), colour: 'red' } as AttachNicRequest), rejectsWith(400, 'VALIDATION_FAILED', 'colour'));
  const { index: _i, ...noIndex } = nic(2, 12);
  await assert.rejects(client.attachNic(id, noIndex as AttachNicRequest), rejectsWith(400, 'VALIDATION_FAILED', 'index'));
  await assert.rejects(client.attachNic('nope', nic(2, 12)), rejectsWith(404, 'VM_NOT_FOUND'));
  assert.equal((await stored(id)).nics.length, 2, 'refusals changed nothing');

  // Detach NIC 0: NIC 1 keeps its id, TAP and slot.
  await client.detachNic(id, 0);
  await client.detachNic(id, 0); // already gone
  assert.deepEqual(hvNics(id), [{ id: 'nic1', mac: '52:54:00:00:41:0a', pciSlot: 0x11, ifname: tapName(id, 1) }]);
  assert.deepEqual((await stored(id)).nics.map((n) => [n.index, n.mac]), [[1, '52:54:00:00:41:0a']]);
  assert.doesNotMatch(await networkConfig(id), /198\.18\.66\.2/);
  const raw = await fetch(`${url}/agent/v1/vms/${id}/nics/x`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(raw.status, 400);
  // A boot after all this has the same device model.
  await client.powerOff(id, true);
  await client.start(id);
  assert.deepEqual(hvNics(id), [{ id: 'nic1', mac: '52:54:00:00:41:0a', pciSlot: 0x11, ifname: tapName(id, 1) }]);
  await client.delete(id);
});

test('powered off: spec and config drive only, the next start has the NIC; suspended: refused', async () => {
  const id = 'nic-off';
  await client.prepare(id, spec(id));
  assert.equal((await client.attachNic(id, nic(1, 20))).state, 'poweroff');
  assert.match(await networkConfig(id), /- 198\.18\.67\.20\/24/);
  await client.start(id);
  assert.deepEqual(hvNics(id).map((n) => n.id), ['nic0', 'nic1']);
  assert.equal((await client.suspend(id)).state, 'suspended');
  await assert.rejects(client.attachNic(id, nic(2, 21)), rejectsWith(409, 'AGENT_VM_CONFLICT', /suspended/));
  await assert.rejects(client.detachNic(id, 1), rejectsWith(409, 'AGENT_VM_CONFLICT', /suspended/));
  await client.powerOff(id, true);
  assert.equal((await client.detachNic(id, 1)).state, 'poweroff');
  assert.doesNotMatch(await networkConfig(id), /198\.18\.67\.20/);
  await client.delete(id);
});
