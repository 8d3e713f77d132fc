import { NuboError } from '../../errors/nubo-error.js';

/** An operation the lease's state does not allow (cancel of a lease mid-suspend, of one already done): 409, naming the state. */
export class LeaseStateError extends NuboError {
  readonly code = 'LEASE_STATE';

  constructor(readonly leaseId: string, readonly action: string, readonly state: string, readonly allowed: readonly string[]) {
    super(`cannot ${action} lease ${leaseId} in state ${state} (allowed from: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`, { leaseId, action, state, allowed: [...allowed] });
  }
}
