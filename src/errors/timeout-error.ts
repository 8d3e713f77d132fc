import { NuboError } from './nubo-error.js';

/** A wait that ran past its deadline. `operation` says what was waited for. */
export class TimeoutError extends NuboError {
  readonly code = 'TIMEOUT';
  constructor(readonly operation: string, readonly timeoutMs: number) {
    super(`${operation} timed out after ${timeoutMs} ms`, { operation, timeoutMs });
  }
}
