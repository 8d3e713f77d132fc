import type { QmpClient } from './qmp-client.js';
import type { QmpBlockJobInfo } from './qmp-schema.js';
import { pollUntil, sleep, type WaitOptions } from '../../util/deadline.js';
import { BlockJobFailedError, BlockJobVanishedError } from './qemu-errors.js';

/** Block nodes of one disk: the format node the guest device reads through, and the file node under it. */
export interface DiskNodes {
  readonly format: string;
  readonly file: string;
}

/**
 * Node names of a disk. A disk whose file moved has its nodes under the
 * alternate names: QEMU cannot rename a node, and the old names are taken
 * until the pivot is done, so a move flips between the two sets.
 */
export function diskNodes(diskId: string, alternate: boolean): DiskNodes {
  return alternate ? { format: `d-${diskId}.m`, file: `f-${diskId}.m` } : { format: `d-${diskId}`, file: `f-${diskId}` };
}

/** Block job id of a disk move (distinct from a migration's `mirror-<disk>` jobs). */
export const moveJobId = (diskId: string): string => `move-${diskId}`;

export interface DiskMoveProgress {
  /** Bytes copied of `len` so far; READY once the copy caught up and every write goes to both files. */
  readonly offset: number;
  readonly len: number;
  readonly ready: boolean;
}

export interface QmpDiskMove {
  readonly diskId: string;
  readonly from: DiskNodes;
  readonly to: DiskNodes;
  /** The new file (already created: an overlay on the same base for `top`, an empty image for `full`). */
  readonly path: string;
  readonly format: 'qcow2' | 'raw';
  /** `file` node options shared with the old node (cache mode), so the guest sees the same disk. */
  readonly cache: Record<string, unknown>;
  readonly sync: 'top' | 'full';
  readonly speed?: number | undefined;
  readonly onProgress?: ((p: DiskMoveProgress) => void) | undefined;
}

const CMD = 5_000;

/**
 * Moves a running disk to another file: the new file is opened as a second
 * pair of nodes, `blockdev-mirror` copies the disk into it (every guest write
 * goes to both once the job is READY), and `block-job-complete` pivots the
 * guest device onto the new nodes; only then are the old nodes closed. Until
 * the pivot the guest runs on the old file: a failure or an abort (signal)
 * force-cancels the job and removes the new nodes, leaving the VM as it was.
 */
export async function qmpMoveDisk(qmp: QmpClient, m: QmpDiskMove, opts: WaitOptions): Promise<void> {
  const o = { signal: opts.signal, timeoutMs: CMD };
  const job = moveJobId(m.diskId);
  await qmp.execute('blockdev-add', { driver: 'file', filename: m.path, 'node-name': m.to.file, 'read-only': false, cache: m.cache }, o);
  let pivoted = false;
  try {
    await qmp.execute('blockdev-add', { driver: m.format, 'node-name': m.to.format, file: m.to.file, 'read-only': false, cache: m.cache }, o);
    await qmp.execute('blockdev-mirror', {
      'job-id': job,
      device: m.from.format,
      target: m.to.format,
      sync: m.sync,
      'auto-dismiss': false,
      ...(m.speed !== undefined ? { speed: m.speed } : {}),
    }, o);
    await pollUntil(`disk ${m.diskId} mirror READY`, async () => {
      const j = await jobOf(qmp, job, o);
      if (j === undefined) throw new BlockJobVanishedError('mirror');
      if (j.status === 'concluded') throw new BlockJobFailedError('mirror', `the mirror failed: ${j.error ?? 'it ended before it was READY'}`);
      m.onProgress?.({ offset: j.offset, len: j.len, ready: j.ready });
      return j.ready ? true : undefined;
    }, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 3_600_000, intervalMs: 200 });
    // The pivot: from here on the guest writes to the new file only.
    await qmp.execute('block-job-complete', { device: job }, o);
    const done = await pollUntil(`disk ${m.diskId} pivot`, async () => {
      const j = await jobOf(qmp, job, o);
      return j !== undefined && j.status === 'concluded' ? j : undefined;
    }, { signal: opts.signal, timeoutMs: 60_000, intervalMs: 50 });
    await qmp.execute('job-dismiss', { id: job }, o);
    if (done.error !== undefined) throw new BlockJobFailedError('mirror', `the pivot failed: ${done.error}`);
    pivoted = true;
    m.onProgress?.({ offset: done.offset, len: done.len, ready: true });
  } catch (err) {
    if (!pivoted) await undoMove(qmp, m, job);
    throw err;
  }
  // The old nodes are now unused; closing them lets go of the old file.
  await qmp.execute('blockdev-del', { 'node-name': m.from.format }, o);
  await qmp.execute('blockdev-del', { 'node-name': m.from.file }, o);
}

async function jobOf(qmp: QmpClient, id: string, o: WaitOptions): Promise<QmpBlockJobInfo | undefined> {
  return (await qmp.execute('query-block-jobs', undefined, o)).find((j) => j.device === id);
}

/**
 * Force-cancels the job (without a pivot the guest stays on the old nodes)
 * and closes the new nodes. Runs without the caller's signal: an abort is
 * what brings us here, and the clean-up must still happen.
 */
async function undoMove(qmp: QmpClient, m: Pick<QmpDiskMove, 'diskId' | 'from' | 'to'>, job: string): Promise<void> {
  const o = { timeoutMs: CMD };
  const j = await jobOf(qmp, job, o).catch(() => undefined);
  if (j !== undefined) {
    if (j.status !== 'concluded') await qmp.execute('block-job-cancel', { device: job, force: true }, o).catch(() => {});
    await pollUntil('cancel of the disk move', async () => ((await jobOf(qmp, job, o))?.status === 'concluded' ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 }).catch(() => {});
    await qmp.execute('job-dismiss', { id: job }, o).catch(() => {});
  }
  await qmp.execute('blockdev-del', { 'node-name': m.to.format }, o).catch(() => {});
  // The format node lets go of its file node asynchronously on some versions; retry briefly.
  for (let i = 0; i < 10; i++) {
    const ok = await qmp.execute('blockdev-del', { 'node-name': m.to.file }, o).then(() => true, () => false);
    if (ok) break;
    await sleep(50).catch(() => {});
  }
}

/** What adoption found of a move the previous driver process left: undone, or switched over (to `path`) before the record said so. */
export type AbandonedMove = { readonly diskId: string; readonly pivoted: false } | { readonly diskId: string; readonly pivoted: true; readonly path: string };

/**
 * After the process that ran a move is gone (a restarted agent adopting the
 * VM): a move job still there either switched the guest over already (the
 * process died between the pivot and its record) — then the old nodes are
 * closed and the new file reported — or it did not, and it is cancelled and
 * its new nodes closed, leaving the guest on the disk the record names.
 */
export async function abandonDiskMoves(qmp: QmpClient, movedDisks: readonly string[], opts: WaitOptions): Promise<AbandonedMove[]> {
  const o = { signal: opts.signal, timeoutMs: CMD };
  const jobs = (await qmp.execute('query-block-jobs', undefined, o)).filter((j) => j.device.startsWith('move-'));
  const out: AbandonedMove[] = [];
  for (const j of jobs) {
    const diskId = j.device.slice('move-'.length);
    const alternate = movedDisks.includes(diskId);
    const m = { diskId, from: diskNodes(diskId, alternate), to: diskNodes(diskId, !alternate) };
    const devices = (await qmp.executeUnchecked('query-block', undefined, o)) as { qdev?: string; inserted?: { 'node-name'?: string; file?: string } }[];
    const dev = devices.find((d) => d.qdev?.split('/').includes(diskId) === true);
    if (j.status === 'concluded' && j.error === undefined && dev?.inserted?.['node-name'] === m.to.format) {
      await qmp.execute('job-dismiss', { id: j.device }, o).catch(() => {});
      await qmp.execute('blockdev-del', { 'node-name': m.from.format }, o).catch(() => {});
      await qmp.execute('blockdev-del', { 'node-name': m.from.file }, o).catch(() => {});
      out.push({ diskId, pivoted: true, path: dev.inserted.file ?? '' });
    } else {
      await undoMove(qmp, m, j.device);
      out.push({ diskId, pivoted: false });
    }
  }
  return out;
}
