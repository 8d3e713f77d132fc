import { NuboError } from '../errors/nubo-error.js';

/**
 * The lab cannot be brought up, joined or taken down as asked: another lab
 * holds the fabric, the controller is elsewhere, a daemon would not start.
 * The message says what to do (usually `nubo lab down` first).
 */
export class LabError extends NuboError {
  readonly code = 'LAB_FAILED';
  constructor(message: string, options?: ErrorOptions) {
    super(message, {}, options);
  }
}
