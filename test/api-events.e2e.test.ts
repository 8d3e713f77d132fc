import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { EventView } from '../src/contract/event-schemas.js';

// The event stream (`GET /api/v1/events`, server-sent events) and its JSON
// pages (`/events/history`). No agent runs: VMs stay `pending`, which is
// enough to see `vm.*` events.

interface Frame { id: number; event: string; data: EventView }

let root: string;
let controller: ControllerDaemon;
let token: string;
let api: NuboClient;

/** An open event stream; frames are read as they arrive. */
class EventStream {
  readonly frames: Frame[] = [];
  readonly #abort = new AbortController();
  #reading: Promise<void> | undefined;

  static async open(query = '', headers: Record<string, string> = {}): Promise<EventStream> {
    const s = new EventStream();
    const res = await fetch(`${controller.url}/api/v1/events${query}`, { headers: { authorization: `Bearer ${token}`, ...headers }, signal: s.#abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    s.#reading = s.#read(res.body!.pipeThrough(new TextDecoderStream()).getReader()).catch((err: unknown) => {
      if (!s.#abort.signal.aborted) throw err;
    });
    return s;
  }

  async #read(reader: ReadableStreamDefaultReader<string>): Promise<void> {
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const fields = new Map(buf.slice(0, i).split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as const));
        buf = buf.slice(i + 2);
        if (fields.has('id')) this.frames.push({ id: Number(fields.get('id')), event: fields.get('event') ?? '', data: JSON.parse(fields.get('data') ?? 'null') as EventView });
      }
    }
  }

  /** Waits until the frames received so far satisfy `done`. */
  async until(what: string, done: (frames: readonly Frame[]) => boolean, timeoutMs = 10_000): Promise<Frame[]> {
    const end = Date.now() + timeoutMs;
    while (!done(this.frames)) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => [f.id, f.event]))}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return [...this.frames];
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#reading;
  }
}

function assertIncreasing(frames: readonly Frame[]): void {
  for (const [i, f] of frames.entries()) {
    assert.equal(f.id, f.data.seq, 'the id line is the event seq');
    assert.equal(f.event, f.data.kind, 'the event line is the event kind');
    if (i > 0) assert.ok(f.id > frames[i - 1]!.id, `ids increase: ${frames[i - 1]!.id} then ${f.id}`);
  }
}

const vmEvents = (frames: readonly Frame[], vmId: string): Frame[] => frames.filter((f) => f.data.resource === 'vm' && f.data.resourceId === vmId);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-events-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  token = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, token);
  await writeFile(join(root, 'disk.raw'), Buffer.alloc(1 << 20));
  await api.uploadImage({ name: 'disk', file: join(root, 'disk.raw') });
});

after(async () => {
  await controller.orchestrator.idle();
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('the stream delivers vm.* events with increasing ids; Last-Event-ID and ?since= resume after the last one seen', async () => {
  const stream = await EventStream.open();
  await api.registerHost({ name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 'h1-agent-token-0123456789' });
  await api.createTemplate({ name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'disk' });
  const vm = await api.createVm({ template: 'tpl', name: 'vm1' });
  // Created, then the scheduler's "no host fits" reason (h1 is `init`: never heard from).
  const first = await stream.until('vm1 created and waiting', (f) => vmEvents(f, vm.id).length >= 2);
  await stream.close();
  assertIncreasing(first);
  assert.ok(first.some((f) => f.event === 'host.registered' && f.data.data['name'] === 'h1'));
  const [created, waiting] = vmEvents(first, vm.id);
  assert.equal(created?.event, 'vm.created');
  assert.deepEqual([created?.data.data['to'], waiting?.event, waiting?.data.data['to']], ['pending', 'vm.state', 'pending']);
  await controller.orchestrator.idle();
  const lastSeen = Math.max(...first.map((f) => f.id));
  assert.equal(lastSeen, await controller.store.events.lastSeq(), 'the stream was complete up to now');

  // Missed while disconnected: a second VM and the termination of the first.
  const vm2 = await api.createVm({ template: 'tpl', name: 'vm2' });
  await api.vmAction(vm.id, 'terminate');
  for (const resume of [{ query: '', headers: { 'last-event-id': String(lastSeen) } }, { query: `?since=${lastSeen}`, headers: {} }]) {
    const again = await EventStream.open(resume.query, resume.headers);
    const frames = await again.until('vm2 created and vm1 terminated', (f) => vmEvents(f, vm2.id).length >= 1 && vmEvents(f, vm.id).some((e) => e.data.data['to'] === 'terminated'));
    await again.close();
    assertIncreasing(frames);
    assert.ok(frames.every((f) => f.id > lastSeen), `${JSON.stringify(resume)}: only events after ${lastSeen}, got ${frames[0]?.id}`);
    assert.equal(frames[0]?.id, lastSeen + 1, 'nothing in between is lost');
    assert.equal(vmEvents(frames, vm2.id)[0]?.event, 'vm.created');
  }
});

test('/events/history pages by seq, oldest first, and agrees with the stream', async () => {
  // Enough events for several pages of the server's 500.
  for (let i = 0; i < 1_100; i++) await controller.store.events.append({ kind: 'test.tick', resource: 'test', resourceId: `t${i}`, data: { i } });
  const last = await controller.store.events.lastSeq();
  const pages: EventView[][] = [];
  for (let since = 0; ; ) {
    const page = await api.listEvents(since);
    if (page.length === 0) break;
    pages.push(page);
    since = page[page.length - 1]!.seq;
  }
  assert.ok(pages.length >= 3, `${pages.length} pages`);
  assert.equal(pages[0]!.length, 500);
  const all = pages.flat();
  assert.deepEqual(all.map((e) => e.seq), Array.from({ length: last }, (_, i) => i + 1), 'every seq once, in order');
  assert.deepEqual(all.filter((e) => e.kind === 'test.tick').map((e) => e.data['i']), Array.from({ length: 1_100 }, (_, i) => i));
  assert.deepEqual(await api.listEvents(last), []);
  assert.deepEqual(await api.listEvents(last + 1_000), [], 'a seq from the future is no error, just nothing yet');

  const mid = all[all.length - 10]!.seq;
  const tail = await EventStream.open(`?since=${mid}`);
  const frames = await tail.until('the last 9 events', (f) => f.length >= 9);
  await tail.close();
  assert.deepEqual(frames.map((f) => f.data), all.slice(-9), 'the stream sends what the history shows');
});

test('the stream needs a token and a valid since; errors come back as JSON, not as a stream', async () => {
  for (const [query, headers, status, code] of [
    ['', {}, 401, 'UNAUTHORIZED'],
    ['', { authorization: 'Bearer nubo_wrong' }, 401, 'UNAUTHORIZED'],
    ['?since=-3', { authorization: `Bearer ${token}` }, 400, 'VALIDATION_FAILED'],
    ['?since=soon', { authorization: `Bearer ${token}` }, 400, 'VALIDATION_FAILED'],
    ['?since=1&follow=yes', { authorization: `Bearer ${token}` }, 400, 'VALIDATION_FAILED'],
  ] as const) {
    const res = await fetch(`${controller.url}/api/v1/events${query}`, { headers });
    assert.equal(res.status, status, query);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
  }
  // A Last-Event-ID that is not a seq is ignored: the stream starts from ?since= (here: the end).
  const last = await controller.store.events.lastSeq();
  const s = await EventStream.open(`?since=${last}`, { 'last-event-id': 'garbage' });
  await controller.store.events.append({ kind: 'test.after', resource: 'test', resourceId: 'x' });
  const frames = await s.until('the new event', (f) => f.length >= 1);
  await s.close();
  assert.deepEqual(frames.map((f) => [f.id, f.event]), [[last + 1, 'test.after']]);
});
