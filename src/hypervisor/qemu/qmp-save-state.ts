import { open, rm } from 'node:fs/promises';
import type { QmpClient } from './qmp-client.js';
import type { QmpMigrationInfo, QmpMigrationStatus } from './qmp-schema.js';
import type { WaitOptions } from '../../util/deadline.js';
import { StateSaveFailedError } from './qemu-errors.js';
import { ENDED_MIGRATION } from './ended-migration.js';
import { commitStateFile, saveAttemptFiles, stateWriterUri, waitWriterExit, WatchedFlushBehind } from './state-file-writer.js';

/**
 * No cap: QEMU's default (128 MiB/s on 7.2) throttled a save to half the
 * disk's speed. The largest integer JSON carries exactly, far below QEMU's
 * own limit.
 */
export const SAVE_MAX_BANDWIDTH = Number.MAX_SAFE_INTEGER;

/**
 * Bytes between the flushes beside a save's stream. Smaller than a peer
 * transfer's (FLUSH_BEHIND_BYTES): QEMU fills the page cache about as fast as
 * the disk drains it, so the disk is kept busy from the start and the flush at
 * the end finds little left.
 */
export const SAVE_FLUSH_EVERY_BYTES = 8 * 1024 * 1024;


/** For tests and failpoints. */
export interface SaveStateHooks {
  /** Told after each flush beside the stream. */
  readonly onFlush?: () => void;
  /** Awaited once the first bytes are in the file, QEMU still sending: a fault here is one mid-stream (its error fails the save). */
  readonly onFirstWrite?: () => Promise<void> | void;
  /** Awaited once QEMU completed, before the writer is known to have made the file durable. */
  readonly onReceived?: () => Promise<void> | void;
  /** Bytes between the flushes beside the stream (default SAVE_FLUSH_EVERY_BYTES). */
  readonly flushEveryBytes?: number | undefined;
}

export interface SavedState {
  readonly info: QmpMigrationInfo;
  readonly bytes: number;
  /** From `migrate` to QEMU's `completed`, then to the writer's end (the file durable), in ms. */
  readonly streamMs: number;
  readonly writerMs: number;
}

/**
 * Writes a stopped VM's memory and device state to `statePath`, the QEMU 7.2
 * way (no `file:` URI yet): a migration into `exec:`, whose detached `dd`
 * writes `<statePath>.<token>.part` and flushes it (stateWriterUri), this
 * process flushing behind it meanwhile. Resolves once QEMU reports
 * `completed` (MIGRATION event) AND the writer exited 0 — only both prove the
 * file whole (the writer alone sees an end of stream also when QEMU fails) —
 * and the file is renamed into place and its directory flushed; the VM is
 * then in `postmigrate` and must not be resumed by the caller. A failed save
 * cancels the migration, waits for the writer and leaves no file behind.
 */
export async function qmpSaveState(qmp: QmpClient, statePath: string, token: string, opts: WaitOptions, hooks: SaveStateHooks = {}): Promise<SavedState> {
  const q = { signal: opts.signal, timeoutMs: 5_000 };
  const files = saveAttemptFiles(statePath, token);
  // Whatever an earlier live migration of this process left set would slow a save or make its stream unreadable as a
  // file; `events`, so that the end is told, not polled for.
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      ...(['xbzrle', 'auto-converge', 'postcopy-ram', 'pause-before-switchover'] as const).map((capability) => ({ capability, state: false })),
      { capability: 'events', state: true },
    ],
  }, q);
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': SAVE_MAX_BANDWIDTH }, q);
  // Made here, empty and private, before the writer opens it (without truncating): this handle flushes the writer's pages.
  const fh = await open(files.part, 'wx', 0o600);
  let migrating = false;
  let flush: WatchedFlushBehind | undefined;
  try {
    let hookFailed: ((err: Error) => void) | undefined;
    const hookFailure = new Promise<never>((_, reject) => (hookFailed = reject));
    hookFailure.catch(() => {});
    const ended = qmp.waitForEvent('MIGRATION', { ...opts, timeoutMs: opts.timeoutMs ?? 300_000, match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
    ended.catch(() => {});
    const t0 = performance.now();
    await qmp.execute('migrate', { uri: stateWriterUri(files) }, q);
    migrating = true;
    flush = new WatchedFlushBehind(fh, {
      everyBytes: hooks.flushEveryBytes ?? SAVE_FLUSH_EVERY_BYTES,
      ...(hooks.onFlush ? { onFlushed: hooks.onFlush } : {}),
      ...(hooks.onFirstWrite ? { onFirstBytes: hooks.onFirstWrite } : {}),
      onFirstBytesFailed: (err) => hookFailed?.(err),
    });
    const ev = await Promise.race([ended, hookFailure]);
    const status = ev.data['status'] as QmpMigrationStatus;
    if (status !== 'completed') {
      const info = await qmp.execute('query-migrate', undefined, q).catch(() => undefined);
      throw new StateSaveFailedError(status, info?.['error-desc'] ?? `migration ${status}`);
    }
    const t1 = performance.now();
    // A stream short enough to end between two looks at the file has its first bytes told now, before its end is.
    await Promise.race([flush.lookNow(), hookFailure]);
    await Promise.race([Promise.resolve(hooks.onReceived?.()), hookFailure]);
    const rc = await Promise.race([waitWriterExit(files.rc, { ...opts, timeoutMs: opts.timeoutMs ?? 300_000 }), hookFailure]);
    if (rc !== 0) throw new StateSaveFailedError('completed', `the state file writer (dd) exited with status ${rc}`);
    const t2 = performance.now();
    await flush.stop();
    flush = undefined;
    await fh.close();
    const bytes = await commitStateFile(files.part, statePath);
    await rm(files.rc, { force: true });
    const info = await qmp.execute('query-migrate', undefined, q);
    return { info, bytes, streamMs: t1 - t0, writerMs: t2 - t1 };
  } catch (err) {
    await flush?.stop().catch(() => {});
    await fh.close().catch(() => {});
    if (migrating) {
      await qmp.execute('migrate_cancel', undefined, { timeoutMs: 5_000 }).catch(() => {});
      // The writer ends once QEMU closed its pipe: waited for, so that nothing it writes outlives the clean-up.
      await waitWriterExit(files.rc, { timeoutMs: 30_000 }).catch(() => {});
    }
    await Promise.all([files.part, files.rc, `${files.rc}.tmp`].map((f) => rm(f, { force: true })));
    throw err;
  }
}
