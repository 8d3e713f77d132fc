import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { AgentService } from '../src/agent/agent-service.js';
import { ImageCache } from '../src/agent/image-cache.js';
import { createAgentServer } from '../src/agent/agent-server.js';
import type { AgentVmSpecInput, ImageRef } from '../src/contract/agent-api.js';
import { AgentClient } from '../src/client/agent-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import { TestImageServer } from './support/image-server.js';

const TOKEN = 'host-secret-1';
let image: TinyImage;
let root: string;
let images: TestImageServer;
let refs: { disk: ImageRef; kernel: ImageRef; initrd: ImageRef };
let agent: { driver: QemuDriver; server: FastifyInstance; client: AgentClient; url: string };

async function startAgent(): Promise<typeof agent> {
  const logger = pino({ level: 'silent' });
  const dataDir = join(root, 'host');
  const driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [dataDir], logger });
  const service = new AgentService({ dataDir, hypervisor: driver, images: new ImageCache(join(dataDir, 'images'), TOKEN), logger });
  await service.lifecycle.adopt();
  const server = createAgentServer({ service, token: TOKEN, logger, hostReport: () => Promise.reject(new Error('not used')) });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  return { driver, server, client: new AgentClient(url, TOKEN), url };
}

async function stopAgent(): Promise<void> {
  await agent.server.close();
  await agent.driver.close(); // the VMs keep running, as when an agent process dies
}

function spec(hostname: string, over: Partial<AgentVmSpecInput> = {}): AgentVmSpecInput {
  return {
    vcpus: 1,
    memoryMiB: 128,
    disk: { image: refs.disk },
    kernel: refs.kernel,
    initrd: refs.initrd,
    cmdline: image.cmdline,
    nics: [{ mac: '52:54:00:00:30:01' }],
    context: { hostname },
    ...over,
  };
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-ag-'));
  await mkdir(join(root, 'host'), { recursive: true });
  images = new TestImageServer(TOKEN);
  await images.start();
  refs = {
    disk: await images.add('tiny-disk', image.dataDisk, 'qcow2'),
    kernel: await images.add('tiny-kernel', image.kernel, 'kernel'),
    initrd: await images.add('tiny-initrd', image.initrd, 'initrd'),
  };
  agent = await startAgent();
});

after(async () => {
  for (const s of await agent.driver.list().catch(() => [])) await agent.driver.destroy(s.id).catch(() => {});
  await stopAgent();
  await images.stop();
  await rm(root, { recursive: true, force: true });
});

function rejectsWith(status: number, code: string, field?: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    if (field !== undefined) {
      const issues = (err.details['issues'] ?? []) as { field: string }[];
      assert.ok(issues.some((i) => i.field === field), `expected field ${field}: ${err.message}`);
    }
    return true;
  };
}

test('every call needs the host token', async () => {
  const res = await fetch(`${agent.url}/agent/v1/vms`);
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
  await assert.rejects(new AgentClient(agent.url, 'wrong').list(), rejectsWith(401, 'UNAUTHORIZED'));
});

test('bad input is refused with the field named, and nothing is made', async () => {
  const c = agent.client;
  await assert.rejects(c.prepare('Bad_Id', spec('a')), rejectsWith(400, 'VALIDATION_FAILED', 'id'));
  await assert.rejects(c.prepare('a1', spec('a', { vcpus: 0 })), rejectsWith(400, 'VALIDATION_FAILED', 'vcpus'));
  await assert.rejects(c.prepare('a1', { ...spec('a'), extra: true } as AgentVmSpecInput), rejectsWith(400, 'VALIDATION_FAILED'));
  await assert.rejects(c.prepare('a1', spec('a', { memoryMiB: 10 ** 9 })), rejectsWith(400, 'VALIDATION_FAILED', 'memoryMiB'));
  await assert.rejects(c.prepare('a1', spec('a', { nics: [{ mac: 'zz' }] })), rejectsWith(400, 'VALIDATION_FAILED', 'nics.0.mac'));
  const raw = await fetch(`${agent.url}/agent/v1/vms/a1`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{not json' });
  assert.equal(raw.status, 400);
  assert.equal(((await raw.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
  // An image whose checksum does not match is not cached, and the VM is not half-made.
  const bad = { ...(await images.add('tiny-disk-bad', image.dataDisk, 'qcow2')), sha256: '0'.repeat(64) };
  await assert.rejects(c.prepare('a1', spec('a', { disk: { image: bad } })), (err: unknown) => rejectsWith(502, 'IMAGE_FETCH_FAILED')(err) && /sha256 mismatch/.test((err as Error).message));
  const missing = { ...refs.disk, id: 'tiny-disk-gone', url: refs.disk.url.replace('tiny-disk', 'tiny-disk-gone') };
  await assert.rejects(c.prepare('a1', spec('a', { disk: { image: missing } })), (err: unknown) => rejectsWith(502, 'IMAGE_FETCH_FAILED')(err) && /HTTP 404/.test((err as Error).message));
  assert.deepEqual(await c.list(), []);
  await assert.rejects(stat(join(root, 'host', 'images', 'tiny-disk-bad.qcow2')));
  await assert.rejects(c.get('a1'), rejectsWith(404, 'VM_NOT_FOUND'));
  await assert.rejects(c.start('nope'), rejectsWith(404, 'VM_NOT_FOUND'));
});

test('prepare, boot, suspend/resume, power off and on, adoption after an agent restart, delete', async () => {
  const id = 'ag-1';
  let r = await agent.client.prepare(id, spec('ag-1'));
  assert.equal(r.state, 'poweroff');
  // Repeating the same prolog is harmless; a different spec for the same VM is a conflict.
  assert.equal((await agent.client.prepare(id, spec('ag-1'))).state, 'poweroff');
  await assert.rejects(agent.client.prepare(id, spec('ag-1', { memoryMiB: 256 })), rejectsWith(409, 'AGENT_VM_CONFLICT'));

  r = await agent.client.start(id);
  assert.equal(r.state, 'running');
  // The console log is the VM's own, beside its disk, kept across its QEMUs (not in the driver's run directory).
  const log = join(root, 'host', 'vms', id, 'console.log');
  assert.equal(agent.driver.consoles.logPath(id), log);
  await waitForConsole(log, `NUBO-READY ${id}`, { timeoutMs: 60_000 });
  assert.equal((await agent.client.start(id)).state, 'running', 'start is idempotent');
  const readyLines = async (): Promise<number> => (await agent.client.consoleLog(id)).split(`NUBO-READY ${id}\r\n`).length - 1;
  const firstBoot = (await stat(log)).size;

  assert.equal((await agent.client.suspend(id)).state, 'suspended');
  assert.ok((await stat(join(root, 'host', 'vms', id, 'memory.state'))).size > 0);
  assert.equal(await readyLines(), 1, 'a suspended VM shows its console up to the suspend');
  assert.equal((await agent.client.start(id)).state, 'running', 'resumed from the saved state');
  await assert.rejects(stat(join(root, 'host', 'vms', id, 'memory.state')), 'the state file is consumed');
  assert.equal(await readyLines(), 1, 'the resumed VM\'s console still holds its boot');
  assert.ok((await stat(log)).size >= firstBoot, 'the log was appended to, not started afresh');

  assert.equal((await agent.client.powerOff(id, false)).state, 'poweroff');
  await assert.rejects(stat(join(root, 'run', id)), 'a powered-off VM leaves no run directory: its log is elsewhere (adoption takes a run directory for a QEMU)');
  assert.equal(await readyLines(), 1, 'a powered-off VM shows its console');
  assert.equal((await agent.client.start(id)).state, 'running');
  await waitForConsole(log, `NUBO-READY ${id}`, { timeoutMs: 60_000, count: 2 });
  assert.equal(await readyLines(), 2, 'both boots, the first one first');

  // The agent dies and comes back: it adopts the running VM.
  const pidBefore = (await agent.client.get(id)).pid;
  await stopAgent();
  agent = await startAgent();
  const after = await agent.client.get(id);
  assert.equal(after.state, 'running');
  assert.equal(after.pid, pidBefore, 'the same QEMU process, not a new boot');
  assert.equal(await readyLines(), 2, 'the adopted VM\'s console is the same log');

  // A second VM from the same images does not fetch them again.
  await agent.client.prepare('ag-2', spec('ag-2', { disk: { image: refs.disk, mode: 'copy' } }));
  assert.deepEqual(Object.fromEntries(images.hits), { 'tiny-disk-bad': 1, 'tiny-disk': 1, 'tiny-kernel': 1, 'tiny-initrd': 1 });
  assert.deepEqual((await agent.client.list()).map((v) => v.id).sort(), ['ag-1', 'ag-2']);

  await agent.client.delete(id);
  await agent.client.delete(id); // idempotent
  await agent.client.delete('ag-2');
  await assert.rejects(agent.client.get(id), rejectsWith(404, 'VM_NOT_FOUND'));
  assert.deepEqual(await readdir(join(root, 'host', 'vms')), []);
  assert.deepEqual(await agent.driver.list(), []);
});
