/**
 * A save and a restore by QEMU alone, for the benchmarks that compare nubo's
 * suspend and resume with what QEMU itself does (bench/suspend.ts,
 * bench/save-sinks.ts): no driver, agent or controller in between.
 *
 * The save is QEMU 7.2's way into a file (no `file:` URI yet): `migrate` to
 * `exec:`, a detached `dd conv=fdatasync` (QEMU kills the shell it spawned as
 * soon as the stream ends: the writer runs on by itself and tells its end
 * through an rc file). The restore is a fresh QEMU inheriting the file as fd
 * 3 (`-incoming fd:3`, paused), `cont` once the load ended.
 */
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { buildQemuArgv } from '../../src/hypervisor/qemu/build-qemu-argv.js';
import { ENDED_MIGRATION } from '../../src/hypervisor/qemu/ended-migration.js';
import { ensureQemuGone, launchQemu, readPidFile } from '../../src/hypervisor/qemu/qemu-process.js';
import { QmpClient } from '../../src/hypervisor/qemu/qmp-client.js';
import { SAVE_MAX_BANDWIDTH } from '../../src/hypervisor/qemu/qmp-save-state.js';
import type { QmpMigrationStatus } from '../../src/hypervisor/qemu/qmp-schema.js';
import { stateWriterUri, waitWriterExit, type SaveAttemptFiles } from '../../src/hypervisor/qemu/state-file-writer.js';
import { vmPaths } from '../../src/hypervisor/qemu/vm-paths.js';
import { warmPageCache } from '../../src/hypervisor/qemu/warm-page-cache.js';
import type { VmSpec } from '../../src/hypervisor/vm-spec.js';
import { pollUntil } from '../../src/util/deadline.js';
import { runCommand } from '../../src/util/run-command.js';
import type { RawQemu } from '../raw-qemu.js';

/** Drops `file` from the page cache, so that a restore reads the disk. */
export const evictFromPageCache = (file: string): Promise<unknown> => runCommand('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { timeoutMs: 60_000 });

/** The files of a raw save into `file`: the writer writes it in place and tells its exit status in `<file>.rc`. */
const rawWriterFiles = (file: string): SaveAttemptFiles => ({ part: file, rc: `${file}.rc` });

/** The `exec:` URI of nubo's own detached writer (`dd conv=fdatasync`, state-file-writer.ts) into `file`, without the agent around it. */
export const detachedDdUri = (file: string): string => stateWriterUri(rawWriterFiles(file));

/** Resolves once the detached writer of `file` has ended (told as nubo is told: waitWriterExit); a writer that failed throws. */
export async function waitDetachedDd(file: string, timeoutMs = 120_000): Promise<void> {
  const status = await waitWriterExit(rawWriterFiles(file).rc, { timeoutMs });
  if (status !== 0) throw new Error(`raw save: dd into ${file} exited ${status}`);
}

/** Capabilities and parameters of a save: MIGRATION events on, no bandwidth cap (as nubo's save). */
export async function prepareRawSave(qmp: QmpClient): Promise<void> {
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': SAVE_MAX_BANDWIDTH });
}

export interface RawSave {
  readonly bytes: number;
  /** ms of `stop`. */
  readonly stopMs: number;
  /** From `stop` to QEMU's `completed`, and to the file durable (the writer ended). */
  readonly completedMs: number;
  readonly doneMs: number;
}

/**
 * Saves a running guest into `file` (durable) by QEMU and `dd` alone, timed
 * from `stop`; QEMU is left in postmigrate (its disks handed over): a restore
 * from the file, or `cont`, comes next.
 */
export async function rawSaveToFile(qmp: QmpClient, file: string): Promise<RawSave> {
  await rm(file, { force: true });
  await rm(`${file}.rc`, { force: true });
  await prepareRawSave(qmp);
  const completed = qmp.waitForEvent('MIGRATION', { timeoutMs: 120_000, match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
  completed.catch(() => {});
  const t0 = performance.now();
  await qmp.execute('stop');
  const t1 = performance.now();
  await qmp.execute('migrate', { uri: detachedDdUri(file) });
  const ev = await completed;
  const t2 = performance.now();
  if (ev.data['status'] !== 'completed') throw new Error(`raw save: migration ${String(ev.data['status'])}`);
  await waitDetachedDd(file);
  const t3 = performance.now();
  await rm(`${file}.rc`, { force: true });
  return { bytes: (await stat(file)).size, stopMs: t1 - t0, completedMs: t2 - t0, doneMs: t3 - t0 };
}

export interface RawRestoreOptions {
  /** Read the file ahead into the page cache while QEMU starts (as nubo did): off for QEMU alone. */
  readonly warm?: boolean;
  /** How the end of the load is told: QEMU's MIGRATION event (as nubo), or `query-status` every 10 ms. */
  readonly mode: 'MIGRATION event' | 'polled (10 ms)';
}

export interface RawRestore {
  readonly q: RawQemu;
  /** From the spawn: QEMU daemonised, its QMP answered, the guest running after `cont`. */
  readonly launchMs: number;
  readonly connectMs: number;
  readonly runningMs: number;
}

/**
 * A fresh QEMU for `spec`, started as nubo starts a restore (`-incoming
 * fd:3`, `-S`), run once the whole file is read. Left running: the caller
 * ends it (stopRawQemu) or saves it again. The spec has no TAPs.
 */
export async function rawRestoreFromFile(spec: VmSpec, runDir: string, file: string, o: RawRestoreOptions): Promise<RawRestore> {
  const paths = vmPaths(runDir, spec.id);
  await rm(paths.dir, { recursive: true, force: true });
  await mkdir(paths.dir, { recursive: true });
  const argv = buildQemuArgv(spec, { accel: 'tcg', paths, paused: true, incoming: 'fd:3', migrationEvents: o.mode === 'MIGRATION event' });
  const warming = new AbortController();
  const t0 = performance.now();
  const warm = o.warm === true ? warmPageCache(file, warming.signal) : Promise.resolve(0);
  const fh = await open(file, 'r');
  let pid: number | undefined;
  let qmp: QmpClient | undefined;
  try {
    try {
      await launchQemu('qemu-system-x86_64', argv, undefined, { timeoutMs: 30_000, fds: [fh.fd] });
    } finally {
      await fh.close();
    }
    const t1 = performance.now();
    pid = await readPidFile(paths.pidFile);
    if (pid === undefined) throw new Error(`QEMU of ${spec.id} wrote no pid file`);
    const c = await QmpClient.connect(paths.qmpSocket, { timeoutMs: 10_000 });
    qmp = c;
    const t2 = performance.now();
    if (o.mode === 'polled (10 ms)') {
      await pollUntil('restore', async () => ((await c.execute('query-status')).status === 'inmigrate' ? undefined : true), { timeoutMs: 120_000, intervalMs: 10 });
    } else {
      // Saved while stopped, QEMU ends the load paused (no autostart): its MIGRATION event tells.
      const loaded = c.waitForEvent('MIGRATION', { timeoutMs: 120_000, match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
      loaded.catch(() => {});
      if ((await c.execute('query-status')).status === 'inmigrate') {
        const ev = await loaded;
        if (ev.data['status'] !== 'completed') throw new Error(`raw restore: migration ${String(ev.data['status'])}`);
      }
    }
    await c.execute('cont');
    const t3 = performance.now();
    return { q: { spec, paths, pid, qmp: c, taps: [] }, launchMs: t1 - t0, connectMs: t2 - t1, runningMs: t3 - t0 };
  } catch (err) {
    if (qmp && !qmp.closed) await qmp.execute('quit').catch(() => {});
    if (pid !== undefined) await ensureQemuGone(pid, spec.id, { timeoutMs: 5_000 });
    qmp?.close();
    await rm(paths.dir, { recursive: true, force: true });
    throw err;
  } finally {
    warming.abort();
    await warm;
  }
}
