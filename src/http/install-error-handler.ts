import type { FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { NuboError } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { httpStatusOf } from './http-status-of.js';

/**
 * Every error leaves the server as `{error: {code, message, details}}`:
 * schema violations as VALIDATION_FAILED naming each field, nubo's typed
 * errors by their code, anything else as a 500 whose details stay in the log.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = (err as { validationContext?: string }).validationContext ?? 'body';
      const issues = err.validation.flatMap((v) => {
        const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
        // zod reports unknown keys on the enclosing object; name each key as the offending field.
        const keys = v.keyword === 'unrecognized_keys' ? v.params['keys'] : undefined;
        if (Array.isArray(keys) && keys.length > 0) return keys.map((k) => ({ field: path ? `${path}.${String(k)}` : String(k), message: 'is not a known field' }));
        return [{ field: path || where, message: v.message ?? 'is invalid' }];
      });
      const e = new ValidationError(`request ${where}`, issues);
      return reply.status(400).send({ error: { code: e.code, message: e.message, details: { location: where, issues } } });
    }
    const fe = err as { statusCode?: number; code?: string; message: string };
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (fe.statusCode === 400 && !(err instanceof NuboError))) {
      // Malformed JSON and the like: Fastify's own 400s.
      return reply.status(400).send({ error: { code: 'VALIDATION_FAILED', message: `invalid request: ${fe.message}`, details: { location: 'body' } } });
    }
    if (err instanceof NuboError) {
      // RemoteError relays a server's code as a string: every NuboError's code is at least that.
      const status = httpStatusOf((err as NuboError<string>).code);
      if (status >= 500) req.log.error({ err }, 'request failed');
      return reply.status(status).send({ error: err.toJSON() });
    }
    if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: { code: fe.code ?? 'BAD_REQUEST', message: fe.message, details: {} } });
    }
    req.log.error({ err }, 'unexpected error');
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error; see the server log', details: {} } });
  });
  const routes = routeTable(app);
  app.setNotFoundHandler((req, reply) => {
    // A path that exists with other methods: the method is wrong, not the path (RFC 9110 §15.5.6).
    const allowed = routes.methodsFor(req.url.split('?')[0] ?? '');
    if (allowed.length > 0) {
      return reply.status(405).header('allow', allowed.join(', ')).send({
        error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${req.url.split('?')[0] ?? ''}; it takes ${allowed.join(', ')}`, details: { method: req.method, allowed } },
      });
    }
    return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}`, details: {} } });
  });
}

/** The routes registered from now on, as patterns, to tell a wrong method from a wrong path. */
function routeTable(app: FastifyInstance): { methodsFor(path: string): string[] } {
  const patterns: { re: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
    patterns.push({ re: new RegExp(`^${source}/?$`), methods: [route.method].flat() });
  });
  return {
    methodsFor: (path) => [...new Set(patterns.filter((p) => p.re.test(path)).flatMap((p) => p.methods))].sort(),
  };
}
