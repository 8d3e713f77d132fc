import { z } from 'zod';
import { leaseDetailView, leaseView, type CreateLeaseBody, type LeaseDetailView, type LeaseView } from '../contract/lease-schemas.js';
import type { WaitOptions } from '../util/deadline.js';
import { jsonRequest } from './json-request.js';

const seg = encodeURIComponent;

/** Typed client of the native API's capacity lease routes (`/api/v1/leases`). */
export class LeaseClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  #call<T>(method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body: unknown, o: WaitOptions = {}): Promise<T> {
    return jsonRequest({ method, url: `${this.baseUrl}/api/v1${path}`, token: this.token, body, schema, signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  list(o?: WaitOptions): Promise<LeaseView[]> { return this.#call('GET', '/leases', z.array(leaseView), undefined, o); }
  get(ref: string, o?: WaitOptions): Promise<LeaseDetailView> { return this.#call('GET', `/leases/${seg(ref)}`, leaseDetailView, undefined, o); }
  create(body: CreateLeaseBody, o?: WaitOptions): Promise<LeaseView> { return this.#call('POST', '/leases', leaseView, body, o); }
  cancel(ref: string, o?: WaitOptions): Promise<LeaseView> { return this.#call('POST', `/leases/${seg(ref)}/cancel`, leaseView, {}, o); }
}
