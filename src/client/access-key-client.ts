import { z } from 'zod';
import { accessKeyView, createdAccessKeyView, type AccessKeyView, type CreateAccessKeyBody, type CreatedAccessKeyView } from '../contract/access-key-schemas.js';
import type { WaitOptions } from '../util/deadline.js';
import { jsonRequest } from './json-request.js';

const seg = encodeURIComponent;

/** Typed client of the native API's access-key routes (a user's SigV4 keys for the EC2 and S3 listeners). */
export class AccessKeyClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  list(user: string, o: WaitOptions = {}): Promise<AccessKeyView[]> {
    return jsonRequest({ method: 'GET', url: `${this.baseUrl}/api/v1/users/${seg(user)}/access-keys`, token: this.token, schema: z.array(accessKeyView), signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  /** The answer's secret is shown only this once. */
  create(user: string, body: CreateAccessKeyBody, o: WaitOptions = {}): Promise<CreatedAccessKeyView> {
    return jsonRequest({ method: 'POST', url: `${this.baseUrl}/api/v1/users/${seg(user)}/access-keys`, token: this.token, body, schema: createdAccessKeyView, signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }

  async delete(user: string, accessKeyId: string, o: WaitOptions = {}): Promise<void> {
    await jsonRequest({ method: 'DELETE', url: `${this.baseUrl}/api/v1/users/${seg(user)}/access-keys/${seg(accessKeyId)}`, token: this.token, signal: o.signal, timeoutMs: o.timeoutMs ?? 30_000 });
  }
}
