import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { eventView, type EventView } from '../../contract/event-schemas.js';
import { userOf, type ApiContext } from './api-context.js';
import type { User } from '../../store/repositories/users-repository.js';
import type { StoreEvent } from '../../store/repositories/events-repository.js';

const since = z.strictObject({ since: z.coerce.number().int().min(0).default(0) });

const PAGE = 500;

/** `since` pages forward from a seq; `latest` is the newest N (what a page needs to show recent events and start a stream). */
const historyQuery = z.strictObject({
  since: z.coerce.number().int().min(0).optional(),
  latest: z.coerce.number().int().min(1).max(PAGE).optional(),
}).refine((q) => q.since === undefined || q.latest === undefined, { message: 'give either since or latest, not both', path: ['latest'] });

const toView = (e: StoreEvent): EventView => ({ seq: e.seq, at: e.at, kind: e.kind, resource: e.resource, resourceId: e.resourceId, data: e.data });

/**
 * The next events after `seq` that `user` may read (at most PAGE), and the seq
 * the scan reached: events the user may not read are skipped, so a page is
 * empty only at the end of the table and a stream moves past them.
 */
async function eventsSince(ctx: ApiContext, user: User, seq: number): Promise<{ events: EventView[]; scannedTo: number }> {
  const out: EventView[] = [];
  let scannedTo = seq;
  while (out.length < PAGE) {
    const raw = await ctx.store.events.listSince(scannedTo, PAGE);
    if (raw.length === 0) break;
    for (const e of await ctx.audience.filter(user, raw)) {
      if (out.length === PAGE) break;
      out.push(toView(e));
    }
    // A full page stops at its last event, so the next call starts right after it.
    scannedTo = out.length === PAGE ? out[PAGE - 1]!.seq : raw.at(-1)!.seq;
  }
  return { events: out, scannedTo };
}

/**
 * The newest `n` events `user` may read, oldest first: the table is walked
 * backwards from its newest row over the seq primary key, skipping what the
 * user may not read, so the cost follows `n`, not the table's length.
 */
async function latestEvents(ctx: ApiContext, user: User, n: number): Promise<EventView[]> {
  const out: EventView[] = [];
  let before = 0;
  for (;;) {
    const raw = await ctx.store.events.listBefore(before, PAGE);
    if (raw.length === 0) break;
    for (const e of await ctx.audience.filter(user, raw)) if (out.length < n) out.push(toView(e));
    if (out.length === n) break;
    before = raw.at(-1)!.seq;
  }
  return out.reverse();
}

/**
 * State changes as a server-sent event stream (`GET /api/v1/events`, resumable
 * with Last-Event-ID or ?since=) and as a JSON page (`/events/history`). The
 * store's event table is the source, so a client that reconnects misses nothing.
 * Each caller gets only the events EventAudience lets them read.
 */
export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext, closing: AbortSignal, pollMs = 500): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['events'];
  const description = 'Only the events the caller may read: admins all; a plain user those about their own VMs (with their migrations), volumes and capacity leases (`lease.*`: every state a lease passes through, its steps begun, done or failed) and about the images they may see (their own and the shared catalog). Host events are for admins only.';
  r.get('/api/v1/events/history', {
    schema: {
      tags, querystring: historyQuery, response: { 200: z.array(eventView) },
      summary: 'A page of past events, oldest first: the next ones after `since` (default 0), or the newest `latest` (1–500)',
      description: `${description} With \`since\`, up to ${PAGE} events after that seq; with \`latest\`, the newest N (the last one's seq is where a stream started with \`?since=\` picks up). Not both.`,
    },
  }, async (req) => {
    const q = req.query;
    if (q.latest !== undefined) return latestEvents(ctx, userOf(req), q.latest);
    return (await eventsSince(ctx, userOf(req), q.since ?? 0)).events;
  });
  r.get('/api/v1/events', { schema: { tags, description, querystring: since } }, async (req, reply) => {
    const user = userOf(req);
    const lastId = Number(req.headers['last-event-id']);
    let seq = Number.isInteger(lastId) && lastId > 0 ? lastId : req.query.since;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': nubo events\n\n');
    let open = true;
    req.raw.on('close', () => (open = false));
    while (open && !closing.aborted) {
      const page = await eventsSince(ctx, user, seq);
      for (const e of page.events) res.write(`id: ${e.seq}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
      seq = page.scannedTo;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    res.end();
  });
}
