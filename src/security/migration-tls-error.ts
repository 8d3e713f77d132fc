import { NuboError } from '../errors/nubo-error.js';

/**
 * A migration TLS directory (or the PKI it came from) QEMU could not use:
 * files missing, a certificate not signed by the directory's CA, a key that
 * does not belong to its certificate, the host's address missing from its
 * server certificate. `problems` lists every one found.
 */
export class MigrationTlsError extends NuboError {
  readonly code = 'MIGRATION_TLS_INVALID';
  constructor(readonly dir: string, readonly problems: readonly string[]) {
    super(`migration TLS directory ${dir}: ${problems.join('; ')}`, { dir, problems });
  }
}
