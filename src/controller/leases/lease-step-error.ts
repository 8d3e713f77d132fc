import { NuboError } from '../../errors/nubo-error.js';

/** A lease's VM is not where its step can act on it (a VM of the lease failed or was terminated by hand): the lease fails with this reason. */
export class LeaseStepError extends NuboError {
  readonly code = 'LEASE_STEP_FAILED';

  constructor(readonly vmId: string, readonly step: string, readonly state: string, readonly detail?: string) {
    super(`lease VM ${vmId}: cannot ${step}: the VM is ${state}${detail !== undefined ? ` (${detail})` : ''}`, { vmId, step, state, ...(detail !== undefined ? { detail } : {}) });
  }
}
