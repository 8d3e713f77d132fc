import { open, rm } from 'node:fs/promises';
import { QmpClient } from './qmp-client.js';
import type { QmpMigrationInfo, QmpMigrationStatus } from './qmp-schema.js';
import type { WaitOptions } from '../../util/deadline.js';
import { ENDED_MIGRATION } from './ended-migration.js';
import { commitStateFile, saveAttemptFiles, stateWriterUri, waitWriterExit, WatchedFlushBehind } from './state-file-writer.js';
import type { FdSender } from './fd-sender.js';
import { FdSendFailedError, StateSaveFailedError } from './qemu-errors.js';
import { settleMigration } from './settle-migration.js';

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
  /** Awaited in fd mode once the sender is ready, before it is asked (a fault here is one of the sender's). */
  readonly onFdSend?: () => Promise<void> | void;
}

/** The name the state file's descriptor has in QEMU between `getfd` and `migrate` (one at a time per VM). */
export const SAVE_FDNAME = 'nubo-save';

/**
 * How a save hands QEMU its file itself (fd mode): the VM's fd-passing
 * monitor and the sender that uses it. QEMU then writes the part file with
 * its own write() calls — no pipe, no second process copying the stream.
 */
export interface SaveViaFd {
  readonly sender: FdSender;
  /** The VM's fd-passing QMP monitor (vm-paths.ts `fdpassSocket`). */
  readonly socket: string;
  /** How long the sender may take to answer (default 10 s; it takes a few ms). */
  readonly timeoutMs?: number | undefined;
  /**
   * Awaited when fd mode could not be used and the save goes on through the
   * exec: writer, before that writer starts: the save marker must say so first
   * (a retry commits an fd-mode part without a writer's rc file).
   */
  readonly onFallback: (err: Error) => Promise<void> | void;
}

export interface SavedState {
  /** Who wrote the file: QEMU itself (`fd`) or the detached dd of the exec: URI. */
  readonly mode: 'fd' | 'exec';
  readonly info: QmpMigrationInfo;
  readonly bytes: number;
  /** From `migrate` to QEMU's `completed`, then to the writer's end (exec mode; 0 in fd mode), in ms. */
  readonly streamMs: number;
  readonly writerMs: number;
}

/**
 * Writes a stopped VM's memory and device state to `statePath`, the QEMU 7.2
 * way (no `file:` URI yet): a migration into `<statePath>.<token>.part`, which
 * this process makes (empty, 0600) and flushes behind the stream, then
 * renames into place once whole and durable (commitStateFile). The VM is then
 * in `postmigrate` and must not be resumed by the caller.
 *
 * Two ways to the part file. fd mode (`via`): the sender hands QEMU the file
 * (`getfd` on the VM's fd-passing monitor) and runs `migrate fd:` there, so
 * QEMU writes it itself; its `completed` event comes only after the last
 * write() returned (qemu_savevm_state_complete_precopy flushes the stream
 * before the state is set), so the event alone proves the file whole. exec
 * mode (no `via`, or the sender failed — `via.onFallback`): a migration into
 * `exec:` whose detached `dd` writes the part (stateWriterUri); QEMU's
 * `completed` AND the writer's exit 0 prove it whole (the writer alone sees an
 * end of stream also when QEMU fails).
 *
 * A sender that may have reached QEMU (ambiguous: it died or did not answer)
 * is fenced before the fallback: once QEMU greets a new client on that
 * monitor the old connection is closed and its unrun commands dropped, so
 * whether its `migrate` ran is then known from QEMU (a migration under way or
 * ended) — it is followed in fd mode if so, else the exec writer takes over.
 * A failed save cancels the migration, waits for its end and leaves no file.
 */
export async function qmpSaveState(qmp: QmpClient, statePath: string, token: string, opts: WaitOptions, hooks: SaveStateHooks = {}, via?: SaveViaFd): Promise<SavedState> {
  const q = { signal: opts.signal, timeoutMs: 5_000 };
  const files = saveAttemptFiles(statePath, token);
  // Whatever an earlier live migration of this process left set would slow a save or make its stream unreadable as a
  // file; `events`, so that the end is told, not polled for.
  await qmp.execute('migrate-set-capabilities', {
    capabilities: [
      // x-ignore-shared off: this is format 1, QEMU's whole stream, its guest RAM included.
      ...(['xbzrle', 'auto-converge', 'postcopy-ram', 'pause-before-switchover', 'x-ignore-shared'] as const).map((capability) => ({ capability, state: false })),
      { capability: 'events', state: true },
    ],
  }, q);
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': SAVE_MAX_BANDWIDTH }, q);
  // Made here, empty and private, before QEMU or the writer opens it (without truncating): this handle flushes their pages.
  const fh = await open(files.part, 'wx', 0o600);
  // What a failure must undo: a migration QEMU may be running (fd: QEMU writes itself; exec: its writer is waited for).
  let migrating: 'no' | 'fd' | 'exec' = 'no';
  let mode: 'fd' | 'exec' = 'exec';
  let flush: WatchedFlushBehind | undefined;
  try {
    let hookFailed: ((err: Error) => void) | undefined;
    const hookFailure = new Promise<never>((_, reject) => (hookFailed = reject));
    hookFailure.catch(() => {});
    let endedSeen = false;
    const ended = qmp.waitForEvent('MIGRATION', { ...opts, timeoutMs: opts.timeoutMs ?? 300_000, match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
    ended.then(() => (endedSeen = true), () => {});
    const t0 = performance.now();
    if (via !== undefined) {
      // From the request on, whatever the sender may have started is cancelled by a failure.
      migrating = 'fd';
      try {
        await via.sender.start(q);
        await hooks.onFdSend?.();
        await via.sender.send({ socket: via.socket, path: files.part, fdname: SAVE_FDNAME, command: { execute: 'migrate', arguments: { uri: `fd:${SAVE_FDNAME}` } } }, { signal: opts.signal, timeoutMs: via.timeoutMs ?? 10_000 });
        mode = 'fd';
      } catch (err) {
        if (!(err instanceof FdSendFailedError)) throw err;
        if (err.ambiguous) {
          // Its connection gone from QEMU (a new client greeted), its commands either ran or were dropped: QEMU tells which.
          const fence = await QmpClient.connect(via.socket, q);
          fence.close();
          const m = await qmp.execute('query-migrate', undefined, q);
          if (endedSeen || (m.status !== undefined && m.status !== 'none' && !ENDED_MIGRATION.has(m.status))) mode = 'fd';
        }
        if (mode === 'exec') {
          migrating = 'no';
          await via.onFallback(err);
        }
      }
    }
    if (mode === 'exec') {
      await qmp.execute('migrate', { uri: stateWriterUri(files) }, q);
      migrating = 'exec';
    }
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
    if (mode === 'exec') {
      const rc = await Promise.race([waitWriterExit(files.rc, { ...opts, timeoutMs: opts.timeoutMs ?? 300_000 }), hookFailure]);
      if (rc !== 0) throw new StateSaveFailedError('completed', `the state file writer (dd) exited with status ${rc}`);
    }
    const t2 = performance.now();
    await flush.stop();
    flush = undefined;
    await fh.close();
    const bytes = await commitStateFile(files.part, statePath);
    await rm(files.rc, { force: true });
    const info = await qmp.execute('query-migrate', undefined, q);
    return { mode, info, bytes, streamMs: t1 - t0, writerMs: t2 - t1 };
  } catch (err) {
    await flush?.stop().catch(() => {});
    await fh.close().catch(() => {});
    if (migrating !== 'no') {
      await qmp.execute('migrate_cancel', undefined, { timeoutMs: 5_000 }).catch(() => {});
      // Waited for, so that nothing the stream writes outlives the clean-up: the writer ends once QEMU closed its
      // pipe; in fd mode QEMU itself is the writer.
      if (migrating === 'exec') await waitWriterExit(files.rc, { timeoutMs: 30_000 }).catch(() => {});
      else await settleMigration(qmp, { timeoutMs: 30_000 }).catch(() => {});
    }
    await Promise.all([files.part, files.rc, `${files.rc}.tmp`].map((f) => rm(f, { force: true })));
    throw err;
  }
}
