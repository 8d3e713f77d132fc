import { usageReportView, type UsageQuery, type UsageReportView } from '../contract/usage-schemas.js';
import type { WaitOptions } from '../util/deadline.js';
import { jsonRequest } from './json-request.js';

/** Typed client of the native API's showback route (`GET /api/v1/usage`). */
export class UsageClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  /** The month's report: everything for an admin, one user's or one group's when asked (else the caller's own). */
  report(query: UsageQuery, o: WaitOptions = {}): Promise<UsageReportView> {
    const params = new URLSearchParams({ month: query.month });
    if (query.user !== undefined) params.set('user', query.user);
    if (query.group !== undefined) params.set('group', query.group);
    return jsonRequest({ method: 'GET', url: `${this.baseUrl}/api/v1/usage?${params.toString()}`, token: this.token, schema: usageReportView, signal: o.signal, timeoutMs: o.timeoutMs ?? 60_000 });
  }
}
