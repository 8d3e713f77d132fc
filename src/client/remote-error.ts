import { NuboError } from '../errors/nubo-error.js';

/** An error a nubo server answered with: its code, message and details, as sent. */
export class RemoteError extends NuboError {
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
