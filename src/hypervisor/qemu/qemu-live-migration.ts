import type {
  IncomingOptions,
  IncomingReady,
  LiveMigration,
  MigrationProgress,
  MigrationStatusOptions,
  MigrationTuning,
  MirrorOptions,
  OutgoingOptions,
} from '../live-migration.js';
import { HypervisorError, VmStateError } from '../hypervisor-errors.js';
import { parseVmSpec, type VmSpec } from '../vm-spec.js';
import { checkIncomingOptions, checkMirrorOptions, checkOutgoingOptions, checkTuning } from '../check-migration-options.js';
import { errorMessage, NuboError } from '../../errors/nubo-error.js';
import { deadline, pollUntil, sleep, type WaitOptions } from '../../util/deadline.js';
import type { QmpClient } from './qmp-client.js';
import type { QmpMigrationInfo, QmpMigrationParameters, QmpMigrationStatus, QmpRunState } from './qmp-schema.js';
import { ENDED_MIGRATION } from './ended-migration.js';
import type { VmMigrationRecord, VmRecord } from './vm-record.js';
import { ensureTlsCreds, dropTlsCreds, TLS_IN_ID, TLS_OUT_ID } from './qmp-tls-creds.js';
import { startNbdExports, stopNbdServer } from './qmp-nbd-export.js';
import { applyOutgoingSettings, setCapabilities } from './qmp-migration-settings.js';
import { diskNodes } from './qmp-disk-move.js';
import { dropNbdNodes, endDiskMirrors, hasMirrorState, startDiskMirrors } from './qmp-disk-mirror.js';
import { destinationProgress, mirrorJobs, sourceProgress } from './qmp-migration-progress.js';
import { BlockJobFailedError, QemuFailureError, QemuReportMissingError } from './qemu-errors.js';

/** What the migration steps need of the driver that owns the VMs. */
export interface QemuMigrationHost {
  /** Starts the VM like `start`, but with `-incoming defer` (and `-S` unless `autostart`); resolves once QMP answers. */
  launchIncoming(spec: VmSpec, opts: WaitOptions & { readonly autostart?: boolean | undefined }): Promise<void>;
  /** The VM's QMP connection; throws VmNotFoundError / VmStateError when there is none. */
  qmp(vmId: string): QmpClient;
  record(vmId: string): VmRecord;
  setMigration(vmId: string, migration: VmMigrationRecord | undefined): Promise<void>;
  destroy(vmId: string, opts?: WaitOptions): Promise<void>;
  /** Fault injection for tests: runs the named failpoint's action if one is armed. */
  failpoint?(name: string): Promise<void>;
}

/** Migration states in which the stream is still moving (or about to). */
const IN_FLIGHT = new Set<string | undefined>(['setup', 'active', 'postcopy-active', 'cancelling', 'wait-unplug', 'pre-switchover', 'device']);

/** Per-command cap inside a step's overall deadline. */
const CMD_MS = 10_000;

/**
 * LiveMigration over QEMU 7.2 QMP (DESIGN.md §5, FACTS.md). Each step is
 * one short QMP conversation; what a step must know of earlier ones comes
 * from QEMU (block jobs, nodes, objects) or from the VM record, never only
 * from memory, so a restarted driver can carry on after `adopt`.
 */
export class QemuLiveMigration implements LiveMigration {
  readonly #host: QemuMigrationHost;

  constructor(host: QemuMigrationHost) {
    this.#host = host;
  }

  async startIncoming(input: unknown, opts: IncomingOptions): Promise<IncomingReady> {
    const spec = parseVmSpec(input);
    checkIncomingOptions(spec, opts);
    const nbdDisks = opts.nbdDisks ?? [];
    await this.#host.launchIncoming(spec, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000, autostart: opts.autostart === true });
    return this.#step(spec.id, 'prepare the incoming migration', opts, 30_000, async (o) => {
      const qmp = this.#host.qmp(spec.id);
      try {
        // x-ignore-shared explicitly off: on, the stream would carry no guest RAM (it is a save's and restore's alone).
        await setCapabilities(qmp, { events: true, 'postcopy-ram': opts.postcopy === true, 'x-ignore-shared': false }, o);
        if (opts.tls) {
          await ensureTlsCreds(qmp, TLS_IN_ID, opts.tls.dir, 'server', o);
          await qmp.execute('migrate-set-parameters', { 'tls-creds': TLS_IN_ID }, o);
        }
        let nbd: IncomingReady['nbd'];
        if (nbdDisks.length > 0) {
          const port = await startNbdExports(qmp, nbdDisks, { ...o, host: opts.listenHost, port: opts.nbdPort, tlsCreds: opts.tls ? TLS_IN_ID : undefined });
          nbd = { host: opts.listenHost, port, exports: nbdDisks.map((diskId) => ({ diskId, name: diskId })) };
        }
        // Port 0 lets the kernel pick inside whatever namespace QEMU runs in; query-migrate tells which.
        await qmp.execute('migrate-incoming', { uri: `tcp:${opts.listenHost}:${opts.port ?? 0}` }, o);
        const info = await qmp.execute('query-migrate', undefined, o);
        const addr = info['socket-address']?.find((a) => a.type === 'inet');
        if (addr?.type !== 'inet') throw new QemuReportMissingError('socket-address', 'QEMU did not report the address it listens on');
        await this.#host.setMigration(spec.id, { role: 'incoming', nbd: nbdDisks.length > 0, tls: opts.tls !== undefined });
        return { uri: `tcp:${opts.listenHost}:${addr.port}`, ...(nbd ? { nbd } : {}) };
      } catch (err) {
        await this.#host.destroy(spec.id).catch(() => {});
        throw err;
      }
    });
  }

  async mirrorDisks(vmId: string, opts: MirrorOptions): Promise<void> {
    const spec = this.#host.record(vmId).spec;
    checkMirrorOptions(spec, opts);
    await this.#step(vmId, 'mirror the disks', opts, 30_000, async (o) => {
      const qmp = this.#host.qmp(vmId);
      await this.#requireSource(vmId, qmp, 'mirror the disks of', o);
      if (mirrorJobs(await qmp.execute('query-block-jobs', undefined, o)).length > 0) {
        throw new VmStateError(vmId, 'mirror the disks of', 'mirroring', 'its disks are mirrored already; cancel that migration first');
      }
      if (opts.tls) await ensureTlsCreds(qmp, TLS_OUT_ID, opts.tls.dir, 'client', o);
      await this.#host.setMigration(vmId, { role: 'outgoing', started: false, wasRunning: false });
      try {
        await startDiskMirrors(qmp, {
          host: opts.nbd.host,
          port: opts.nbd.port,
          exports: opts.nbd.exports,
          tlsCreds: opts.tls ? TLS_OUT_ID : undefined,
          sync: opts.sync,
          speed: opts.maxBandwidthBytes,
          sourceNode: (diskId) => diskNodes(diskId, (this.#host.record(vmId).movedDisks ?? []).includes(diskId)).format,
        }, o);
      } catch (err) {
        // startDiskMirrors removed what it added: the VM is as before, no migration under way.
        await this.#host.setMigration(vmId, undefined);
        throw err;
      }
    });
  }

  async migrateOut(vmId: string, opts: OutgoingOptions): Promise<void> {
    const host = checkOutgoingOptions(opts);
    await this.#step(vmId, 'migrate', opts, 30_000, async (o) => {
      const qmp = this.#host.qmp(vmId);
      const runState = await this.#requireSource(vmId, qmp, 'migrate', o);
      const unready = mirrorJobs(await qmp.execute('query-block-jobs', undefined, o)).filter((j) => !j.ready);
      if (unready.length > 0) {
        // Their destination disks would miss blocks: the VM would run on a half-copied disk.
        const what = unready.map((j) => `${j.device} ${j.status}${j.error !== undefined ? ` (${j.error})` : ` ${j.offset}/${j.len}`}`).join(', ');
        throw new VmStateError(vmId, 'migrate', 'mirroring', `disk mirrors not ready: ${what}`);
      }
      await applyOutgoingSettings(qmp, opts, host, o);
      // Recorded before `migrate`: after a crash in between, an abort must still know whether to `cont`.
      await this.#host.setMigration(vmId, { role: 'outgoing', started: true, wasRunning: runState === 'running', ...(opts.destAutostart === true ? { destAutostart: true } : {}) });
      await qmp.execute('migrate', { uri: opts.uri }, o);
    });
  }

  async migrationStatus(vmId: string, opts: MigrationStatusOptions = {}): Promise<MigrationProgress> {
    const waitMs = Math.max(0, opts.waitMs ?? 0);
    return this.#step(vmId, 'read the migration status', opts, 10_000 + waitMs, async (o, signal) => {
      const qmp = this.#host.qmp(vmId);
      const m = this.#host.record(vmId).migration;
      if (m?.role === 'incoming') {
        const [info, st] = await Promise.all([qmp.execute('query-migrate', undefined, o), qmp.execute('query-status', undefined, o)]);
        return destinationProgress(info, st.status);
      }
      // Before `migrate` query-migrate may still describe how this VM arrived here.
      const outgoing = m?.role === 'outgoing' && m.started;
      if (!outgoing || waitMs === 0) {
        const jobs = await qmp.execute('query-block-jobs', undefined, o);
        return sourceProgress(outgoing ? await qmp.execute('query-migrate', undefined, o) : undefined, jobs);
      }
      // Listening before asking: an end between the question and the wait is not missed.
      const stopListening = new AbortController();
      const ended = qmp
        .waitForEvent('MIGRATION', { match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus), timeoutMs: waitMs, signal: AbortSignal.any([signal, stopListening.signal]) })
        .then(() => true, () => false);
      try {
        let info = await qmp.execute('query-migrate', undefined, o);
        if (IN_FLIGHT.has(info.status)) {
          await ended;
          info = await qmp.execute('query-migrate', undefined, o);
        }
        // Answered at once even if QEMU has not filled in total-time and downtime yet: the guest is paused on both ends
        // until the controller switches it over, and it reads the final figures afterwards.
        return sourceProgress(info, await qmp.execute('query-block-jobs', undefined, o));
      } finally {
        stopListening.abort();
      }
    });
  }

  async tuneMigration(vmId: string, tuning: MigrationTuning, opts: WaitOptions = {}): Promise<void> {
    checkTuning(tuning);
    await this.#step(vmId, 'tune the migration', opts, 10_000, async (o) => {
      const qmp = this.#host.qmp(vmId);
      const info = await this.#outgoingInfo(vmId, qmp, o);
      if (!IN_FLIGHT.has(info?.status)) throw new VmStateError(vmId, 'tune the migration of', info?.status ?? 'not migrating');
      const params: QmpMigrationParameters = {};
      if (tuning.downtimeLimitMs !== undefined) params['downtime-limit'] = tuning.downtimeLimitMs;
      if (tuning.maxBandwidthBytes !== undefined) params['max-bandwidth'] = tuning.maxBandwidthBytes;
      if (tuning.cpuThrottlePercent !== undefined) {
        params['cpu-throttle-initial'] = tuning.cpuThrottlePercent;
        // Once auto-converge throttles, only the step matters: make the next step land on the asked value.
        const now = info?.['cpu-throttle-percentage'] ?? 0;
        if (now > 0 && now < tuning.cpuThrottlePercent) params['cpu-throttle-increment'] = tuning.cpuThrottlePercent - now;
      }
      if (Object.keys(params).length > 0) await qmp.execute('migrate-set-parameters', params, o);
      if (tuning.startPostcopy === true) {
        const caps = await qmp.execute('query-migrate-capabilities', undefined, o);
        if (!caps.some((c) => c.capability === 'postcopy-ram' && c.state)) {
          throw new VmStateError(vmId, 'switch to post-copy', info?.status ?? 'migrating', 'the postcopy-ram capability was not enabled for this migration');
        }
        if (info?.status !== 'postcopy-active') await qmp.execute('migrate-start-postcopy', undefined, o);
      }
    });
  }

  async completeMirrors(vmId: string, opts: WaitOptions = {}): Promise<void> {
    await this.#step(vmId, 'complete the disk mirrors', opts, 120_000, async (o, signal, timeoutMs) => {
      const qmp = this.#host.qmp(vmId);
      const { status } = await qmp.execute('query-status', undefined, o);
      if (status !== 'postmigrate' && status !== 'paused') {
        // While the vCPUs run the guest keeps dirtying blocks: the mirror would never be complete.
        throw new VmStateError(vmId, 'complete the disk mirrors of', status, 'the VM must be stopped (postmigrate or paused)');
      }
      const ended = await endDiskMirrors(qmp, 'complete', { signal, timeoutMs });
      await dropNbdNodes(qmp, o);
      const failed = ended.filter((e) => e.error !== undefined);
      if (failed.length > 0) throw new BlockJobFailedError('mirror', failed.map((e) => `mirror of ${e.diskId}: ${e.error}`).join('; '));
    });
  }

  async cancelMigration(vmId: string, opts: WaitOptions = {}): Promise<void> {
    await this.#step(vmId, 'cancel the migration', opts, 60_000, async (o, signal, timeoutMs) => {
      const qmp = this.#host.qmp(vmId);
      const m = this.#host.record(vmId).migration;
      if (m?.role === 'incoming') {
        throw new VmStateError(vmId, 'cancel the migration of', 'inmigrate', 'a destination is aborted by destroying it');
      }
      const { status: runState } = await qmp.execute('query-status', undefined, o);
      const info = await this.#outgoingInfo(vmId, qmp, o);
      // A paused VM whose migration failed in its last phase is left in postmigrate too; only that case may go on.
      const abortedEarlier = info?.status === 'failed' || info?.status === 'cancelled';
      if (info?.status === 'completed' || (runState === 'postmigrate' && !abortedEarlier)) {
        throw new VmStateError(vmId, 'cancel the migration of', 'postmigrate', 'the migration completed; only the controller may decide which copy lives');
      }
      if (info?.status === 'postcopy-active') {
        throw new VmStateError(vmId, 'cancel the migration of', 'postcopy-active', 'the destination runs the VM already');
      }
      if (IN_FLIGHT.has(info?.status)) {
        await qmp.execute('migrate_cancel', undefined, o);
        const final = await pollUntil(
          'end of the cancelled migration',
          async () => {
            const i = await qmp.execute('query-migrate', undefined, o);
            return ENDED_MIGRATION.has(i.status) ? i : undefined;
          },
          { signal, timeoutMs, intervalMs: 50 },
        );
        if (final.status === 'completed') {
          throw new VmStateError(vmId, 'cancel the migration of', 'postmigrate', 'the migration completed before the cancel took effect');
        }
      }
      if (m?.role === 'outgoing' && m.started && m.wasRunning) await this.#resumeAfterAbort(vmId, qmp, signal, o);
      if (await hasMirrorState(qmp, o)) {
        await endDiskMirrors(qmp, 'abort', { signal, timeoutMs });
        await dropNbdNodes(qmp, o);
      }
      await dropTlsCreds(qmp, TLS_OUT_ID, o);
      if (m !== undefined) await this.#host.setMigration(vmId, undefined);
    });
  }

  async resumeSource(vmId: string, opts: WaitOptions = {}): Promise<void> {
    await this.#step(vmId, 'resume the source', opts, 60_000, async (o, signal, timeoutMs) => {
      const qmp = this.#host.qmp(vmId);
      const m = this.#host.record(vmId).migration;
      const { status } = await qmp.execute('query-status', undefined, o);
      if (status === 'running') return;
      if (m?.role !== 'outgoing' || !m.started || (status !== 'postmigrate' && status !== 'paused')) {
        throw new VmStateError(vmId, 'resume the source of', status, 'only a source whose migration completed can be resumed this way');
      }
      if (m.destAutostart === true && (status === 'postmigrate' || (await qmp.execute('query-migrate', undefined, o)).status === 'completed')) {
        // Two copies could run, or a stale one: the destination may have run the guest since the completion.
        throw new VmStateError(vmId, 'resume the source of', status, 'its destination runs the guest on its own once the migration completed; this copy may be stale and never runs again');
      }
      // The mirrors point at the dead destination: the guest's next writes would fail them, or hang on the NBD socket.
      if (await hasMirrorState(qmp, o)) {
        await endDiskMirrors(qmp, 'abort', { signal, timeoutMs });
        await dropNbdNodes(qmp, o);
      }
      // From postmigrate QEMU takes the disks back (they were handed over at completion) before the vCPUs run.
      await qmp.execute('cont', undefined, o);
      await pollUntil(
        'the resumed source running',
        async () => ((await qmp.execute('query-status', undefined, o)).status === 'running' ? true : undefined),
        { signal, timeoutMs, intervalMs: 20 },
      );
      await dropTlsCreds(qmp, TLS_OUT_ID, o);
      await this.#host.setMigration(vmId, undefined);
    });
  }

  async activateIncoming(vmId: string, opts: WaitOptions = {}): Promise<void> {
    await this.#step(vmId, 'activate the incoming VM', opts, 30_000, async (o, signal, timeoutMs) => {
      const qmp = this.#host.qmp(vmId);
      const m = this.#host.record(vmId).migration;
      const { status } = await qmp.execute('query-status', undefined, o);
      if (m?.role !== 'incoming') {
        // Already activated (a retried step after a restart): nothing left to do.
        if (status === 'running') return;
        throw new VmStateError(vmId, 'activate', status, 'it is not the destination of a migration');
      }
      if (status === 'inmigrate') {
        // `cont` here would be accepted and arm autostart: the VM would run on arrival, before the commit.
        throw new VmStateError(vmId, 'activate', 'inmigrate', 'the incoming migration has not completed');
      }
      if (status !== 'paused' && status !== 'running') throw new VmStateError(vmId, 'activate', status);
      if (status === 'running') {
        // Running already: activated before a crash (its record is cleared below) — or in post-copy, still pulling pages.
        const incoming = await qmp.execute('query-migrate', undefined, o);
        if (IN_FLIGHT.has(incoming.status)) throw new VmStateError(vmId, 'activate', `migrating (${incoming.status})`, 'the incoming migration has not completed');
      }
      if (m.nbd) await stopNbdServer(qmp, o);
      if (status === 'paused') await qmp.execute('cont', undefined, o);
      // Tests crash the agent here: the guest runs on this host while the records still call it a destination.
      await this.#host.failpoint?.('activate.continued');
      // Sent together (QEMU answers them in order, so the parameter is cleared before the object goes): the check that it runs
      // and the credentials' clean-up cost two round trips instead of four, while the guest starts.
      const [after] = await Promise.all([
        qmp.execute('query-status', undefined, o),
        ...(m.tls ? [qmp.execute('migrate-set-parameters', { 'tls-creds': '' }, o), dropTlsCreds(qmp, TLS_IN_ID, o)] : []),
      ]);
      if (after.status !== 'running') {
        await pollUntil(
          'the activated VM running',
          async () => ((await qmp.execute('query-status', undefined, o)).status === 'running' ? true : undefined),
          { signal, timeoutMs, intervalMs: 20 },
        );
      }
      await this.#host.setMigration(vmId, undefined);
    });
  }

  /**
   * QEMU restarts the vCPUs of a source that ran when it cancels or fails a
   * migration itself; this waits for that. Only if it then sits in plain
   * `paused` (stopped for the final pass when the cancel hit) does it `cont`:
   * never from postmigrate, where the destination may hold the newer state.
   */
  async #resumeAfterAbort(vmId: string, qmp: QmpClient, signal: AbortSignal, o: WaitOptions): Promise<void> {
    let state: QmpRunState = 'paused';
    for (let i = 0; i < 40; i++) {
      state = (await qmp.execute('query-status', undefined, o)).status;
      if (state === 'running' || state === 'postmigrate') break;
      await sleep(50, signal);
    }
    if (state === 'postmigrate') throw new VmStateError(vmId, 'resume after the cancelled migration', state, 'its state may live on at the destination');
    if (state === 'paused') await qmp.execute('cont', undefined, o);
  }

  /** query-migrate, but only when it speaks of an outgoing migration of this VM. */
  async #outgoingInfo(vmId: string, qmp: QmpClient, o: WaitOptions): Promise<QmpMigrationInfo | undefined> {
    const m = this.#host.record(vmId).migration;
    if (m?.role !== 'outgoing' || !m.started) return undefined;
    return qmp.execute('query-migrate', undefined, o);
  }

  async #requireSource(vmId: string, qmp: QmpClient, action: string, o: WaitOptions): Promise<QmpRunState> {
    const m = this.#host.record(vmId).migration;
    if (m?.role === 'incoming') throw new VmStateError(vmId, action, 'inmigrate', 'it is the destination of a migration');
    const { status } = await qmp.execute('query-status', undefined, o);
    if (status !== 'running' && status !== 'paused') {
      throw new VmStateError(vmId, action, status, status === 'postmigrate' ? 'its memory was migrated away already' : 'allowed from running, paused');
    }
    const info = await this.#outgoingInfo(vmId, qmp, o);
    if (IN_FLIGHT.has(info?.status)) throw new VmStateError(vmId, action, `migrating (${info?.status})`);
    return status;
  }

  /**
   * One step under one deadline; QMP commands get `o` (the step's signal,
   * capped per command). Typed errors pass through, anything else (QMP
   * errors, a vanished QEMU) becomes a HypervisorError naming the step.
   */
  async #step<T>(
    vmId: string,
    what: string,
    opts: WaitOptions,
    defaultMs: number,
    body: (o: WaitOptions, signal: AbortSignal, timeoutMs: number) => Promise<T>,
  ): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? defaultMs;
    const d = deadline(`${what} of VM ${vmId}`, timeoutMs, opts.signal);
    try {
      return await body({ signal: d.signal, timeoutMs: Math.min(CMD_MS, timeoutMs) }, d.signal, timeoutMs);
    } catch (err) {
      if (err instanceof NuboError && !(err.code === 'QMP_ERROR' || err.code === 'QMP_DISCONNECTED' || err.code === 'QMP_PROTOCOL' || err instanceof QemuFailureError)) throw err;
      throw new HypervisorError(vmId, what, errorMessage(err), { cause: err });
    } finally {
      d.dispose();
    }
  }
}
