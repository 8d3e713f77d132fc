import { NuboError } from '../../errors/nubo-error.js';
import type { QuotaResource } from './quota.js';

/**
 * A request would take a user or a group past a quota limit. The API answers
 * 409, like the other "the request is fine, the state of things refuses it"
 * errors (CAPACITY, EXHAUSTED): freeing resources or a raised limit makes the
 * same request pass. Nothing was written.
 */
export class QuotaExceededError extends NuboError {
  readonly code = 'QUOTA_EXCEEDED';

  constructor(
    readonly subject: 'user' | 'group',
    readonly subjectName: string,
    readonly resource: QuotaResource,
    readonly limit: number,
    readonly used: number,
    readonly requested: number,
  ) {
    super(`quota exceeded: ${subject} ${subjectName} may have ${limit} ${resource}; ${used} in use, ${requested} more requested`, {
      subject, subjectName, resource, limit, used, requested,
    });
  }
}
