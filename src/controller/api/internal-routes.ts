import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { hostReportSchema } from '../../contract/agent-api.js';
import { bearerToken, UnauthorizedError } from '../../http/bearer-token.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { ApiContext } from './api-context.js';

/** The host whose agent token this is; agents authenticate with their own host's token. */
export async function hostByToken(ctx: ApiContext, token: string): Promise<Host> {
  const host = await ctx.monitor.hostOfToken(token);
  if (!host) throw new UnauthorizedError('unknown host token');
  return host;
}

export function registerInternalRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const senders = new WeakMap<FastifyRequest, Host>();
  app.withTypeProvider<ZodTypeProvider>().post('/internal/v1/heartbeat', {
    schema: { hide: true, body: hostReportSchema },
    // Authenticate before the body is validated: a caller without a host token gets a 401, not a 400 describing the report.
    onRequest: async (req) => {
      senders.set(req, await hostByToken(ctx, bearerToken(req)));
    },
  }, async (req, reply) => {
    const host = senders.get(req) ?? (await hostByToken(ctx, bearerToken(req)));
    await ctx.monitor.heartbeat(host, req.body);
    return reply.status(204).send();
  });
}
