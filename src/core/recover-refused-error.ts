import { NuboError } from '../errors/nubo-error.js';

/**
 * `recover` of a failed VM that has nothing safe to start from (its disk is
 * gone, or it failed while its disks were being deleted): a 409 whose message
 * says why and what is left to do. Nothing was changed.
 */
export class RecoverRefusedError extends NuboError {
  readonly code = 'RECOVER_REFUSED';
  constructor(readonly failedPhase: string, readonly found: string, reason: string) {
    super(`cannot recover VM: ${reason}`, { field: 'state', failedPhase, found, reason });
  }
}
