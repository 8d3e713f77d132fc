import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { NotLeaderError } from '../errors/not-leader-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Leadership } from './leadership.js';

/** Tells every answer's reader (agents, clients) where the leader is. */
export const LEADER_HEADER = 'x-nubo-leader';
/** Marks a forwarded request, so that two followers with stale views never bounce one between them. */
const FORWARDED_HEADER = 'x-nubo-forwarded-by';
/** A forwarded call may carry an image upload or a long operation: the socket may idle this long. */
const IDLE_TIMEOUT_MS = 600_000;

/**
 * The controller server's one hook for several controllers. The leader
 * serves everything and names itself in `x-nubo-leader`. A follower serves
 * reads (GET, HEAD: the store is shared) and forwards every other request,
 * body streamed as is, to the leader as a reverse proxy: a CLI or SDK talking
 * to any controller needs no redirect handling (a 307 would make clients
 * re-send uploads and lose their Authorization header on some stacks).
 */
export function leaderForwarder(leadership: Leadership, selfId: string, logger: Logger) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (leadership.isLeader()) {
      const self = await leadership.leader();
      if (self) void reply.header(LEADER_HEADER, self.url);
      return;
    }
    const leader = await leadership.leader().catch(() => undefined);
    if (leader) void reply.header(LEADER_HEADER, leader.url);
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    if (!leader) throw new NotLeaderError('no controller holds the leadership lease right now; retry shortly');
    if (req.headers[FORWARDED_HEADER] !== undefined || leader.holder === selfId) throw new NotLeaderError('the request was forwarded here by another controller', leader.url);
    reply.hijack();
    await forward(req.raw, reply.raw, leader.url, selfId, logger);
  };
}

function forward(from: IncomingMessage, to: ServerResponse, leaderUrl: string, selfId: string, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const target = new URL(from.url ?? '/', leaderUrl);
    const upstream = request(target, {
      method: from.method,
      headers: { ...from.headers, host: target.host, [FORWARDED_HEADER]: selfId },
      timeout: IDLE_TIMEOUT_MS,
    }, (res) => {
      to.writeHead(res.statusCode ?? 502, res.headers);
      res.pipe(to);
      res.on('end', () => resolve());
      res.on('error', () => {
        to.destroy();
        resolve();
      });
    });
    upstream.on('timeout', () => upstream.destroy(new Error(`no answer from the leader in ${IDLE_TIMEOUT_MS} ms`)));
    upstream.on('error', (err) => {
      logger.warn({ leader: leaderUrl, err: errorMessage(err) }, 'forwarding to the leader failed');
      if (!to.headersSent) {
        const body = new NotLeaderError(`the leader did not answer: ${errorMessage(err)}`, leaderUrl).toJSON();
        to.writeHead(503, { 'content-type': 'application/json' });
        to.end(JSON.stringify({ error: body }));
      } else {
        to.destroy();
      }
      resolve();
    });
    // The caller going away ends the forwarded call too.
    to.on('close', () => {
      if (!to.writableFinished) upstream.destroy();
    });
    from.pipe(upstream);
  });
}
