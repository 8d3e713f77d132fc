import { NuboError } from '../../errors/nubo-error.js';

/** A lease the admission policy or the capacity refuses (an AR that cannot be guaranteed, an immediate lease with no room now): 409 with the reason; nothing was written. */
export class LeaseRejectedError extends NuboError {
  readonly code = 'LEASE_REJECTED';

  constructor(readonly kind: string, readonly reason: string) {
    super(`lease rejected: ${reason}`, { kind, reason });
  }
}
