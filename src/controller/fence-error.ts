import { NuboError } from '../errors/nubo-error.js';

/** A host's fence did not succeed (its hook failed or timed out): its VMs are not restarted, and the fence is retried. */
export class FenceError extends NuboError {
  readonly code = 'FENCE_FAILED';
  constructor(readonly host: string, readonly reason: string, options?: ErrorOptions) {
    super(`fencing host ${host} failed: ${reason}`, { host, reason }, options);
  }
}
