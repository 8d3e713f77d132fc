import { parseMigrationPolicy, toMigrationParameters } from '../core/migration/migration-policy.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { MigrationAbortedError } from './migration-errors.js';
import { CancelRequest, MigrationRuns } from './migration-runs.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { Ends, LiveMigratorOptions } from './live-migrator-deps.js';
import { watchMirrors } from './live-migrator-mirrors.js';
import { watchPrecopy } from './live-migrator-precopy.js';
import { resolveMigration } from './live-migrator-resolve.js';
import { journalStage } from './live-migrator-stage.js';
import { switchOver } from './live-migrator-switchover.js';

export type { LiveMigratorOptions } from './live-migrator-deps.js';

/**
 * Drives one live migration through DESIGN.md §5's stages, journalling each
 * before the next side effect, so that whatever stops it — a failed step, a
 * cancel, a controller crash — the decision of what to do next is taken by
 * core's `decideMigration` from the journal and what both agents say they
 * hold, never from memory of this process. The pieces: pre-copy and mirrors
 * watched (live-migrator-precopy, -mirrors), the switch-over at completion
 * (live-migrator-switchover), and the resolution of anything that went wrong
 * (live-migrator-resolve).
 */
export class LiveMigrator {
  readonly #o: LiveMigratorOptions;
  readonly #runs: MigrationRuns;

  constructor(o: LiveMigratorOptions) {
    this.#o = o;
    this.#runs = new MigrationRuns({ store: o.store, logger: o.logger, kind: 'live', action: 'migrate-live' });
  }

  /**
   * At start-up, before operations resume: a migration recorded but whose VM
   * never entered `migrate-live` (the controller stopped between the two
   * writes) made no side effect on any agent: it ends, freeing its room.
   */
  async sweepUnstarted(): Promise<void> {
    await this.#runs.sweepUnstarted();
  }

  /** Marks a migration as begun here (before the VM's operation is kicked). */
  begun(migrationId: string): void {
    this.#runs.begun(migrationId);
  }

  /** Asks a running migration to stop before its commit. */
  cancel(migrationId: string, reason = 'cancelled by the user'): Promise<MigrationRecord> {
    return this.#runs.cancel(migrationId, reason, (m) => {
      if (['committed', 'activated', 'cleaned'].includes(m.stage)) return `it is past its commit (${m.stage}); it finishes on the destination`;
      if (m.journal.some((j) => j.stage === 'postcopy')) return 'it switched to post-copy: the guest runs on the destination already';
      return undefined;
    });
  }

  /**
   * Runs the VM's unfinished migration to its end. Resolves when the VM runs
   * on the destination (or was rolled forward there); throws
   * MigrationAbortedError when it runs on the source again, MigrationLostError
   * when no copy is left.
   */
  async drive(vm: Vm, stopping: AbortSignal): Promise<void> {
    const [m] = await this.#o.store.migrations.list({ vmId: vm.id, state: 'running' });
    if (!m) throw new MigrationAbortedError('-', 'the VM has no running migration record');
    await this.#o.failpoints?.hit('migration.reservation');
    const ends: Ends = {
      m,
      src: this.#o.agentFor(await this.#o.store.hosts.get(m.sourceHostId)),
      dst: this.#o.agentFor(await this.#o.store.hosts.get(m.destHostId)),
      id: agentVmId(vm.id),
    };
    return this.#runs.run(m.id, async (cancel, resumed) => {
      const signal = AbortSignal.any([stopping, cancel.signal]);
      if (resumed) {
        this.#o.logger.warn({ migrationId: m.id, vmId: vm.id, stage: m.stage }, 'resuming an unfinished migration: asking both agents');
        return resolveMigration(this.#o, ends, `the controller restarted during ${m.stage}`, stopping);
      }
      try {
        await this.#run(ends, vm, signal, stopping);
      } catch (err) {
        if (stopping.aborted) throw err; // the next controller resolves it from the journal
        const cause = cancel.signal.aborted ? errorMessage(cancel.signal.reason) : errorMessage(err);
        this.#o.logger.warn({ migrationId: m.id, vmId: vm.id, err }, 'migration step failed');
        // A user's cancel and the convergence policy's abort are decisions, not faults: the record says aborted.
        await resolveMigration(this.#o, ends, cause, stopping, cancel.signal.aborted || err instanceof CancelRequest);
      }
    });
  }

  async #run(e: Ends, vm: Vm, signal: AbortSignal, stopping: AbortSignal): Promise<void> {
    const o = this.#o;
    let m = e.m;
    const policy = parseMigrationPolicy(m.policy);
    const began = Date.parse(m.startedAt);
    const overall = AbortSignal.timeout(policy.timeoutS * 1000);
    const sig = AbortSignal.any([signal, overall]);
    const opt = { signal: sig };
    const spec = (vm.spec as unknown as ControllerVmSpec).agent;
    // Resume on completion needs the disks complete at completion (shared storage) and the completion to be the hand-over (no post-copy).
    const resumeOnCompletion = policy.resumeOnCompletion && spec.disk.datastore === 'shared' && !policy.postcopy;

    // Stage 1 (destination): identical device model, waiting for the stream — paused, or to run the guest on completion.
    const ready = await e.dst.incoming(e.id, { migrationId: m.id, spec, postcopy: policy.postcopy, autostart: resumeOnCompletion }, opt);
    // Journalled before the source is told to migrate: a restarted controller must know the destination may run on its own.
    m = await journalStage(o, m, 'prepared', {
      uri: ready.uri, storage: ready.nbd ? 'local' : 'shared', tls: ready.tls, resumeOnCompletion,
      ...(ready.mirrorSync ? { mirrorSync: ready.mirrorSync } : {}),
    });

    // Non-shared storage: the disks first, to READY; the mirror keeps them in step during pre-copy.
    if (ready.nbd && ready.mirrorSync) {
      await e.src.mirror(e.id, { nbd: ready.nbd, sync: ready.mirrorSync, maxBandwidthBytes: policy.maxBandwidthMiBps * 1024 * 1024 }, opt);
      m = await journalStage(o, m, 'mirroring');
      await watchMirrors(o, e, m, sig);
    }

    // Stage 2: iterative pre-copy under the convergence policy.
    const params = toMigrationParameters(policy, { postcopySupported: o.postcopySupported ?? false });
    await e.src.migrate(e.id, { uri: ready.uri, params, destAutostart: resumeOnCompletion }, opt);
    m = await journalStage(o, m, 'precopy');
    const final = await watchPrecopy(o, e, m, policy, sig);

    // Stages 3–5.
    await switchOver(o, e, m, { resumeOnCompletion, mirrored: ready.nbd !== undefined, final, began, signal: sig, stopping });
  }
}
