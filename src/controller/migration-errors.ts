import { NuboError } from '../errors/nubo-error.js';

/** A pre-check said no: which check, which request field, and why. Nothing was changed. */
export class MigrationRefusedError extends NuboError {
  readonly code = 'MIGRATION_REFUSED';
  constructor(readonly check: string, readonly field: string, message: string) {
    super(message, { check, field });
  }
}

/** The migration ended before its commit and was undone: the VM runs where it ran. */
export class MigrationAbortedError extends NuboError {
  readonly code = 'MIGRATION_ABORTED';
  constructor(readonly migrationId: string, readonly reason: string) {
    super(`migration ${migrationId} aborted: ${reason}`, { migrationId, reason });
  }
}

/** No copy of the VM is left that nubo can run: an operator must look. */
export class MigrationLostError extends NuboError {
  readonly code = 'MIGRATION_LOST';
  /** Tells the VM orchestrator that there is nothing to return to. */
  readonly fatal = true;
  constructor(readonly migrationId: string, readonly reason: string) {
    super(`migration ${migrationId}: ${reason}`, { migrationId, reason });
  }
}

/**
 * An end of the migration answered, but not as the protocol needs (a
 * destination that is not paused with the complete image, a copy that
 * failed). The migration's decision (core/migration) takes it from there.
 */
export class MigrationStepError extends NuboError {
  readonly code = 'MIGRATION_STEP_FAILED';
  constructor(readonly migrationId: string, message: string, options?: ErrorOptions) {
    super(message, { migrationId }, options);
  }
}

/** A cancel that came too late (after the commit) or for a migration that already ended. */
export class MigrationNotCancellableError extends NuboError {
  readonly code = 'MIGRATION_NOT_CANCELLABLE';
  constructor(readonly migrationId: string, reason: string) {
    super(`migration ${migrationId} cannot be cancelled: ${reason}`, { migrationId, reason });
  }
}
