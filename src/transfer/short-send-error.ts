import { NuboError } from '../errors/nubo-error.js';

/** The offered file ended before its recorded size: the sender withholds the digest trailer, so the receiver refuses the copy. */
export class ShortSendError extends NuboError {
  readonly code = 'TRANSFER_SHORT_SEND';
  constructor(readonly file: string, readonly sent: number, readonly sizeBytes: number) {
    super(`sent ${sent} of ${sizeBytes} bytes of ${file}`, { file, sent, sizeBytes });
  }
}
