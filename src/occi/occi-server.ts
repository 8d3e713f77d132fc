import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NativeApi } from '../ec2/native-api.js';
import { NuboError } from '../errors/nubo-error.js';
import type { OcciMixinRecords } from './occi-mixin-records.js';
import { negotiate } from './occi-media.js';
import { OCCI_PREFIX } from './occi-prefix.js';
import { OcciRequest } from './occi-request.js';
import { statusOf } from './occi-status-of.js';

export interface OcciServerOptions {
  /** The native API as a user: every read and write goes through the native routes and their access rules. */
  readonly api: NativeApi;
  /** The calling user's id from the request's bearer token; throws (401) without a valid one. */
  readonly authenticate: (req: FastifyRequest) => Promise<string>;
  /** User-defined mixins' records (migration 0031); without them the query interface only reads. */
  readonly mixins?: OcciMixinRecords;
  /** Called at each named step of an operation (the controller's failpoints: `occi.<step>`), so tests can crash there. */
  readonly step?: (name: string) => Promise<void>;
}

/**
 * The OCCI 1.2 interface under /occi/1.2 of the controller's own listener:
 * the same port, TLS and leader forwarding as the native API, and the same
 * bearer tokens. A thin layer: each request is parsed by the pure renderers
 * (occi-text.ts, occi-json.ts), checked against the model (occi-requests.ts),
 * and carried out through the native API as the caller — so access, quotas
 * and validation are the native API's own, in one place.
 */
export async function registerOcci(app: FastifyInstance, o: OcciServerOptions): Promise<void> {
  await app.register(async (occi) => {
    // Every body as text: the rendering is chosen by Content-Type here, not by Fastify.
    occi.removeAllContentTypeParsers();
    occi.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    // Hidden from the native API's OpenAPI document: OCCI describes itself at /-/.
    occi.all('/*', { schema: { hide: true } }, async (req, reply) => handle(o, req, reply));
    occi.all('/', { schema: { hide: true } }, async (req, reply) => handle(o, req, reply));
  }, { prefix: OCCI_PREFIX });
}

async function handle(o: OcciServerOptions, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let r: OcciRequest | undefined;
  try {
    const userId = await o.authenticate(req);
    r = new OcciRequest(o.api, userId, req, reply, o.mixins, o.step ?? (async () => {}));
    return await r.dispatch();
  } catch (err) {
    const status = statusOf(err);
    if (status === 500) req.log.error({ err }, 'occi request failed');
    const message = status === 500 ? 'internal error; see the controller log' : (err as Error).message;
    const code: string = err instanceof NuboError ? String((err as NuboError<string>).code) : 'INTERNAL';
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    void reply.header('server', 'nubo OCCI/1.2');
    // An error in the rendering the request was answered in, else the one Accept asks for (text/plain when it asks for none we serve).
    let rendering = r?.rendering;
    if (rendering === undefined) {
      try {
        rendering = negotiate(req.headers.accept);
      } catch {
        rendering = 'text/plain';
      }
    }
    if (rendering === 'application/occi+json') return reply.status(status).type('application/occi+json').send({ error: { status, code, message } });
    return reply.status(status).type('text/plain; charset=utf-8').send(`${message}\n`);
  }
}
