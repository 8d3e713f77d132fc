import { NuboError } from '../errors/nubo-error.js';

/** A DRS plan is being applied already: one at a time, so two plans never move the same VMs from stale views. */
export class DrsBusyError extends NuboError {
  readonly code = 'DRS_BUSY';

  constructor(readonly planId: string) {
    super(`DRS plan ${planId} is being applied; wait for it to end (nubo drs show ${planId})`, { planId });
  }
}
