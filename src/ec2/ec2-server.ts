import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Ec2ApiError } from './ec2-api-error.js';
import type { Ec2Authenticator } from './ec2-authenticator.js';
import type { Ec2Context, Ec2Handler } from './ec2-context.js';
import { Ec2Params } from './ec2-params.js';
import { ec2ErrorXml, ec2ResponseXml } from './ec2-xml.js';

export interface Ec2ServerOptions {
  readonly context: Ec2Context;
  readonly authenticator: Ec2Authenticator;
  readonly actions: ReadonlyMap<string, Ec2Handler>;
  readonly logger: Logger;
}

/**
 * The EC2 Query API's own listener (port 7490 by default): `POST /` with a
 * form body or `GET /?Action=…`, SigV4-authenticated once before any action,
 * answered in EC2's XML with the request id in `x-amzn-RequestId` and the
 * body. Actions run through the native API as the signing user.
 */
export async function createEc2Server(o: Ec2ServerOptions): Promise<FastifyInstance> {
  const loggerInstance: FastifyBaseLogger = o.logger;
  // Each request is logged once, below, with its action; Fastify's own lines would double that. (The top-level
  // `disableRequestLogging` option is deprecated in Fastify 5.12 and printed a warning on `nubo up`'s terminal.)
  const app = Fastify({ loggerInstance, bodyLimit: 1024 * 1024, logController: new LogController({ disableRequestLogging: true }) });
  // Every body as its exact bytes: the signature covers them, and the form is parsed by Ec2Params.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const requestId = randomUUID();
    void reply.header('x-amzn-RequestId', requestId);
    let action = '';
    try {
      const body = typeof req.body === 'string' ? req.body : '';
      const principal = await o.authenticator.authenticate({ method: req.method, url: req.url, headers: req.headers, body });
      const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
      // A presigned GET carries its signature in the query: those are not the action's parameters.
      const params = Ec2Params.parse(stripSignature(query), req.method === 'POST' ? body : '');
      action = params.optional('Action') ?? '';
      if (action === '') throw new Ec2ApiError('MissingAction', 'The request must contain the parameter Action');
      const handler = o.actions.get(action);
      if (!handler) throw new Ec2ApiError('InvalidAction', `The action ${action} is not valid for this web service`);
      const version = params.optional('Version');
      if (version !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(version)) throw new Ec2ApiError('InvalidParameterValue', `Invalid value for parameter Version: ${JSON.stringify(version)}`);
      const out = await handler(o.context, { userId: principal.userId, accessKeyId: principal.accessKeyId, params, requestId });
      req.log.info({ action, requestId, user: principal.userId }, 'ec2 request');
      return reply.type('text/xml; charset=utf-8').send(ec2ResponseXml(action, requestId, out));
    } catch (err) {
      if (err instanceof Ec2ApiError) {
        req.log.info({ action, requestId, code: err.awsCode }, 'ec2 request refused');
        return reply.status(err.status).type('text/xml; charset=utf-8').send(ec2ErrorXml(err.awsCode, err.message, requestId));
      }
      req.log.error({ err, action, requestId }, 'ec2 request failed');
      return reply.status(500).type('text/xml; charset=utf-8').send(ec2ErrorXml('InternalError', 'An internal error has occurred; see the controller log', requestId));
    }
  };
  app.post('/', handle);
  app.get('/', handle);
  app.setNotFoundHandler(async (req, reply) => {
    const requestId = randomUUID();
    return reply.status(404).header('x-amzn-RequestId', requestId).type('text/xml; charset=utf-8')
      .send(ec2ErrorXml('InvalidAction', `The EC2 Query API is served at /, not ${req.method} ${req.url.split('?')[0] ?? ''}`, requestId));
  });
  app.setErrorHandler(async (err: { statusCode?: number; message: string }, _req, reply) => {
    const requestId = randomUUID();
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.status(status).header('x-amzn-RequestId', requestId).type('text/xml; charset=utf-8')
      .send(ec2ErrorXml(status === 500 ? 'InternalError' : 'MalformedQueryString', status === 500 ? 'An internal error has occurred' : err.message, requestId));
  });
  return app;
}

function stripSignature(query: string): string {
  return query.split('&').filter((kv) => !/^X-Amz-/i.test(kv)).join('&');
}
