import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidVmIdError } from '../core/vm-id.js';
import { UnreadableFileError } from '../errors/unreadable-file-error.js';
import { VmNotFoundError } from '../hypervisor/hypervisor-errors.js';
import { agentVmSpecSchema } from '../contract/agent-api.js';
import { AgentMigrationError } from './agent-migration-error.js';
import { VmRecordStore } from './vm-record-store.js';

const image = { id: 'tiny-disk', url: 'http://127.0.0.1:9/images/tiny-disk', sha256: '0'.repeat(64), sizeBytes: 1, format: 'qcow2' } as const;
const spec = (datastore: 'local' | 'shared' = 'local') => agentVmSpecSchema.parse({ vcpus: 1, memoryMiB: 128, disk: { image, datastore }, nics: [], context: { hostname: 'v' } });

async function withStore(shared: boolean, fn: (s: VmRecordStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'nubo-records-'));
  try {
    await fn(new VmRecordStore(join(root, 'data'), shared ? join(root, 'shared') : undefined), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('a record is written whole and read back; absent is undefined (or VmNotFoundError when required), unusable is an error', async () => {
  await withStore(false, async (s) => {
    assert.equal(await s.readSpec('v1'), undefined);
    await assert.rejects(s.requireSpec('v1'), VmNotFoundError);
    await mkdir(s.paths('v1').dir, { recursive: true });
    await s.writeSpec('v1', spec());
    assert.deepEqual(await s.requireSpec('v1'), spec());
    assert.deepEqual(await readdir(s.paths('v1').dir), ['agent-vm.json'], 'no temporary file left');
    await writeFile(s.paths('v1').spec, '{"vcpus":');
    await assert.rejects(s.readSpec('v1'), UnreadableFileError);
  });
});

test('the incoming-migration marker is written, read and removed; ids list only VM directories', async () => {
  await withStore(false, async (s) => {
    await mkdir(s.paths('v2').dir, { recursive: true });
    await mkdir(join(s.root, 'Not_A_Vm'), { recursive: true });
    assert.equal(await s.readIncoming('v2'), undefined);
    const marker = { migrationId: 'm-1', ready: { uri: 'tcp:198.18.1.2:49152', tls: false } };
    await s.writeIncoming('v2', marker);
    assert.deepEqual(await s.readIncoming('v2'), marker);
    await s.removeIncoming('v2');
    assert.equal(await s.readIncoming('v2'), undefined);
    assert.deepEqual(await s.ids(), ['v2']);
  });
});

test('a VM\'s disk is in its local directory or the shared datastore\'s; shared without one is refused; a bad id builds no path', async () => {
  await withStore(true, async (s, root) => {
    assert.deepEqual(s.files('v3', spec()), { disk: join(root, 'data', 'vms', 'v3', 'disk.qcow2'), iso: join(root, 'data', 'vms', 'v3', 'cidata.iso') });
    const dir = join(root, 'shared', 'vms', 'v3');
    assert.deepEqual(s.files('v3', spec('shared')), { disk: join(dir, 'disk.qcow2'), iso: join(dir, 'cidata.iso'), sharedDir: dir });
    assert.throws(() => s.paths('../x'), InvalidVmIdError);
    assert.throws(() => s.files('../x', spec('shared')), InvalidVmIdError);
  });
  await withStore(false, async (s) => {
    assert.throws(() => s.files('v3', spec('shared')), AgentMigrationError);
  });
});

test('saved memory is written beside the disk — on the shared datastore for a shared disk, so another host sharing it finds it with nothing copied', async () => {
  await withStore(true, async (s, root) => {
    const local = join(root, 'data', 'vms', 'v4', 'memory.state');
    const shared = join(root, 'shared', 'vms', 'v4', 'memory.state');
    assert.equal(s.statePath('v4', spec()), local);
    assert.equal(s.statePath('v4', spec('shared')), shared);
    assert.equal(await s.savedState('v4'), undefined, 'nothing saved: not suspended');
    await mkdir(join(root, 'shared', 'vms', 'v4'), { recursive: true });
    await writeFile(shared, 'state');
    assert.equal(await s.savedState('v4'), shared);
    // A second host over the same shared datastore (its own data directory) sees the same saved memory.
    const other = new VmRecordStore(join(root, 'other'), join(root, 'shared'));
    assert.equal(await other.savedState('v4'), shared);
    // One saved locally (by an agent before this one, or a local disk) is found first: a cold migration copies that one.
    await mkdir(s.paths('v4').dir, { recursive: true });
    await writeFile(local, 'state');
    assert.equal(await s.savedState('v4'), local);
    await assert.rejects(s.savedState('../x'), InvalidVmIdError);
  });
  await withStore(false, async (s) => {
    assert.throws(() => s.statePath('v5', spec('shared')), AgentMigrationError);
    assert.equal(await s.savedState('v5'), undefined);
  });
});
