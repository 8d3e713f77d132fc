import type { Logger } from 'pino';
import type { Store } from '../store/open-store.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { MigrationKind } from '../store/schema.js';
import { MigrationNotCancellableError } from './migration-errors.js';

/** The user (or a policy) asked a migration to stop: a decision, not a fault. */
export class CancelRequest extends Error {}

/**
 * What a migrator (live or cold) keeps about the migrations this process
 * drives: which it began itself (any other unfinished one is a restart's to
 * resolve from the journal) and how to cancel each while it runs.
 */
export class MigrationRuns {
  readonly #started = new Set<string>();
  readonly #cancels = new Map<string, AbortController>();

  constructor(private readonly o: { readonly store: Store; readonly logger: Logger; readonly kind: MigrationKind; readonly action: 'migrate-live' | 'migrate' }) {}

  /**
   * At start-up, before operations resume: a migration recorded but whose VM
   * never entered its operation (the controller stopped between the two
   * writes) made no side effect on any agent: it ends, freeing its room.
   * So does one whose VM an admin terminated while it was stuck, the
   * controller stopping before it ended the record.
   */
  async sweepUnstarted(): Promise<void> {
    for (const m of await this.o.store.migrations.listUnfinished()) {
      if (m.kind !== this.o.kind) continue;
      const vm = await this.o.store.vms.get(m.vmId);
      if (vm.state === 'migrating' && vm.operation?.action === this.o.action) continue;
      // An admin's terminate moves the VM on before it ends the record: a controller stopped in between leaves this.
      const terminated = vm.state !== 'migrating' && vm.operation?.action === 'terminate-hard';
      await this.o.store.migrations.finish(m.id, terminated
        ? { state: 'failed', reason: 'terminated by an admin during its migration (ended at the controller\'s restart)' }
        : { state: 'aborted', reason: 'the controller stopped before the migration began' });
      this.o.logger.warn({ migrationId: m.id, vmId: m.vmId, kind: m.kind }, 'unstarted migration ended');
    }
  }

  /** Marks a migration as begun here (before the VM's operation is kicked). */
  begun(migrationId: string): void {
    this.#started.add(migrationId);
  }

  /** Stops a running migration before its commit; `tooLate` says why this one can no longer be stopped, if so. */
  async cancel(migrationId: string, reason: string, tooLate: (m: MigrationRecord) => string | undefined): Promise<MigrationRecord> {
    const m = await this.o.store.migrations.get(migrationId);
    if (m.state !== 'running') throw new MigrationNotCancellableError(migrationId, `it already ended (${m.state})`);
    const why = tooLate(m);
    if (why !== undefined) throw new MigrationNotCancellableError(migrationId, why);
    const c = this.#cancels.get(migrationId);
    if (!c) throw new MigrationNotCancellableError(migrationId, 'it is not being driven by this controller right now');
    c.abort(new CancelRequest(reason));
    return m;
  }

  /** Runs the drive of one migration with its cancel registered; `resumed` when this process did not begin it. */
  async run<T>(migrationId: string, fn: (cancel: AbortController, resumed: boolean) => Promise<T>): Promise<T> {
    const cancel = new AbortController();
    this.#cancels.set(migrationId, cancel);
    try {
      return await fn(cancel, !this.#started.has(migrationId));
    } finally {
      this.#cancels.delete(migrationId);
      this.#started.delete(migrationId);
    }
  }
}
