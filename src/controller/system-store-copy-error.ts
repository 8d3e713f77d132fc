import { NuboError } from '../errors/nubo-error.js';

/** A stopped VM's files did not arrive whole between its host and the system store (a failed copy, a size or digest that differs). */
export class SystemStoreCopyError extends NuboError {
  readonly code = 'SYSTEM_STORE_COPY_FAILED';
  constructor(readonly vmId: string, message: string) {
    super(message, { vmId });
  }
}
