import type { FastifyReply } from 'fastify';

/**
 * A signal that aborts when the client goes away before its answer is
 * complete, so that long work it asked for (a disk conversion) stops and
 * cleans up instead of finishing for nobody.
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const ctl = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ctl.abort(new Error('the client closed the connection'));
  });
  return ctl.signal;
}
