import { NuboError } from '../../errors/nubo-error.js';

/**
 * Building a guest image failed. `step` names the build step; `package` is the
 * Debian package involved when the failure was fetching or unpacking one, so
 * that callers can tell "apt has no such package / is offline" from a local
 * tool failure without parsing the message.
 */
export class ImageBuildError extends NuboError {
  readonly code = 'IMAGE_BUILD_FAILED';
  readonly step: string;
  readonly package: string | undefined;

  constructor(step: string, pkg: string | undefined, message: string, stderr = '', options?: ErrorOptions) {
    const tail = stderr.trim();
    super(`${message}${tail ? `\n${tail}` : ''}`, { step, package: pkg, stderr }, options);
    this.step = step;
    this.package = pkg;
  }
}
