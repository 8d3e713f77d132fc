import type { QmpClient } from './qmp-client.js';
import type { QmpBlockJobInfo } from './qmp-schema.js';
import { pollUntil, sleep, type WaitOptions } from '../../util/deadline.js';
import { BlockJobFailedError, BlockJobVanishedError } from './qemu-errors.js';

/** Block job id and node names of a disk's backup (distinct from a move's `move-` and a migration's `mirror-`). */
export const backupJobId = (diskId: string): string => `backup-${diskId}`;
const targetNodes = (diskId: string): { format: string; file: string } => ({ format: `b-${diskId}`, file: `bf-${diskId}` });

export interface QmpDiskBackup {
  readonly diskId: string;
  /** The format node the guest device reads through (`d-<disk>`, or its alternate name after a move). */
  readonly source: string;
  /** The target file, already created: a qcow2 of the disk's virtual size. */
  readonly path: string;
}

const CMD = 5_000;

/**
 * A point-in-time copy of a running disk: `blockdev-backup sync=full` into a
 * second pair of nodes opened on the target file. The job's copy-before-write
 * filter keeps the disk as it was when the job started, so the copy is
 * crash-consistent at that instant while the guest writes on; reading through
 * the format node flattens any backing chain. The guest device is never
 * touched: a failure or an abort (signal) cancels the job and closes the
 * target nodes, and the VM runs on as before. The caller removes the file.
 */
export async function qmpBackupDisk(qmp: QmpClient, b: QmpDiskBackup, opts: WaitOptions): Promise<void> {
  const o = { signal: opts.signal, timeoutMs: CMD };
  const job = backupJobId(b.diskId);
  const to = targetNodes(b.diskId);
  // Leftovers of an earlier backup that died with its caller would block the names.
  await undoBackup(qmp, b.diskId);
  await qmp.execute('blockdev-add', { driver: 'file', filename: b.path, 'node-name': to.file }, o);
  try {
    await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': to.format, file: to.file }, o);
    await qmp.executeUnchecked('blockdev-backup', { 'job-id': job, device: b.source, target: to.format, sync: 'full', 'auto-dismiss': false }, o);
    const done = await pollUntil(`backup of disk ${b.diskId}`, async () => {
      const j = await jobOf(qmp, job, o);
      if (j === undefined) throw new BlockJobVanishedError('backup');
      return j.status === 'concluded' ? j : undefined;
    }, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 3_600_000, intervalMs: 100 });
    await qmp.execute('job-dismiss', { id: job }, o);
    if (done.error !== undefined) throw new BlockJobFailedError('backup', `the backup failed: ${done.error}`);
  } finally {
    await undoBackup(qmp, b.diskId);
  }
}

async function jobOf(qmp: QmpClient, id: string, o: WaitOptions): Promise<QmpBlockJobInfo | undefined> {
  return (await qmp.execute('query-block-jobs', undefined, o)).find((j) => j.device === id);
}

/**
 * Cancels the disk's backup job if there is one and closes its target nodes.
 * Runs without the caller's signal: an abort is one way to get here, and the
 * clean-up must still happen. Every step tolerates what is already gone.
 */
async function undoBackup(qmp: QmpClient, diskId: string): Promise<void> {
  const o = { timeoutMs: CMD };
  const job = backupJobId(diskId);
  const to = targetNodes(diskId);
  const j = await jobOf(qmp, job, o).catch(() => undefined);
  if (j !== undefined) {
    if (j.status !== 'concluded') await qmp.execute('block-job-cancel', { device: job, force: true }, o).catch(() => {});
    await pollUntil('cancel of the disk backup', async () => ((await jobOf(qmp, job, o))?.status === 'concluded' ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 }).catch(() => {});
    await qmp.execute('job-dismiss', { id: job }, o).catch(() => {});
  }
  const nodes = await qmp.execute('query-named-block-nodes', { flat: true }, o).catch(() => []);
  if (nodes.some((n) => n['node-name'] === to.format)) await qmp.execute('blockdev-del', { 'node-name': to.format }, o).catch(() => {});
  // The format node lets go of its file node asynchronously on some versions; retry briefly.
  for (let i = 0; i < 10; i++) {
    const left = (await qmp.execute('query-named-block-nodes', { flat: true }, o).catch(() => [])).some((n) => n['node-name'] === to.file);
    if (!left) break;
    if (await qmp.execute('blockdev-del', { 'node-name': to.file }, o).then(() => true, () => false)) break;
    await sleep(50).catch(() => {});
  }
}
