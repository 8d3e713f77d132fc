import { NuboError } from '../errors/nubo-error.js';

/** An export of a template without a disk: an OVA needs one, and nothing was written. */
export class TemplateHasNoDiskError extends NuboError {
  readonly code = 'TEMPLATE_HAS_NO_DISK';
  constructor(readonly template: string) {
    super(`template ${template} has no disk`, { template });
  }
}
