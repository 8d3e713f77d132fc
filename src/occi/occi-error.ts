import { NuboError } from '../errors/nubo-error.js';

/**
 * An OCCI request refused with its HTTP status (400 bad rendering or attribute,
 * 404, 405, 406, 415); the server renders it as the OCCI error response in the
 * rendering the client asked for. Raised before anything is written.
 */
export class OcciError extends NuboError {
  readonly code = 'OCCI_REQUEST_FAILED';

  constructor(readonly status: number, message: string, details: Record<string, unknown> = {}) {
    super(message, { status, ...details });
  }
}

export const badRequest = (message: string, details: Record<string, unknown> = {}): OcciError => new OcciError(400, message, details);
