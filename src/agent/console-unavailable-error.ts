import { NuboError } from '../errors/nubo-error.js';

/** The VM has no console to attach to (not running, or a driver without one). */
export class ConsoleUnavailableError extends NuboError {
  readonly code = 'CONSOLE_UNAVAILABLE';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}
