import type { ErrorCodeOf } from '../errors/error-codes.js';
import { NuboError } from '../errors/nubo-error.js';

/** Bad or missing input found by the CLI itself (no credentials, unreadable file …): exit 2. */
export class UsageError extends NuboError {
  constructor(readonly code: ErrorCodeOf<'UsageError'>, message: string, details: Record<string, unknown> = {}) {
    super(message, details);
  }
}
