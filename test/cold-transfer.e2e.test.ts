import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Dirent } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { AgentService } from '../src/agent/agent-service.js';
import { ImageCache } from '../src/agent/image-cache.js';
import { createAgentServer } from '../src/agent/agent-server.js';
import type { AgentVmSpecInput, ImageRef, ReceiveStatus } from '../src/contract/agent-api.js';
import { AgentClient } from '../src/client/agent-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import { FakeDriver } from '../src/hypervisor/fake/fake-driver.js';
import { imageInfo } from '../src/storage/qemu-img.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { TestImageServer } from './support/image-server.js';
import { BURST_MS } from '../src/transfer/pacer.js';

/**
 * The agent-to-agent copy of a cold migration, between two real agent HTTP
 * servers on loopback with real qemu-img disks (no VM runs during a cold
 * copy, so the in-memory hypervisor driver stands in for QEMU): the copy is
 * verified and installed with the overlay on the destination's own base;
 * every failure leaves the destination empty and the source whole.
 */

const TOKEN = 'host-token-0123456789abcdef0123456789abcdef';
/** The destinations' "cold migration copy phases" lines (where a copy's time went), kept whatever NUBO_TEST_LOG says. */
const phaseLines: Record<string, unknown>[] = [];
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'info' }, {
  write: (line: string): void => {
    const j = JSON.parse(line) as Record<string, unknown>;
    if (j['msg'] === 'cold migration copy phases') phaseLines.push(j);
    if (process.env['NUBO_TEST_LOG'] !== undefined) process.stdout.write(line);
  },
});
let root: string;
let images: TestImageServer;
let base: ImageRef;

interface Agent { dir: string; service: AgentService; server: FastifyInstance; client: AgentClient; url: string }
const agents: Agent[] = [];

/** `localCopies` false: this agent pulls over HTTP even from an agent on this machine (the path between machines). */
async function agent(name: string, localCopies = true): Promise<Agent> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const service = new AgentService({ dataDir: dir, hypervisor: new FakeDriver({ allowedDirs: [dir] }), images: new ImageCache(join(dir, 'images'), TOKEN), logger, localCopies });
  const server = createAgentServer({ service, token: TOKEN, logger, hostReport: () => Promise.reject(new Error('not used')) });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  const a = { dir, service, server, client: new AgentClient(url, TOKEN), url };
  agents.push(a);
  return a;
}

const spec = (hostname: string): AgentVmSpecInput => ({ vcpus: 1, memoryMiB: 128, disk: { image: base }, nics: [], context: { hostname } });

/** A prepared VM on `a` whose overlay holds 3 MiB of its own data (and saved memory when `suspended`). */
async function preparedVm(a: Agent, id: string, suspended = false): Promise<void> {
  await a.client.prepare(id, spec(id));
  await runCommand('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 3M', join(a.dir, 'vms', id, 'disk.qcow2')]);
  if (suspended) await writeFile(join(a.dir, 'vms', id, 'memory.state'), Buffer.alloc(2 * 1024 * 1024, 7));
}

async function copy(src: Agent, dst: Agent, id: string, migrationId: string, maxBandwidthBytes?: number): Promise<ReceiveStatus> {
  const offer = await src.client.offerTransfer(id, { migrationId });
  return dst.client.receive(id, {
    migrationId, spec: spec(id), source: { url: src.url, transferId: offer.transferId, token: offer.token }, files: offer.files,
    ...(maxBandwidthBytes !== undefined ? { maxBandwidthBytes } : {}),
  });
}

async function ended(dst: Agent, id: string): Promise<ReceiveStatus> {
  return pollUntil(`copy of ${id} ends`, async () => {
    const s = await dst.client.receiveStatus(id);
    return s.state === 'copying' ? undefined : s;
  }, { timeoutMs: 30_000, intervalMs: 50 });
}

async function leftovers(a: Agent): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries: Dirent[] = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (/\.part|\.tmp/.test(e.name)) out.push(join(d, e.name));
    }
  };
  await walk(a.dir);
  return out;
}

async function notHeld(a: Agent, id: string): Promise<void> {
  const e = await a.client.receiveStatus(id).then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof RemoteError && e.code === 'VM_NOT_FOUND', `no copy status: ${String(e)}`);
  assert.ok(!(await readdir(join(a.dir, 'vms')).catch(() => [] as string[])).includes(id), 'no VM directory');
  assert.deepEqual(await leftovers(a), [], 'no partial file');
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-coldxfer-'));
  images = new TestImageServer(TOKEN);
  await images.start();
  const basePath = join(root, 'base.qcow2');
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', basePath, '16M']);
  await runCommand('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 8M', basePath]);
  base = await images.add('base-1', basePath, 'qcow2');
});

after(async () => {
  for (const a of agents) await a.server.close();
  await images.stop();
  await rm(root, { recursive: true, force: true });
});

for (const [how, localCopies] of [['copied by the kernel (agents on one machine)', true], ['over HTTP (local copies off)', false]] as const) {
test(`a powered-off VM, ${how}: verified, installed with its overlay on the destination's own base, then committed`, async () => {
  const [a, b] = [await agent(`a1-${localCopies}`), await agent(`b1-${localCopies}`, localCopies)];
  await preparedVm(a, 'vm-off');
  const mark = phaseLines.length;
  const first = await copy(a, b, 'vm-off', 'mig-1');
  assert.equal(first.migrationId, 'mig-1');
  const s = await ended(b, 'vm-off');
  assert.equal(s.state, 'verified', s.error);
  assert.deepEqual(s.files.map((f) => f.name).sort(), ['cidata.iso', 'disk.qcow2']);
  assert.ok(s.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256 ?? '')), 'a sha256 per file');
  assert.equal(s.copiedBytes, s.totalBytes);
  // A local copy has its bytes in before the source's hash ends: the disk was adopted (header read, overlay rebased) then, beside it.
  const phases = phaseLines.slice(mark).find((l) => l['vmId'] === 'vm-off');
  assert.equal(phases?.['disk.qcow2:adoptedBesideHash'], localCopies ? 1 : undefined, JSON.stringify(phases));
  // The same guest-visible bytes, through each host's own base.
  const srcDisk = join(a.dir, 'vms', 'vm-off', 'disk.qcow2');
  const dstDisk = join(b.dir, 'vms', 'vm-off', 'disk.qcow2');
  await runCommand('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', srcDisk, dstDisk]);
  assert.equal((await imageInfo(dstDisk)).backingFile, join(b.dir, 'images', 'base-1.qcow2'));
  assert.equal((await b.client.get('vm-off')).state, 'poweroff');
  assert.deepEqual(await leftovers(b), []);
  // Asked again (a controller retrying): the same answer, nothing copied twice.
  assert.equal((await copy(a, b, 'vm-off', 'mig-1')).state, 'verified');
  // Another migration of a VM the destination holds is refused.
  await assert.rejects(copy(a, b, 'vm-off', 'mig-2'), { code: 'AGENT_VM_CONFLICT' });
  await b.client.commitReceive('vm-off');
  assert.equal((await b.client.receiveStatus('vm-off')).state, 'done');
  // The source is untouched until it is released.
  assert.equal((await a.client.get('vm-off')).state, 'poweroff');
  await a.client.release('vm-off');
  await assert.rejects(a.client.get('vm-off'), { code: 'VM_NOT_FOUND' });
});
}

test('a suspended VM: its saved memory moves too, and it is suspended on the destination', async () => {
  const [a, b] = [await agent('a2'), await agent('b2')];
  await preparedVm(a, 'vm-sus', true);
  assert.equal((await a.client.get('vm-sus')).state, 'suspended');
  await copy(a, b, 'vm-sus', 'mig-3');
  const s = await ended(b, 'vm-sus');
  assert.equal(s.state, 'verified', s.error);
  assert.deepEqual(s.files.map((f) => f.name).sort(), ['cidata.iso', 'disk.qcow2', 'memory.state']);
  assert.equal((await b.client.get('vm-sus')).state, 'suspended');
  assert.equal((await stat(join(b.dir, 'vms', 'vm-sus', 'memory.state'))).size, 2 * 1024 * 1024);
});

test('under a cap, the files of a suspended VM go one after another: the cap holds for the copy as a whole', async () => {
  const [a, b] = [await agent('a2c'), await agent('b2c')];
  await preparedVm(a, 'vm-sus-cap', true);
  const cap = 4 * 1024 * 1024;
  const t0 = performance.now();
  const started = await copy(a, b, 'vm-sus-cap', 'mig-3c', cap);
  const s = await ended(b, 'vm-sus-cap');
  const took = performance.now() - t0;
  assert.equal(s.state, 'verified', s.error);
  // Each file may start with one burst of the cap (pacer.ts: BURST_MS); beyond that every byte waits its turn.
  const bursts = started.files.length * (cap * BURST_MS) / 1000;
  const floorMs = ((s.totalBytes - bursts) / cap) * 1000;
  assert.ok(took >= floorMs, `${s.totalBytes} bytes under a cap of ${cap} B/s took ${Math.round(took)} ms, less than ${Math.round(floorMs)} ms`);
});

test('the source offers only a VM at rest, and does not boot it while its files are offered', async () => {
  const a = await agent('a3');
  await preparedVm(a, 'vm-busy');
  const offer = await a.client.offerTransfer('vm-busy', { migrationId: 'mig-4' });
  await assert.rejects(a.client.start('vm-busy'), (e: unknown) => e instanceof RemoteError && e.code === 'AGENT_VM_CONFLICT' && /being copied/.test(e.message));
  await a.client.revokeTransfer('vm-busy');
  assert.equal((await a.client.start('vm-busy')).state, 'running');
  await assert.rejects(a.client.offerTransfer('vm-busy', { migrationId: 'mig-5' }), (e: unknown) => e instanceof RemoteError && e.code === 'AGENT_VM_CONFLICT' && /running/.test(e.message));
  // The revoked token reads nothing; neither does the host token.
  for (const token of [offer.token, TOKEN]) {
    const res = await fetch(`${a.url}/agent/v1/transfers/${offer.transferId}/files/disk.qcow2`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401);
  }
  await assert.rejects(a.client.offerTransfer('vm-busy', { migrationId: '', ttlS: 1 }), (e: unknown) => e instanceof RemoteError && e.status === 400 && /migrationId/.test(e.message) && /ttlS/.test(e.message));
});

test('failures leave the destination empty and the source whole: a wrong token, a file that changed size, a base image the store lacks, one that hangs, a release mid-copy', async () => {
  const [a, b] = [await agent('a4'), await agent('b4')];
  await preparedVm(a, 'vm-bad');
  const offer = await a.client.offerTransfer('vm-bad', { migrationId: 'mig-6' });

  await b.client.receive('vm-bad', { migrationId: 'mig-6', spec: spec('vm-bad'), source: { url: a.url, transferId: offer.transferId, token: 'f'.repeat(64) }, files: offer.files });
  let s = await ended(b, 'vm-bad');
  assert.equal(s.state, 'failed');
  assert.match(s.error ?? '', /unauthorized/);
  assert.deepEqual(await leftovers(b), []);
  assert.ok(!(await readdir(join(b.dir, 'vms'))).includes('vm-bad'));

  // The source's file grew after the offer: it sends no digest, the copy fails.
  const iso = join(a.dir, 'vms', 'vm-bad', 'cidata.iso');
  await appendFile(iso, Buffer.alloc(4096));
  await b.client.receive('vm-bad', { migrationId: 'mig-6', spec: spec('vm-bad'), source: { url: a.url, transferId: offer.transferId, token: offer.token }, files: offer.files });
  s = await ended(b, 'vm-bad');
  assert.equal(s.state, 'failed');
  assert.match(s.error ?? '', /sha256|bytes/);
  await b.client.release('vm-bad');
  await notHeld(b, 'vm-bad');

  // A base image the store does not have: its fetch, beside a slow copy (64 KiB/s: minutes), fails and stops the copy at once.
  const missing = { ...spec('vm-bad'), disk: { image: { ...base, id: 'base-missing', url: base.url.replace('base-1', 'base-missing') } } };
  const t0 = performance.now();
  await b.client.receive('vm-bad', { migrationId: 'mig-6', spec: missing, source: { url: a.url, transferId: offer.transferId, token: offer.token }, files: offer.files, maxBandwidthBytes: 64 * 1024 });
  s = await ended(b, 'vm-bad');
  assert.equal(s.state, 'failed');
  assert.doesNotMatch(s.error ?? '', /sha256|bytes|aborted/, 'the image fetch is the cause told');
  assert.ok(performance.now() - t0 < 20_000, 'the copy was stopped, not waited for');
  await b.client.release('vm-bad');
  await notHeld(b, 'vm-bad');

  // The other way round: the copy fails (a wrong token) while the base image's fetch hangs (a store that never
  // answers; the fetch's own deadline is a minute): failed at once with the copy's cause, not after the fetch.
  const sockets = new Set<Socket>();
  const stalled = createServer((c) => void sockets.add(c));
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  try {
    const hanging = { ...spec('vm-bad'), disk: { image: { ...base, id: 'base-stalled', url: `http://127.0.0.1:${(stalled.address() as AddressInfo).port}/base-stalled` } } };
    const t1 = performance.now();
    await b.client.receive('vm-bad', { migrationId: 'mig-6', spec: hanging, source: { url: a.url, transferId: offer.transferId, token: 'f'.repeat(64) }, files: offer.files });
    s = await ended(b, 'vm-bad');
    assert.equal(s.state, 'failed');
    assert.match(s.error ?? '', /unauthorized/);
    assert.ok(performance.now() - t1 < 20_000, 'the fetch was not waited for');
    assert.deepEqual(await leftovers(b), []);
    await b.client.release('vm-bad');
    await notHeld(b, 'vm-bad');
  } finally {
    for (const c of sockets) c.destroy();
    await new Promise<void>((resolve) => stalled.close(() => resolve()));
  }

  // Slow copy (64 KiB/s), released half-way: stopped, nothing left.
  await a.client.revokeTransfer('vm-bad');
  await a.client.release('vm-bad');
  await preparedVm(a, 'vm-slow');
  await copy(a, b, 'vm-slow', 'mig-7', 64 * 1024);
  await pollUntil('copy under way', async () => ((await b.client.receiveStatus('vm-slow')).copiedBytes > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
  await b.client.release('vm-slow');
  await notHeld(b, 'vm-slow');
  assert.equal((await a.client.get('vm-slow')).state, 'poweroff', 'the source still holds its VM');
});

test('an agent that starts again removes a copy it was writing when it stopped, and keeps a complete one', async () => {
  const b = await agent('b5');
  const partial = join(b.dir, 'vms', 'vm-cut');
  await mkdir(partial, { recursive: true });
  await writeFile(join(partial, 'receiving.json'), JSON.stringify({ migrationId: 'mig-8' }));
  await writeFile(join(partial, 'disk.qcow2.part'), Buffer.alloc(1000));
  const a = await agent('a5');
  await preparedVm(a, 'vm-whole');
  await copy(a, b, 'vm-whole', 'mig-9');
  assert.equal((await ended(b, 'vm-whole')).state, 'verified');
  assert.deepEqual(await b.service.cold.sweepReceives(), ['vm-cut']);
  assert.deepEqual((await readdir(join(b.dir, 'vms'))).sort(), ['vm-whole']);
});

test('the copy status as a long poll: it answers as soon as the copy ends, and never "copying" before the wait is over', async () => {
  const [a, b] = [await agent('a6'), await agent('b6')];
  // A whole copy: the answer comes when it ends (verified) — or, on a machine too loaded to copy 3 MiB in 5 s, after the full wait.
  await preparedVm(a, 'vm-lp');
  await copy(a, b, 'vm-lp', 'mig-10');
  let t0 = performance.now();
  let s = await b.client.receiveStatus('vm-lp', { waitMs: 5_000 });
  if (s.state === 'copying') assert.ok(performance.now() - t0 >= 4_900, `answered "copying" after ${Math.round(performance.now() - t0)} ms of a 5 s wait`);
  else assert.equal(s.state, 'verified');
  assert.equal((await ended(b, 'vm-lp')).state, 'verified');
  // A slow copy (64 KiB/s): still copying, so the answer waits out the whole wait.
  await preparedVm(a, 'vm-lp-slow');
  await copy(a, b, 'vm-lp-slow', 'mig-11', 64 * 1024);
  t0 = performance.now();
  s = await b.client.receiveStatus('vm-lp-slow', { waitMs: 400 });
  const waited = performance.now() - t0;
  assert.equal(s.state, 'copying');
  assert.ok(waited >= 390, `answered after ${Math.round(waited)} ms of a 400 ms wait`);
  // A wait longer than the route allows is refused, naming the field.
  await assert.rejects(b.client.receiveStatus('vm-lp-slow', { waitMs: 60_000 }), (e: unknown) => e instanceof RemoteError && e.status === 400 && /waitMs/.test(e.message));
  // Released while a long poll waits: the poll ends with the copy — stopped, or no copy left to report —, never "copying".
  const polling = b.client.receiveStatus('vm-lp-slow', { waitMs: 5_000 }).then((r) => r.state, (e: unknown) => (e instanceof RemoteError ? e.code : String(e)));
  await b.client.release('vm-lp-slow');
  assert.match(await polling, /^(failed|VM_NOT_FOUND)$/);
  await notHeld(b, 'vm-lp-slow');
});
