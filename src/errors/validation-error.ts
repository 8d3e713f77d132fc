import { NuboError } from './nubo-error.js';

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `disks.0.format`. */
  readonly field: string;
  readonly message: string;
}

/** Input rejected before anything was changed; names every offending field. */
export class ValidationError extends NuboError {
  readonly code = 'VALIDATION_FAILED';
  readonly issues: readonly FieldIssue[];

  constructor(what: string, issues: readonly FieldIssue[]) {
    const list = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
    super(`invalid ${what}: ${list}`, { issues });
    this.issues = issues;
  }

  /** The first offending field, for callers and tests that care about one. */
  get field(): string {
    return this.issues[0]?.field ?? '';
  }
}
