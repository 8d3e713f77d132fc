import { NuboError } from './nubo-error.js';

/**
 * A file nubo wrote and now needs (a VM's record, a migration marker) exists
 * but cannot be used: unreadable (EACCES, EIO, a directory), not JSON (a torn
 * write), or not the shape it must have. It is never mistaken for an absent
 * file: absence lets the caller re-create, and re-creating here would lose
 * what the file describes.
 */
export class UnreadableFileError extends NuboError {
  readonly code = 'FILE_UNREADABLE';
  constructor(readonly what: string, readonly path: string, readonly reason: string, options?: ErrorOptions) {
    super(`${what} ${path} is unusable: ${reason}`, { what, path, reason }, options);
  }
}
