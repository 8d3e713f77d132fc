import { open, readdir, readlink, rm, stat } from 'node:fs/promises';
import { QmpClient } from './qmp-client.js';
import type { QmpMigrationStatus } from './qmp-schema.js';
import type { WaitOptions } from '../../util/deadline.js';
import { ENDED_MIGRATION } from './ended-migration.js';
import { commitStateFile, saveAttemptFiles } from './state-file-writer.js';
import type { FdSender } from './fd-sender.js';
import { StateSaveFailedError } from './qemu-errors.js';
import { settleMigration } from './settle-migration.js';
import { setCapabilities } from './qmp-migration-settings.js';
import { SAVE_FDNAME, SAVE_MAX_BANDWIDTH } from './qmp-save-state.js';
import { encodeRamStateHeader, ramStateLayout } from './ram-state-header.js';

/**
 * The guest RAM of the QEMU `pid` as a path another process can open: the memfd of `bytes` bytes in its descriptor
 * table (`/proc/<pid>/fd/<n>`, its link `/memfd:…`: QEMU's own `memory-backend-memfd`, or the one a restore of format 2
 * handed it). Undefined when there is none: a QEMU started by an older agent (anonymous RAM) is saved as before.
 */
export async function findGuestMemfd(pid: number, bytes: number): Promise<string | undefined> {
  const dir = `/proc/${pid}/fd`;
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const path = `${dir}/${n}`;
    const link = await readlink(path).catch(() => '');
    if (!link.startsWith('/memfd:')) continue;
    if ((await stat(path).catch(() => undefined))?.size === bytes) return path;
  }
  return undefined;
}

/** For failpoints: awaited before the RAM copy, before QEMU's device stream, and once QEMU completed it (header not written). */
export interface RamSaveHooks {
  readonly onRamCopy?: () => Promise<void> | void;
  readonly onDeviceStream?: () => Promise<void> | void;
  readonly onReceived?: () => Promise<void> | void;
}

export interface RamSaveInput {
  readonly sender: FdSender;
  /** The VM's fd-passing monitor (QEMU takes the stream's descriptor there). */
  readonly socket: string;
  /** The guest RAM's memfd (findGuestMemfd) and its size. */
  readonly memfd: string;
  readonly ramBytes: number;
  readonly threads: number;
}

export interface SavedRamState {
  /** The file's apparent size (its RAM image's holes included). */
  readonly bytes: number;
  readonly storedRamBytes: number;
  readonly devBytes: number;
  readonly direct: boolean;
  readonly ramMs: number;
  readonly devMs: number;
}

/**
 * Saves a stopped VM in format 2 (ram-state-header.ts) into
 * `<statePath>.<token>.part`, renamed to `statePath` once whole and durable.
 * Side by side: the guest's RAM, copied from QEMU's memfd by the fd sender
 * (O_DIRECT, in parallel), and QEMU's device state alone (`x-ignore-shared`:
 * shared RAM blocks are not streamed) written by QEMU into the same file after
 * the RAM image (disjoint ranges; the guest is stopped and the device save
 * only reads its RAM). Then one fdatasync of all of it, then the header.
 *
 * A failure cancels QEMU's stream and waits for its end, turns
 * x-ignore-shared off again (QEMU runs on: a live migration with it on would
 * carry no RAM) and removes the part; QEMU may then be in `postmigrate` (its
 * stream completed before the RAM copy failed), which the caller undoes. On
 * success QEMU is in `postmigrate`.
 */
export async function qmpSaveRamState(qmp: QmpClient, statePath: string, token: string, input: RamSaveInput, opts: WaitOptions, hooks: RamSaveHooks = {}): Promise<SavedRamState> {
  const q = { signal: opts.signal, timeoutMs: 5_000 };
  const files = saveAttemptFiles(statePath, token);
  const { ramOffset, devOffset } = ramStateLayout(input.ramBytes);
  const fh = await open(files.part, 'wx', 0o600);
  let migrating = false;
  // Each side's failure is awaited by the other's end before anything is undone.
  const settled: Promise<unknown>[] = [];
  try {
    await hooks.onRamCopy?.();
    const t0 = performance.now();
    let ramMs = 0;
    let devMs = 0;
    // The file is synced once below, device stream and all: no fdatasync of its own.
    const ramCopy = input.sender.saveRam({ memfd: input.memfd, path: files.part, offset: ramOffset, bytes: input.ramBytes, threads: input.threads, sync: false }, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 300_000 })
      .then((r) => {
        ramMs = performance.now() - t0;
        return r;
      });
    settled.push(ramCopy.catch(() => undefined));
    const device = (async () => {
      await hooks.onDeviceStream?.();
      await setCapabilities(qmp, { xbzrle: false, 'auto-converge': false, 'postcopy-ram': false, 'pause-before-switchover': false, events: true, 'x-ignore-shared': true }, q);
      await qmp.execute('migrate-set-parameters', { 'max-bandwidth': SAVE_MAX_BANDWIDTH }, q);
      const ended = qmp.waitForEvent('MIGRATION', { ...opts, timeoutMs: opts.timeoutMs ?? 300_000, match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
      ended.catch(() => {});
      migrating = true;
      // QEMU writes the device stream from the descriptor's offset: after the RAM image.
      await input.sender.send({ socket: input.socket, path: files.part, fdname: SAVE_FDNAME, seek: devOffset, command: { execute: 'migrate', arguments: { uri: `fd:${SAVE_FDNAME}` } } }, { signal: opts.signal, timeoutMs: 10_000 });
      const ev = await ended;
      const status = ev.data['status'] as QmpMigrationStatus;
      if (status !== 'completed') {
        const info = await qmp.execute('query-migrate', undefined, q).catch(() => undefined);
        throw new StateSaveFailedError(status, info?.['error-desc'] ?? `migration ${status}`);
      }
      devMs = performance.now() - t0;
    })();
    settled.push(device.catch(() => undefined));
    const [ram] = await Promise.all([ramCopy, device]);
    await hooks.onReceived?.();
    const size = (await fh.stat()).size;
    const devBytes = size - devOffset;
    if (devBytes <= 0) throw new StateSaveFailedError('completed', 'QEMU completed without writing its device state');
    // Everything but the header on the disk first: a header on the disk says the rest is there.
    await fh.datasync();
    await fh.write(encodeRamStateHeader({ ramBytes: input.ramBytes, ramOffset, devOffset, devBytes, storedRamBytes: ram.bytes }), 0, undefined, 0);
    await fh.close();
    const bytes = await commitStateFile(files.part, statePath);
    return { bytes, storedRamBytes: ram.bytes, devBytes, direct: ram.direct, ramMs, devMs };
  } catch (err) {
    await Promise.all(settled);
    await fh.close().catch(() => {});
    if (migrating) {
      // A sender that may still hold a monitor connection loses it once a new client is greeted there: its command
      // either ran (cancelled here) or was dropped.
      await QmpClient.connect(input.socket, { timeoutMs: 5_000 }).then((c) => c.close(), () => {});
      await qmp.execute('migrate_cancel', undefined, { timeoutMs: 5_000 }).catch(() => {});
      await settleMigration(qmp, { timeoutMs: 30_000 }).catch(() => {});
    }
    await setCapabilities(qmp, { 'x-ignore-shared': false }, { timeoutMs: 5_000 }).catch(() => {});
    await rm(files.part, { force: true });
    throw err;
  }
}
