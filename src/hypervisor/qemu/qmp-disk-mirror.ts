import type { QmpClient } from './qmp-client.js';
import type { QmpBlockJobInfo } from './qmp-schema.js';
import { mirrorJobId, mirrorJobs, nbdNodeName } from './qmp-migration-progress.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';

export interface DiskMirrorTarget {
  readonly host: string;
  readonly port: number;
  readonly exports: readonly { readonly diskId: string; readonly name: string }[];
  /** Id of a client-endpoint tls-creds object; the NBD server then verifies our certificate and we verify its. */
  readonly tlsCreds?: string | undefined;
  readonly sync: 'top' | 'full';
  readonly speed?: number | undefined;
  /** The format node of a disk, when it is not `d-<disk>` (a disk that was moved: see qmp-disk-move.ts). */
  readonly sourceNode?: ((diskId: string) => string) | undefined;
}

const NBD_PREFIX = 'nbd-';

/**
 * Source side of non-shared storage migration: per disk, an NBD client node
 * connected to the destination's export and a `blockdev-mirror` of the
 * disk's format node onto it. `top` copies only what the disk's own file
 * holds (the destination's file is an overlay on an identical base); `full`
 * copies every block. Jobs are kept after they end (`auto-dismiss` off) so
 * that a mirror that failed still shows, with its error, until it is cleaned
 * up. On failure everything added so far is removed again.
 */
export async function startDiskMirrors(qmp: QmpClient, t: DiskMirrorTarget, opts: WaitOptions): Promise<void> {
  const added: string[] = [];
  try {
    for (const e of t.exports) {
      await qmp.execute('blockdev-add', {
        driver: 'nbd',
        'node-name': nbdNodeName(e.diskId),
        server: { type: 'inet', host: t.host, port: String(t.port) },
        export: e.name,
        ...(t.tlsCreds !== undefined ? { 'tls-creds': t.tlsCreds } : {}),
      }, opts);
      added.push(e.diskId);
      await qmp.execute('blockdev-mirror', {
        'job-id': mirrorJobId(e.diskId),
        device: t.sourceNode?.(e.diskId) ?? `d-${e.diskId}`,
        target: nbdNodeName(e.diskId),
        sync: t.sync,
        'auto-dismiss': false,
        ...(t.speed !== undefined ? { speed: t.speed } : {}),
      }, opts);
    }
  } catch (err) {
    await endDiskMirrors(qmp, 'abort', { signal: opts.signal, timeoutMs: 30_000 }).catch(() => {});
    await dropNbdNodes(qmp, { signal: opts.signal, timeoutMs: 5_000 }).catch(() => {});
    throw err;
  }
}

export interface EndedMirror {
  readonly diskId: string;
  /** Unset when the mirror finished its copy; else why it did not. */
  readonly error?: string;
}

/**
 * Ends every disk mirror and waits until QEMU has let go of each job.
 * - complete: a READY mirror is cancelled the gentle way, which in QEMU
 *   means "copy what is still dirty, then end without switching the guest
 *   over" — the destination then holds every write. Meant for a source whose
 *   vCPUs stopped, so that nothing new gets dirty. A mirror that never got
 *   READY cannot be completed and is force-cancelled (reported with an error).
 * - abort: every mirror is force-cancelled at once.
 */
export async function endDiskMirrors(qmp: QmpClient, mode: 'complete' | 'abort', opts: WaitOptions): Promise<EndedMirror[]> {
  const o = { signal: opts.signal, timeoutMs: 5_000 };
  const jobs = mirrorJobs(await qmp.execute('query-block-jobs', undefined, o));
  const notReady = new Set<string>();
  for (const j of jobs) {
    if (j.status === 'concluded' || j.status === 'aborting' || j.status === 'null') continue;
    const gentle = mode === 'complete' && j.ready;
    if (mode === 'complete' && !j.ready) notReady.add(j.device);
    await qmp.execute('block-job-cancel', { device: j.device, force: !gentle }, o).catch(() => {
      // It may have ended between the query and the cancel; the wait below tells.
    });
  }
  const ids = new Set(jobs.map((j) => j.device));
  const ended = async (): Promise<QmpBlockJobInfo[] | undefined> => {
    const now = mirrorJobs(await qmp.execute('query-block-jobs', undefined, o)).filter((j) => ids.has(j.device));
    return now.every((j) => j.status === 'concluded') ? now : undefined;
  };
  if (mode === 'abort' && jobs.length > 0) {
    // A forced cancel still drains the writes in flight; to an NBD peer that vanished from the
    // network (a cut link) those wait for TCP to give up, many minutes. Yank the connections:
    // QEMU fails the requests at once (the yank command exists for exactly this).
    const early = await pollUntil('end of the disk mirrors', ended, { signal: opts.signal, timeoutMs: 2_000, intervalMs: 50 }).catch(() => undefined);
    if (early === undefined) {
      const instances = jobs.map((j) => ({ type: 'block-node' as const, 'node-name': `${NBD_PREFIX}${j.device.slice('mirror-'.length)}` }));
      await qmp.execute('yank', { instances }, o).catch(() => {});
    }
  }
  // The gentle cancel may still copy a little; the wait covers that tail.
  const concluded = await pollUntil<QmpBlockJobInfo[]>(
    'end of the disk mirrors',
    ended,
    { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 50 },
  );
  const out: EndedMirror[] = [];
  for (const j of concluded) {
    await qmp.execute('job-dismiss', { id: j.device }, o);
    const diskId = j.device.slice('mirror-'.length);
    const error = notReady.has(j.device) ? `the mirror was not in sync yet (${j.offset} of ${j.len} bytes)` : j.error;
    out.push(error !== undefined ? { diskId, error } : { diskId });
  }
  return out;
}

/** Removes the NBD client nodes the mirrors wrote to (after the jobs ended). */
export async function dropNbdNodes(qmp: QmpClient, opts: WaitOptions): Promise<void> {
  const nodes = await qmp.execute('query-named-block-nodes', { flat: true }, opts);
  for (const n of nodes) {
    if (n.drv === 'nbd' && n['node-name'].startsWith(NBD_PREFIX)) await qmp.execute('blockdev-del', { 'node-name': n['node-name'] }, opts);
  }
}

/** Whether a mirror job or NBD node of a migration is still there. */
export async function hasMirrorState(qmp: QmpClient, opts: WaitOptions): Promise<boolean> {
  const jobs = mirrorJobs(await qmp.execute('query-block-jobs', undefined, opts));
  if (jobs.length > 0) return true;
  const nodes = await qmp.execute('query-named-block-nodes', { flat: true }, opts);
  return nodes.some((n) => n.drv === 'nbd' && n['node-name'].startsWith(NBD_PREFIX));
}
