import { NuboError } from '../errors/nubo-error.js';

/** What a failpoint armed with `error` throws: a fault a test injected, told apart from every real failure by its code. */
export class FailpointError extends NuboError {
  readonly code = 'FAILPOINT_HIT';
  constructor(readonly failpoint: string) {
    super(`failpoint ${failpoint}`, { failpoint });
  }
}
