import { NuboError } from './nubo-error.js';

/**
 * A condition the code relies on did not hold: a bug, or a record changed
 * underneath between two reads. Never a user's mistake, so it maps to a 500;
 * the message says which condition, for the log.
 */
export class InvariantError extends NuboError {
  readonly code = 'INVARIANT_BROKEN';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, details);
  }
}
