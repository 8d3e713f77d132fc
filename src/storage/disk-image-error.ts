import { NuboError } from '../errors/nubo-error.js';

/** What is wrong with a disk image a user offered; callers map it to the request field that named the file. */
export type DiskImageProblem =
  | 'unreadable'
  | 'unsupported-format'
  | 'format-mismatch'
  | 'backing-file'
  | 'external-file'
  | 'encrypted'
  | 'corrupt'
  | 'empty';

/** A disk image nubo refuses to take in; the message names the file and the cause. */
export class DiskImageError extends NuboError {
  readonly code = 'INVALID_DISK_IMAGE';
  constructor(readonly file: string, readonly problem: DiskImageProblem, message: string, options?: ErrorOptions) {
    super(message, { file, problem }, options);
  }
}
