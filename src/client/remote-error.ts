import { NuboError } from '../errors/nubo-error.js';

/**
 * An error a nubo server answered with: its code, message and details, as
 * sent. The code is a registered one from a nubo server of this version, but
 * may be anything from another version or from something in between
 * (`HTTP_502`), so it stays a string.
 */
export class RemoteError extends NuboError<string> {
  readonly code: string;
  constructor(readonly status: number, code: string, message: string, details: Record<string, unknown>) {
    super(message, details);
    this.code = code;
  }
}

/** The server could not be reached or did not answer in time. */
export class UnreachableError extends NuboError {
  readonly code = 'AGENT_UNREACHABLE';
  constructor(readonly url: string, reason: string, options?: ErrorOptions) {
    super(`${url} unreachable: ${reason}`, { url, reason }, options);
  }
}
