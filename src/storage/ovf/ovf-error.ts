import { NuboError } from '../../errors/nubo-error.js';

/** An OVF descriptor, manifest or package nubo cannot import; `where` names the element or member at fault. */
export class OvfError extends NuboError {
  readonly code = 'INVALID_OVF';
  constructor(readonly where: string, readonly reason: string, options?: ErrorOptions) {
    super(where === '' ? reason : `${where}: ${reason}`, { where, reason }, options);
  }
}
