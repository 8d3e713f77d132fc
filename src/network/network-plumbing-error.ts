import { NuboError } from '../errors/nubo-error.js';

/** A bridge, TAP or VLAN segment cannot be set up as asked (a VLAN out of range, a bridge without the address a segment needs). */
export class NetworkPlumbingError extends NuboError {
  readonly code = 'NETWORK_PLUMBING_FAILED';
  constructor(readonly link: string, message: string) {
    super(message, { link });
  }
}
