import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { QemuDriver } from '../hypervisor/qemu/qemu-driver.js';
import { InvalidVmIdError } from '../core/vm-id.js';
import { UnreadableFileError } from '../errors/unreadable-file-error.js';
import { agentVmSpecSchema, type AgentVmSpecInput } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import { AgentService } from './agent-service.js';
import { ImageCache } from './image-cache.js';

const logger = pino({ level: 'silent' });

interface Host {
  readonly root: string;
  readonly dataDir: string;
  readonly sharedDir: string;
  readonly svc: AgentService;
}

/** A real QEMU driver (no VM is started here) over a scratch datastore; images come from nowhere, so a prolog that gets as far as fetching fails. */
async function withHost(fn: (h: Host) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'nubo-as-'));
  const dataDir = join(root, 'data');
  const sharedDir = join(root, 'shared');
  await mkdir(join(dataDir, 'vms'), { recursive: true });
  await mkdir(sharedDir, { recursive: true });
  const driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [dataDir, sharedDir], accel: 'tcg', logger });
  const svc = new AgentService({
    dataDir,
    sharedDir,
    hypervisor: driver,
    images: new ImageCache(join(dataDir, 'images'), 'token'),
    sharedImages: new ImageCache(join(sharedDir, 'images'), 'token'),
    logger,
  });
  try {
    await fn({ root, dataDir, sharedDir, svc });
  } finally {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  }
}

const image = { id: 'tiny-disk', url: 'http://127.0.0.1:9/images/tiny-disk', sha256: '0'.repeat(64), sizeBytes: 1, format: 'qcow2' } as const;
function spec(hostname: string, over: Partial<AgentVmSpecInput> = {}): AgentVmSpecInput {
  return { vcpus: 1, memoryMiB: 128, disk: { image }, nics: [], context: { hostname }, ...over };
}

/** A VM directory as a prolog leaves it: the record (null: none) and a disk holding data. */
async function preparedVm(h: Host, id: string, record: string | null = JSON.stringify(agentVmSpecSchema.parse(spec(id)))): Promise<string> {
  const dir = join(h.dataDir, 'vms', id);
  await mkdir(dir, { recursive: true });
  if (record !== null) await writeFile(join(dir, 'agent-vm.json'), record);
  await writeFile(join(dir, 'disk.qcow2'), `the disk of ${id}`);
  return join(dir, 'disk.qcow2');
}

const isUnreadable = (err: unknown): boolean => {
  assert.ok(err instanceof UnreadableFileError, String(err));
  assert.equal(err.code, 'FILE_UNREADABLE');
  return true;
};

test('an id that is not a VM id builds no path: the service refuses it with a typed error and touches nothing', async () => {
  await withHost(async (h) => {
    const victim = join(h.dataDir, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'keep'), 'keep');
    const invalid = (err: unknown): boolean => {
      assert.ok(err instanceof InvalidVmIdError, String(err));
      assert.equal(err.code, 'VALIDATION_FAILED');
      assert.equal(err.field, 'id');
      return true;
    };
    for (const id of ['../victim', 'a/b', '..', '']) {
      await assert.rejects(h.svc.lifecycle.release(id), invalid, `release ${id}`);
      await assert.rejects(h.svc.lifecycle.delete(id), invalid, `delete ${id}`);
      await assert.rejects(h.svc.lifecycle.prepare(id, spec('x')), invalid, `prepare ${id}`);
      await assert.rejects(h.svc.lifecycle.get(id), invalid, `get ${id}`);
      await assert.rejects(h.svc.lifecycle.start(id), invalid, `start ${id}`);
      await assert.rejects(h.svc.captures.deleteCapture(id), invalid, `deleteCapture ${id}`);
      await assert.rejects(h.svc.cold.receiveStatus(id), invalid, `receiveStatus ${id}`);
      await assert.rejects(h.svc.lifecycle.consoleLog(id), invalid, `consoleLog ${id}`);
    }
    assert.equal(await readFile(join(victim, 'keep'), 'utf8'), 'keep');
  });
});

test('a VM record that exists but is unusable is an error, and prepare keeps the disk', async () => {
  await withHost(async (h) => {
    const cases: [string, (dir: string) => Promise<void>][] = [
      ['torn', (dir) => writeFile(join(dir, 'agent-vm.json'), '{"vcpus":1,"memo')],
      ['empty', (dir) => writeFile(join(dir, 'agent-vm.json'), '')],
      ['wrong', (dir) => writeFile(join(dir, 'agent-vm.json'), JSON.stringify({ ...agentVmSpecSchema.parse(spec('wrong')), vcpus: 'two' }))],
      // A read error other than ENOENT (EISDIR here: root reads through EACCES).
      ['unreadable', (dir) => mkdir(join(dir, 'agent-vm.json'))],
    ];
    for (const [id, spoil] of cases) {
      const disk = await preparedVm(h, id, null);
      await spoil(join(h.dataDir, 'vms', id));
      await assert.rejects(h.svc.lifecycle.get(id), isUnreadable, `get ${id}`);
      await assert.rejects(h.svc.lifecycle.start(id), isUnreadable, `start ${id}`);
      await assert.rejects(h.svc.lifecycle.prepare(id, spec(id)), isUnreadable, `prepare ${id}`);
      assert.equal(await readFile(disk, 'utf8'), `the disk of ${id}`, `${id}: the disk is still there`);
    }
  });
});

test('prepare never deletes a disk it did not make: a local one without a record, another host\'s on the shared datastore', async () => {
  await withHost(async (h) => {
    const disk = await preparedVm(h, 'orphan', null);
    await assert.rejects(h.svc.lifecycle.prepare('orphan', spec('orphan')), (err: unknown) => err instanceof AgentConflictError && err.reason === 'foreign-files' && /disk\.qcow2/.test(err.message));
    assert.equal(await readFile(disk, 'utf8'), 'the disk of orphan');

    // The VM runs from the shared datastore on another host: this host has no record of it.
    const shared = join(h.sharedDir, 'vms', 'elsewhere');
    await mkdir(shared, { recursive: true });
    await writeFile(join(shared, 'disk.qcow2'), 'the disk of elsewhere');
    await assert.rejects(
      h.svc.lifecycle.prepare('elsewhere', spec('elsewhere', { disk: { image, datastore: 'shared' } })),
      (err: unknown) => err instanceof AgentConflictError && err.reason === 'foreign-files' && err.message.includes(shared),
    );
    assert.equal(await readFile(join(shared, 'disk.qcow2'), 'utf8'), 'the disk of elsewhere');

    // What a failed prolog made itself it does clean up.
    await assert.rejects(h.svc.lifecycle.prepare('fresh', spec('fresh')), /tiny-disk/);
    await assert.rejects(readFile(join(h.dataDir, 'vms', 'fresh', 'disk.qcow2')), { code: 'ENOENT' });
  });
});

test('the heartbeat still lists a VM whose record is unusable; an unusable incoming marker is an error', async () => {
  await withHost(async (h) => {
    await preparedVm(h, 'good');
    await preparedVm(h, 'torn', '{');
    await mkdir(join(h.dataDir, 'vms', 'Not_A_Vm'));
    const list = await h.svc.lifecycle.list();
    assert.deepEqual(list.map((r) => `${r.id}:${r.state}`).sort(), ['good:poweroff', 'torn:poweroff']);

    await writeFile(join(h.dataDir, 'vms', 'good', 'incoming.json'), '{"migrationId":');
    await assert.rejects(h.svc.lifecycle.get('good'), isUnreadable);
    await writeFile(join(h.dataDir, 'vms', 'good', 'incoming.json'), JSON.stringify({ migrationId: 'm-1' }));
    await assert.rejects(h.svc.lifecycle.get('good'), isUnreadable);
  });
});

test('a prolog killed half-way is started over by the retry of the same VM, not refused; another spec under that id is', async () => {
  await withHost(async (h) => {
    const dir = join(h.dataDir, 'vms', 'halfway');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'preparing.json'), JSON.stringify(agentVmSpecSchema.parse(spec('halfway'))));
    await writeFile(join(dir, 'disk.qcow2'), 'half an overlay');
    // Not a conflict: the retry gets as far as fetching the image (which fails here), having removed the leftovers.
    await assert.rejects(h.svc.lifecycle.prepare('halfway', spec('halfway')), (err: unknown) => !(err instanceof AgentConflictError) && /tiny-disk/.test(String(err)));
    await assert.rejects(readFile(join(dir, 'disk.qcow2')), { code: 'ENOENT' });

    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'preparing.json'), JSON.stringify(agentVmSpecSchema.parse(spec('other-name'))));
    await writeFile(join(dir, 'disk.qcow2'), 'half an overlay');
    await assert.rejects(h.svc.lifecycle.prepare('halfway', spec('halfway')), (err: unknown) => err instanceof AgentConflictError && err.reason === 'spec-mismatch' && /different spec/.test(err.message));
    assert.equal(await readFile(join(dir, 'disk.qcow2'), 'utf8'), 'half an overlay');
  });
});

test('the release of a source copy waits for a dirty-rate measurement of it under way (the planner measures during the migration); a delete does not', async () => {
  await withHost(async (h) => {
    await preparedVm(h, 'measured');
    const dir = join(h.dataDir, 'vms', 'measured');
    let answer!: (rate: number) => void;
    void h.svc.host.measuring.track('measured', new Promise<number>((r) => { answer = r; }));
    let released = false;
    const releasing = h.svc.lifecycle.release('measured').then(() => { released = true; });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(released, false, 'held while QEMU is still measuring');
    assert.equal(await readFile(join(dir, 'disk.qcow2'), 'utf8'), 'the disk of measured', 'nothing ended yet');
    answer(0);
    await releasing;
    await assert.rejects(readFile(join(dir, 'disk.qcow2')), { code: 'ENOENT' });

    await preparedVm(h, 'deleted');
    void h.svc.host.measuring.track('deleted', new Promise<number>(() => {}));
    await h.svc.lifecycle.delete('deleted');
    await assert.rejects(readFile(join(h.dataDir, 'vms', 'deleted', 'disk.qcow2')), { code: 'ENOENT' });
  });
});

test('the console log: the earlier host\'s part first, then this host\'s; a carried log keeps its last 1 MiB; it goes with the VM', async () => {
  await withHost(async (h) => {
    await preparedVm(h, 'con-1');
    const dir = join(h.dataDir, 'vms', 'con-1');
    assert.equal(await h.svc.lifecycle.consoleLog('con-1'), '', 'nothing printed yet');
    await writeFile(join(dir, 'console.log'), 'NUBO-READY con-1\r\nhere\r\n');
    await h.svc.lifecycle.setEarlierConsole('con-1', 'boot on h1\r\n');
    assert.equal(await h.svc.lifecycle.consoleLog('con-1'), 'boot on h1\r\nNUBO-READY con-1\r\nhere\r\n');
    assert.equal(await h.svc.lifecycle.consoleLog('con-1', undefined, 6), 'here\r\n', 'the tail asked for');
    // A carried log over the cap: its last MiB, from a whole character on (the euro sign straddles the cut).
    await h.svc.lifecycle.setEarlierConsole('con-1', `${'x'.repeat(10)}€${'y'.repeat(1024 * 1024 - 2)}`);
    const earlier = await readFile(join(dir, 'console-earlier.log'), 'utf8');
    assert.equal(earlier, 'y'.repeat(1024 * 1024 - 2));
    await assert.rejects(h.svc.lifecycle.setEarlierConsole('con-none', 'x'), /con-none/, 'no VM, nothing kept');
    await h.svc.lifecycle.delete('con-1');
    await assert.rejects(readFile(join(dir, 'console.log')), { code: 'ENOENT' });
    await assert.rejects(readFile(join(dir, 'console-earlier.log')), { code: 'ENOENT' });
  });
});
