import { NuboError } from '../errors/nubo-error.js';

/** A migration (or a datastore a VM needs) this host is not set up for. */
export class AgentMigrationError extends NuboError {
  readonly code = 'MIGRATION_UNSUPPORTED';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}
