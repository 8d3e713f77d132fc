import { NuboError } from '../errors/nubo-error.js';

/**
 * A remote cloud's EC2 endpoint gave no verdict: refused the connection,
 * timed out, or answered 5xx. Whether a launch happened is unknown, so a
 * launch is retried with the same ClientToken rather than given up.
 */
export class CloudUnreachableError extends NuboError {
  readonly code = 'CLOUD_UNREACHABLE';
  constructor(readonly cloud: string, readonly reason: string, options?: ErrorOptions) {
    super(`cloud ${cloud} unreachable: ${reason}`, { cloud, reason }, options);
  }
}
