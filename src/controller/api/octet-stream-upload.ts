import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../../errors/validation-error.js';

/**
 * Lets the routes of `scope` take a file as an application/octet-stream
 * body: left unparsed (the handler streams req.raw to disk) and so not held
 * to the JSON body limit. Register it in an encapsulated plugin, so that no
 * other route takes raw bodies.
 */
export function acceptOctetStream(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/octet-stream', (_req, _payload, done) => done(null));
}

/** The declared size of an upload: the body must be application/octet-stream with a Content-Length above 0 (else 400 naming `body`). */
export function uploadLength(req: FastifyRequest, what: string): number {
  const length = Number(req.headers['content-length']);
  if (req.headers['content-type'] !== 'application/octet-stream' || !Number.isSafeInteger(length) || length <= 0) {
    throw new ValidationError(what, [{ field: 'body', message: 'must be the file as application/octet-stream with a Content-Length above 0' }]);
  }
  return length;
}
