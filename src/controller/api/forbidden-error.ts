import { NuboError } from '../../errors/nubo-error.js';

/** The caller may see the resource (or the route) but not do this to it (HTTP 403). */
export class ForbiddenError extends NuboError {
  readonly code = 'FORBIDDEN';
  constructor(what: string, reason = 'needs the admin role') {
    super(`forbidden: ${what} ${reason}`, { what });
  }
}
