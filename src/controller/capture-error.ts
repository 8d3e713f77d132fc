import { NuboError } from '../errors/nubo-error.js';

/** A VM's disk could not be captured as a standalone image (no host holds it, the host offered no capture, or the result is not standalone). */
export class CaptureError extends NuboError {
  readonly code = 'CAPTURE_FAILED';
  constructor(readonly vm: string, message: string) {
    super(message, { vm });
  }
}
