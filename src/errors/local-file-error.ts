import { NuboError } from './nubo-error.js';

/** A file on this machine (one the user named) cannot be written or read; `path` is the user's, never a temporary name. */
export class LocalFileError extends NuboError {
  readonly code = 'LOCAL_FILE';
  constructor(readonly path: string, reason: string, options?: ErrorOptions) {
    super(`${path}: ${reason}`, { path, reason }, options);
  }
}
