import { NuboError } from '../../errors/nubo-error.js';

/**
 * No host can take a VM, or the chosen one no longer can (it filled up
 * between placement and reservation). `reasons` maps host id → why not.
 */
export class PlacementError extends NuboError {
  readonly code = 'PLACEMENT_FAILED';
  readonly reasons: Readonly<Record<string, string>>;

  constructor(message: string, reasons: Readonly<Record<string, string>>) {
    const copy = Object.freeze({ ...reasons });
    super(message, { reasons: copy });
    this.reasons = copy;
  }
}
