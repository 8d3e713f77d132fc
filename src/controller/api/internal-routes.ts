import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { hostReportSchema } from '../../contract/agent-api.js';
import { bearerToken, UnauthorizedError } from '../../http/bearer-token.js';
import { errorMessage } from '../../errors/nubo-error.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { ApiContext } from './api-context.js';

/**
 * The hosts whose agent token this is; agents authenticate with their own
 * host's token. Operators may give several hosts one token, so the token alone
 * does not say which host speaks: the report's name does (see the route).
 */
export async function hostsByToken(ctx: ApiContext, token: string): Promise<Host[]> {
  const hosts = await ctx.monitor.hostsOfToken(token);
  if (hosts.length === 0) throw new UnauthorizedError('unknown host token');
  return hosts;
}

/** The host a heartbeat speaks for: the one of its name among the token's. A report under another host's name is refused, never taken as that host's or the token's first host's. */
function senderOf(hosts: readonly Host[], name: string): Host {
  const host = hosts.find((h) => h.name === name);
  if (!host) throw new UnauthorizedError(`the token is not host ${JSON.stringify(name)}'s`);
  return host;
}

export function registerInternalRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const senders = new WeakMap<FastifyRequest, Host[]>();
  app.withTypeProvider<ZodTypeProvider>().post('/internal/v1/heartbeat', {
    schema: { hide: true, body: hostReportSchema },
    // No access-log lines for each beat: a thousand hosts made 400 a second, a visible share of an idle controller's CPU
    // (bench/scale.ts profile). A refused or failed beat is still logged, by the hook below.
    logLevel: 'warn',
    onError: async (req, _reply, err) => {
      req.log.warn({ err: errorMessage(err), ip: req.ip }, 'heartbeat refused or failed');
    },
    // Authenticate before the body is validated: a caller without a host token gets a 401, not a 400 describing the report.
    // A token the index holds passes from memory, and its hosts are read (confirmed) in the handler, inside the beat's
    // hold: that store read waited in line behind every API client, and a beat waiting there did not count as heard.
    onRequest: async (req) => {
      const token = bearerToken(req);
      if (!ctx.monitor.knowsToken(token)) senders.set(req, await hostsByToken(ctx, token));
    },
  }, async (req, reply) => {
    const token = bearerToken(req);
    // Heard from here on, before anything waits for the store (see HostMonitor.hold).
    const release = ctx.monitor.hold(token, req.body.name);
    try {
      const named = (hosts: readonly Host[]): Host | undefined => hosts.find((h) => h.name === req.body.name);
      // Not among the token's hosts as indexed: a host registered since with this token; read them afresh once.
      const host = named(senders.get(req) ?? await hostsByToken(ctx, token)) ?? senderOf(await ctx.monitor.hostsOfToken(token, true), req.body.name);
      await ctx.monitor.heartbeat(host, req.body);
    } finally {
      release();
    }
    return reply.status(204).send();
  });
}
