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

/**
 * The server could not be reached or did not answer in time. `notSent`: the
 * connection was never made (refused, or not made in time), so the request
 * cannot have reached the server — the one case where a caller knows that the
 * server did nothing. Otherwise (a reset, a time-out after the request went
 * out) the server may have acted on it.
 */
export class UnreachableError extends NuboError {
  readonly code = 'AGENT_UNREACHABLE';
  readonly notSent: boolean;
  constructor(readonly url: string, reason: string, options?: ErrorOptions & { readonly notSent?: boolean }) {
    super(`${url} unreachable: ${reason}`, { url, reason, ...(options?.notSent === true ? { notSent: true } : {}) }, options);
    this.notSent = options?.notSent === true;
  }
}
