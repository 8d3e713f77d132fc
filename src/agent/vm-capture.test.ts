import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Hypervisor, HypervisorDisks } from '../hypervisor/hypervisor.js';
import { createOverlay, imageInfo } from '../storage/qemu-img.js';
import { runCommand } from '../util/run-command.js';
import type { AgentVmReport } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import { captureVmDisk, sweepCaptures, type CaptureFiles } from './vm-capture.js';

const logger = pino({ level: 'silent' });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-capture-unit-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A VM whose disk is an overlay holding 64 KiB of its own on a base holding 512 KiB. */
async function overlayDisk(dir: string): Promise<string> {
  const base = join(dir, 'base.qcow2');
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', base, '4M']);
  await runCommand('qemu-io', ['-c', 'write -P 0x5a 1M 512k', base]);
  const disk = join(dir, 'disk.qcow2');
  await createOverlay(base, 'qcow2', disk);
  await runCommand('qemu-io', ['-c', 'write -P 0xa5 3M 64k', disk]);
  return disk;
}

/** The VM (in the given state) and the files captureVmDisk is called with. */
function host(dir: string, diskPath: string, report: Partial<AgentVmReport>, hypervisor: Partial<Hypervisor> = {}): [Parameters<typeof captureVmDisk>[0], CaptureFiles] {
  return [{
    vmId: 'v1', logger,
    hypervisor: { kind: 'stub', ...hypervisor } as Hypervisor,
    report: async () => ({ id: 'v1', state: 'poweroff', ...report }),
  }, { diskPath, capturePath: join(dir, 'capture.qcow2') }];
}

test('a powered-off or suspended VM\'s disk is captured flattened: the same content, no backing file', async () => {
  await withDir(async (dir) => {
    const disk = await overlayDisk(dir);
    for (const state of ['poweroff', 'suspended'] as const) {
      const { sizeBytes } = await captureVmDisk(...host(dir, disk, { state }));
      const capture = join(dir, 'capture.qcow2');
      const info = await imageInfo(capture);
      assert.deepEqual([info.format, info.backingFile, info.virtualSize], ['qcow2', undefined, 4 * 2 ** 20]);
      assert.ok(sizeBytes > 0);
      await runCommand('qemu-img', ['compare', '-q', disk, capture]);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['base.qcow2', 'capture.qcow2', 'disk.qcow2']);
  });
});

test('a running VM\'s disk goes through the driver\'s backup into an empty image of its size; a failure leaves nothing', async () => {
  await withDir(async (dir) => {
    const disk = await overlayDisk(dir);
    const seen: string[] = [];
    const ok = host(dir, disk, { state: 'running' }, {
      disks: { backup: async (vmId, diskId, target) => {
        seen.push(`${vmId}:${diskId}`);
        const info = await imageInfo(target);
        assert.deepEqual([info.format, info.virtualSize, info.backingFile], ['qcow2', 4 * 2 ** 20, undefined]);
        await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', disk, target]);
      } } as HypervisorDisks,
    });
    await captureVmDisk(...ok);
    assert.deepEqual(seen, ['v1:root']);
    await runCommand('qemu-img', ['compare', '-q', disk, join(dir, 'capture.qcow2')]);

    const failing = host(dir, disk, { state: 'paused' }, { disks: { backup: async (): Promise<void> => { throw new Error('block job failed'); } } as Partial<HypervisorDisks> as HypervisorDisks });
    await assert.rejects(captureVmDisk(...failing), /block job failed/);
    assert.deepEqual((await readdir(dir)).sort(), ['base.qcow2', 'disk.qcow2'], 'neither the capture before nor a partial file is left');

    await assert.rejects(captureVmDisk(...host(dir, disk, { state: 'running' })), (err: Error & { code?: string }) => err.code === 'UNSUPPORTED');
    await assert.rejects(captureVmDisk(...host(dir, join(dir, 'missing.qcow2'), { state: 'poweroff' })), /qemu-img/);
    assert.deepEqual((await readdir(dir)).sort(), ['base.qcow2', 'disk.qcow2']);
  });
});

test('states whose disk cannot be captured are a conflict naming the state', async () => {
  await withDir(async (dir) => {
    for (const report of [{ state: 'crashed' as const }, { state: 'postmigrate' as const }, { state: 'running' as const, incomingMigrationId: 'm1' }]) {
      await assert.rejects(captureVmDisk(...host(dir, join(dir, 'disk.qcow2'), report)), (err: Error & { code?: string }) => {
        assert.ok(err instanceof AgentConflictError, String(err));
        assert.equal(err.code, 'AGENT_VM_CONFLICT');
        assert.equal(err.reason, report.incomingMigrationId !== undefined ? 'in-migration' : 'wrong-state');
        assert.match(err.message, report.incomingMigrationId !== undefined ? /migration m1/ : new RegExp(`it is ${report.state}`));
        return true;
      });
    }
    assert.deepEqual(await readdir(dir), []);
  });
});

test('at start-up, captures left in VM directories are removed, and nothing else', async () => {
  await withDir(async (dir) => {
    for (const [vm, files] of [['v1', ['capture.qcow2', 'disk.qcow2']], ['v2', ['capture.qcow2.part', 'agent-vm.json']], ['v3', ['disk.qcow2']]] as const) {
      await mkdir(join(dir, vm));
      for (const f of files) await writeFile(join(dir, vm, f), 'x');
    }
    await sweepCaptures(dir, logger);
    assert.deepEqual([await readdir(join(dir, 'v1')), await readdir(join(dir, 'v2')), await readdir(join(dir, 'v3'))], [['disk.qcow2'], ['agent-vm.json'], ['disk.qcow2']]);
    await sweepCaptures(join(dir, 'none'), logger);
  });
});
