import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientGoneSignal } from '../http/client-gone-signal.js';
import { deadline } from '../util/deadline.js';

/**
 * The signal a route hands down to every wait it makes: it aborts when the
 * client goes away (see clientGoneSignal) or, as a backstop for a client
 * that holds the connection open, after `timeoutMs` with a TimeoutError
 * naming the route. The timer ends with the response.
 */
export function routeSignal(req: FastifyRequest, reply: FastifyReply, timeoutMs: number): AbortSignal {
  const d = deadline(`${req.method} ${req.routeOptions.url ?? req.url}`, timeoutMs, clientGoneSignal(reply));
  reply.raw.once('close', () => d.dispose());
  return d.signal;
}
