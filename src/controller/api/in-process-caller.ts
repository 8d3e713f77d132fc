import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RemoteError } from '../../client/remote-error.js';
import { InvariantError } from '../../errors/invariant-error.js';
import type { NativeApi } from '../../ec2/native-api.js';
import type { Store } from '../../store/open-store.js';
import type { User } from '../../store/repositories/users-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';

const KEY_HEADER = 'x-nubo-in-process-key';
const USER_HEADER = 'x-nubo-in-process-user';

/**
 * The native API called from inside the controller as a given user — how the
 * EC2 adaptor acts for the user whose access key signed its request. Requests
 * go through the native routes by Fastify's `inject` (no socket), carrying a
 * key made at start-up that never leaves the process; the auth hook takes the
 * user from them only when the key matches. So every action an adaptor takes
 * meets the same access rules, quotas and validation as a bearer token's.
 */
export class InProcessCaller implements NativeApi {
  readonly #key = randomBytes(32);
  #app: FastifyInstance | undefined;

  constructor(private readonly store: Store) {}

  /** The server whose routes `call` reaches (set once it is built). */
  attach(app: FastifyInstance): void {
    this.#app = app;
  }

  /** The user an in-process request acts as; undefined for any other request. */
  async userOf(req: FastifyRequest): Promise<User | undefined> {
    const key = req.headers[KEY_HEADER];
    if (typeof key !== 'string') return undefined;
    const given = Buffer.from(key, 'hex');
    if (given.length !== this.#key.length || !timingSafeEqual(given, this.#key)) return undefined;
    const id = req.headers[USER_HEADER];
    if (typeof id !== 'string') return undefined;
    const user = await findOrUndefined(this.store.users.get(id));
    return user && user.deletedAt === null ? user : undefined;
  }

  async call<T>(userId: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const app = this.#app;
    if (!app) throw new InvariantError('in-process call before the server was attached');
    const res = await app.inject({
      method, url: path,
      headers: { [KEY_HEADER]: this.#key.toString('hex'), [USER_HEADER]: userId, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    const json = (res.headers['content-type'] ?? '').toString().includes('json');
    if (res.statusCode >= 400) {
      const e = json ? (res.json<{ error?: { code?: string; message?: string; details?: Record<string, unknown> } }>().error ?? {}) : {};
      throw new RemoteError(res.statusCode, e.code ?? 'INTERNAL', e.message ?? res.body, e.details ?? {});
    }
    if (res.body === '') return undefined as T;
    return (json ? res.json<T>() : res.body) as T;
  }
}
