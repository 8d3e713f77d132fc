import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { EventView } from '../src/contract/event-schemas.js';

// Who sees which events: admins all of them; a plain user those about their
// own VMs, volumes, images and migrations of their VMs, and about the shared
// catalog (admins' images); never another tenant's, never a host's. Checked
// over /events/history and over the live stream, including a resume with
// Last-Event-ID. No agent runs: VMs stay `pending`, enough for vm.* events.

let root: string;
let controller: ControllerDaemon;
const tokens: Record<'admin' | 'alice' | 'bob', string> = { admin: '', alice: '', bob: '' };
const api = (who: keyof typeof tokens) => new NuboClient(controller.url, tokens[who]);
const ids: Record<string, string> = {};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-events-scope-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  tokens.admin = (await controller.bootstrapAdmin())!;
  const alice = await controller.store.users.create({ name: 'alice' });
  const bob = await controller.store.users.create({ name: 'bob' });
  tokens.alice = alice.token;
  tokens.bob = bob.token;
  ids['alice'] = alice.user.id;
  ids['bob'] = bob.user.id;
  ids['admin'] = (await controller.store.users.list()).find((u) => u.role === 'admin')!.id;
});

after(async () => {
  await controller.orchestrator.idle();
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

/** Streams still open; a failing test closes them so none outlives it. */
const opened = new Set<{ close(): Promise<void> }>();

/** Reads an SSE response's frames into `frames` until aborted. */
async function openStream(who: keyof typeof tokens, headers: Record<string, string> = {}, query = '') {
  const abort = new AbortController();
  const res = await fetch(`${controller.url}/api/v1/events${query}`, { headers: { authorization: `Bearer ${tokens[who]}`, ...headers }, signal: abort.signal });
  assert.equal(res.status, 200);
  const frames: EventView[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const reading = (async () => {
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data:'));
        buf = buf.slice(i + 2);
        if (data) frames.push(JSON.parse(data.slice(5)) as EventView);
      }
    }
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) throw err;
  });
  const stream = {
    frames,
    async until(what: string, done: (f: readonly EventView[]) => boolean, timeoutMs = 10_000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!done(frames)) {
        if (Date.now() > end) assert.fail(`${who}: timed out waiting for ${what}; got ${JSON.stringify(frames.map((f) => [f.seq, f.kind, f.resourceId]))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close(): Promise<void> {
      opened.delete(stream);
      abort.abort();
      await reading;
    },
  };
  opened.add(stream);
  return stream;
}

async function history(who: keyof typeof tokens, since = 0): Promise<EventView[]> {
  const all: EventView[] = [];
  for (;;) {
    const page = await api(who).listEvents(since);
    if (page.length === 0) return all;
    all.push(...page);
    since = page.at(-1)!.seq;
  }
}

const about = (events: readonly EventView[], resourceId: string) => events.filter((e) => e.resourceId === resourceId || e.data['vmId'] === resourceId);

test('each tenant sees events about their own resources and the shared catalog only; hosts only to admins', async (t) => {
  t.after(async () => {
    for (const s of [...opened]) await s.close();
  });
  const streams = { admin: await openStream('admin'), alice: await openStream('alice'), bob: await openStream('bob') };
  const host = await api('admin').registerHost({ name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 'h1-agent-token-0123456789' });
  await controller.store.hosts.setState(host.id, 'disabled', 'for the test');
  const shared = await controller.store.images.create({ name: 'base', ownerId: ids['admin']!, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: 'a'.repeat(64), path: join(root, 'none') });
  const alicesImage = await controller.store.images.create({ name: 'secret-disk', ownerId: ids['alice']!, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: 'b'.repeat(64), path: join(root, 'none2') });
  // The capture service writes image.captured; these stand for one into the catalog and one into alice's own images.
  await controller.store.events.append({ kind: 'image.captured', resource: 'image', resourceId: shared.id, data: { name: 'base' } });
  await controller.store.events.append({ kind: 'image.captured', resource: 'image', resourceId: alicesImage.id, data: { name: 'secret-disk' } });
  await api('admin').createTemplate({ name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'base' });
  const aliceVm = await api('alice').createVm({ template: 'tpl', name: 'alice-private-vm' });
  const bobVm = await api('bob').createVm({ template: 'tpl', name: 'bob-vm' });
  const aliceVol = await api('alice').createVolume({ name: 'alice-private-vol', sizeMiB: 16 });
  await api('alice').deleteVolume(aliceVol.id);
  await controller.orchestrator.idle();

  await streams.admin.until('everything', (f) => about(f, aliceVol.id).length >= 2 && about(f, bobVm.id).length >= 1 && f.some((e) => e.kind === 'host.state'));
  await streams.alice.until('her volume deleted', (f) => about(f, aliceVol.id).some((e) => e.kind === 'volume.deleted'));
  await streams.bob.until('his VM', (f) => about(f, bobVm.id).length >= 2);
  // Give the streams a moment to deliver anything they should not.
  await new Promise((r) => setTimeout(r, 1_200));
  const last = await controller.store.events.lastSeq();

  for (const [who, seen] of [
    ['alice', await history('alice')],
    ['alice (stream)', streams.alice.frames],
    ['bob', await history('bob')],
    ['bob (stream)', streams.bob.frames],
  ] as const) {
    const mine = who.startsWith('alice') ? [aliceVm.id, aliceVol.id, alicesImage.id] : [bobVm.id];
    const theirs = who.startsWith('alice') ? [bobVm.id] : [aliceVm.id, aliceVol.id, alicesImage.id];
    for (const id of mine) assert.ok(about(seen, id).length > 0, `${who} sees events about their own ${id}`);
    for (const id of theirs) assert.deepEqual(about(seen, id), [], `${who} sees nothing about another tenant's ${id}`);
    assert.deepEqual(seen.filter((e) => e.resource === 'host'), [], `${who} sees no host events`);
    assert.ok(about(seen, shared.id).length > 0, `${who} sees the shared catalog image`);
    const text = JSON.stringify(seen);
    for (const leak of who.startsWith('alice') ? ['bob-vm'] : ['alice-private-vm', 'alice-private-vol', 'secret-disk', '127.0.0.1:9']) assert.ok(!text.includes(leak), `${who} never reads ${leak}`);
  }
  const adminSees = await history('admin');
  assert.equal(adminSees.at(-1)?.seq, last);
  assert.deepEqual(adminSees.map((e) => e.seq), Array.from({ length: last }, (_, i) => i + 1), 'an admin sees every event');
  assert.deepEqual(streams.admin.frames.map((e) => e.seq), adminSees.map((e) => e.seq));
  for (const s of Object.values(streams)) await s.close();

  // Resume: bob reconnects with the Last-Event-ID of before alice's and his own next events.
  const resumeFrom = last;
  await api('alice').vmAction(aliceVm.id, 'terminate');
  await api('bob').vmAction(bobVm.id, 'terminate');
  await controller.orchestrator.idle();
  const bobAgain = await openStream('bob', { 'last-event-id': String(resumeFrom) });
  await bobAgain.until('his VM terminated', (f) => about(f, bobVm.id).some((e) => e.data['to'] === 'terminated'));
  await new Promise((r) => setTimeout(r, 1_200));
  await bobAgain.close();
  assert.ok(bobAgain.frames.every((e) => e.seq > resumeFrom), 'only events after Last-Event-ID');
  assert.deepEqual(about(bobAgain.frames, aliceVm.id), [], 'alice\'s termination stays hers');
  assert.deepEqual(about(await history('bob', resumeFrom), aliceVm.id), []);
  assert.ok(about(await history('alice', resumeFrom), aliceVm.id).some((e) => e.data['to'] === 'terminated'));
});

test('a plain user\'s history pages past the events they may not see', async () => {
  const start = await controller.store.events.lastSeq();
  // More hidden events than one page of the server's 500: a user must not get an empty page (the end) before their own event.
  for (let i = 0; i < 1_200; i++) await controller.store.events.append({ kind: 'test.tick', resource: 'test', resourceId: `t${i}` });
  const vm = await api('bob').createVm({ template: 'tpl', name: 'bob-late' });
  await controller.orchestrator.idle();
  const page = await api('bob').listEvents(start);
  assert.ok(about(page, vm.id).length > 0, `bob's event after 1200 hidden ones is on his first page (got ${page.length} events)`);
  assert.ok(page.every((e) => e.resource !== 'test'));
});

test('latest=N gives each caller the newest N events they may read, walking back past the hidden ones', async () => {
  const vm = await api('bob').createVm({ template: 'tpl', name: 'bob-latest' });
  await controller.orchestrator.idle();
  const bobsNewest = (await history('bob')).slice(-2);
  // More hidden events after bob's than one backward page of 500.
  for (let i = 0; i < 1_200; i++) await controller.store.events.append({ kind: 'test.tock', resource: 'test', resourceId: `k${i}` });
  const latest = await api('bob').latestEvents(2);
  assert.deepEqual(latest, bobsNewest, 'bob: his own two newest, oldest first');
  assert.ok(about(latest, vm.id).length > 0);
  const admin = await api('admin').latestEvents(3);
  assert.deepEqual(admin.map((e) => e.resourceId), ['k1197', 'k1198', 'k1199'], 'admin: the table\'s three newest');
  assert.equal(admin.at(-1)!.seq, await controller.store.events.lastSeq());
});
