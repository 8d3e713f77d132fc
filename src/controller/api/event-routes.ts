import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { eventView, type EventView } from './api-schemas.js';
import { userOf, type ApiContext } from './api-context.js';
import type { Store } from '../../store/open-store.js';

const since = z.strictObject({ since: z.coerce.number().int().min(0).default(0) });

async function eventsSince(store: Store, seq: number, limit = 500): Promise<EventView[]> {
  return (await store.events.listSince(seq, limit)).map((e) => ({ seq: e.seq, at: e.at, kind: e.kind, resource: e.resource, resourceId: e.resourceId, data: e.data }));
}

/**
 * State changes as a server-sent event stream (`GET /api/v1/events`, resumable
 * with Last-Event-ID or ?since=) and as a JSON page (`/events/history`). The
 * store's event table is the source, so a client that reconnects misses nothing.
 */
export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext, closing: AbortSignal, pollMs = 500): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['events'];
  r.get('/api/v1/events/history', { schema: { tags, querystring: since, response: { 200: z.array(eventView) } } }, async (req) => {
    userOf(req);
    return eventsSince(ctx.store, req.query.since);
  });
  r.get('/api/v1/events', { schema: { tags, querystring: since } }, async (req, reply) => {
    userOf(req);
    const lastId = Number(req.headers['last-event-id']);
    let seq = Number.isInteger(lastId) && lastId > 0 ? lastId : req.query.since;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': nubo events\n\n');
    let open = true;
    req.raw.on('close', () => (open = false));
    while (open && !closing.aborted) {
      for (const e of await eventsSince(ctx.store, seq)) {
        res.write(`id: ${e.seq}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
        seq = e.seq;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    res.end();
  });
}
