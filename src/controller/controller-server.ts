import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { installErrorHandler } from '../http/install-error-handler.js';
import { UnauthorizedError, bearerToken } from '../http/bearer-token.js';
import { webSocketBearerToken } from '../http/websocket-bearer-token.js';
import { registerDashboard } from './dashboard-static.js';
import type { ApiContext } from './api/api-context.js';
import { registerHostRoutes } from './api/host-routes.js';
import { registerClusterRoutes } from './api/cluster-routes.js';
import { registerDatastoreRoutes } from './api/datastore-routes.js';
import { registerMaintenanceRoutes } from './api/maintenance-routes.js';
import { registerImageDataRoute, registerImageRoutes } from './api/image-routes.js';
import { registerImageObjectRoutes } from './api/image-object-routes.js';
import { registerTemplateRoutes } from './api/template-routes.js';
import { registerVmRoutes } from './api/vm-routes.js';
import { registerVmNicRoutes } from './api/vm-nic-routes.js';
import { registerVmResizeRoutes } from './api/vm-resize-routes.js';
import { registerVmStorageRoutes } from './api/vm-storage-routes.js';
import { registerVmCaptureRoutes } from './api/vm-capture-routes.js';
import { registerVmSnapshotRoutes } from './api/vm-snapshot-routes.js';
import { registerNetworkRoutes } from './api/network-routes.js';
import { registerEventRoutes } from './api/event-routes.js';
import { registerMigrationRoutes } from './api/migration-routes.js';
import { hostsByToken, registerInternalRoutes } from './api/internal-routes.js';
import { errorBody } from '../contract/api-schemas.js';
import { registerUserRoutes } from './api/user-routes.js';
import { registerUserAdminRoutes } from './api/user-admin-routes.js';
import { registerAccessKeyRoutes } from './api/access-key-routes.js';
import { registerGroupRoutes } from './api/group-routes.js';
import { registerShareRoutes } from './api/share-routes.js';
import { registerQuotaRoutes } from './api/quota-routes.js';
import { registerTransferRoutes } from '../transfer/transfer-routes.js';
import { registerUsageRoutes } from './api/usage-routes.js';
import { registerHaRoutes } from './api/ha-routes.js';
import { registerMetricsRoutes, type MetricsParts } from './api/metrics-routes.js';
import { registerLeaseRoutes } from './api/lease-routes.js';
import { registerDrsRoutes } from './api/drs-routes.js';
import { registerScalingGroupRoutes } from './api/scaling-group-routes.js';
import type { Kysely } from 'kysely';
import { registerOcci } from '../occi/occi-server.js';
import { registerCloudRoutes } from './api/cloud-routes.js';
import { SqlOcciMixinRecords, type OcciTables } from './sql-occi-mixin-records.js';

/**
 * The controller's HTTP server: the native API under /api/v1 (bearer token of
 * a user), the image bytes (a user's or a host's token), the agents' internal
 * routes (host token), OCCI 1.2 under /occi/1.2 (src/occi/), and the OpenAPI document generated from the same zod
 * schemas that validate every request.
 */
export async function createControllerServer(ctx: ApiContext, forward?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>, metrics?: MetricsParts): Promise<FastifyInstance> {
  // Typed as Fastify's base logger so that the instance is the plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = ctx.logger;
  // forceCloseConnections: event streams stay open; closing the server must end them.
  const app = Fastify({
    loggerInstance, bodyLimit: 1024 * 1024, forceCloseConnections: true,
    // The router's own refusals (a path segment past maxParamLength, a malformed URL) in the API's error shape.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void reply.status(tooLong ? 414 : 400).send({
        error: tooLong
          ? { code: 'URI_TOO_LONG', message: 'a path segment (an id or name) is longer than 100 characters', details: {} }
          : { code: 'VALIDATION_FAILED', message: `invalid request: ${err.message}`, details: { location: 'url' } },
      });
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  documentErrorResponses(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'nubo native API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifyWebsocket);
  const closing = new AbortController();
  app.addHook('onClose', async () => closing.abort());
  app.decorateRequest('user', null);
  // Latency by the route's pattern, measured by Fastify from the request's arrival to the last byte of the answer.
  if (metrics) app.addHook('onResponse', async (req, reply) => metrics.prometheus.observeRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000));
  // Several controllers: a follower forwards writes to the leader before anything else looks at them (leader-forwarder.ts).
  if (forward) app.addHook('onRequest', forward);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (path === '/api/v1/openapi.json' || path.startsWith('/internal/')) return;
    if (!path.startsWith('/api/')) return;
    const asUser = await ctx.inProcess?.userOf(req);
    if (asUser) {
      req.user = asUser;
      return;
    }
    const token = webSocketBearerToken(req) ?? bearerToken(req);
    const user = await ctx.store.users.findByToken(token);
    if (user) {
      req.user = user;
      return;
    }
    // Agents fetch image bytes with their host token.
    if (/^\/api\/v1\/images\/[^/]+\/data$/.test(path) && req.method === 'GET') {
      await hostsByToken(ctx, token);
      return;
    }
    throw new UnauthorizedError('unknown token');
  });

  registerHostRoutes(app, ctx);
  registerClusterRoutes(app, ctx);
  registerDatastoreRoutes(app, ctx);
  registerMaintenanceRoutes(app, ctx);
  registerImageRoutes(app, ctx);
  registerImageDataRoute(app, ctx);
  registerImageObjectRoutes(app, ctx);
  registerNetworkRoutes(app, ctx);
  registerTemplateRoutes(app, ctx);
  registerVmRoutes(app, ctx);
  registerVmNicRoutes(app, ctx);
  registerVmResizeRoutes(app, ctx);
  registerVmStorageRoutes(app, ctx);
  registerVmCaptureRoutes(app, ctx);
  registerVmSnapshotRoutes(app, ctx);
  registerMigrationRoutes(app, ctx);
  registerEventRoutes(app, ctx, closing.signal);
  registerInternalRoutes(app, ctx);
  // Agents resuming a stopped VM pull its files from here exactly as from a peer agent in a cold migration (outside /api/: the offer's token, not a user's).
  registerTransferRoutes(app, ctx.systemOffers);
  registerUserRoutes(app, ctx);
  registerUserAdminRoutes(app, ctx);
  if (ctx.accessKeys) registerAccessKeyRoutes(app, ctx, ctx.accessKeys);
  registerGroupRoutes(app, ctx);
  registerShareRoutes(app, ctx);
  registerQuotaRoutes(app, ctx);
  registerUsageRoutes(app, ctx);
  registerHaRoutes(app, ctx);
  if (ctx.leases) registerLeaseRoutes(app, ctx, ctx.leases);
  if (metrics) registerMetricsRoutes(app, ctx, metrics);
  if (ctx.drs) registerDrsRoutes(app, ctx, ctx.drs);
  if (ctx.scalingGroups) registerScalingGroupRoutes(app, ctx, ctx.scalingGroups);
  if (ctx.clouds) registerCloudRoutes(app, ctx, ctx.clouds);
  // OCCI 1.2 (src/occi/): its own path on this listener, the same bearer tokens, acting through the native routes as the caller.
  const inProcess = ctx.inProcess;
  if (inProcess) {
    await registerOcci(app, {
      api: inProcess,
      authenticate: async (req) => {
        const user = await ctx.store.users.findByToken(bearerToken(req));
        if (!user) throw new UnauthorizedError('unknown token');
        return user.id;
      },
      mixins: new SqlOcciMixinRecords(ctx.store.db as unknown as Kysely<OcciTables>),
      step: async (name) => ctx.failpoints?.hit(name),
    });
  }
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The web dashboard (web/, built into dist/web): static files, outside /api/ and its token check.
  await registerDashboard(app);
  return app;
}

/** What each error status means on every route of the native API; all of them answer in the shape of `errorBody`. */
const ERROR_RESPONSES: Readonly<Record<number, string>> = {
  400: 'invalid request (VALIDATION_FAILED names each field in details.issues; AMBIGUOUS_ID lists the candidates)',
  401: 'no token, or an unknown one (UNAUTHORIZED)',
  403: 'the caller may see the resource but not do this to it: the operation needs the admin role, or the group admin\'s, or the owner\'s (FORBIDDEN)',
  404: 'no such resource, or not one the caller may see (NOT_FOUND)',
  409: 'the resource is in the wrong state or a name is taken (INVALID_STATE, CONFLICT, …; the message names the state or field), or a quota would be overrun (QUOTA_EXCEEDED names the resource, limit, use and request)',
  500: 'an unexpected failure; the details are in the server log',
  503: 'this controller is not the leader and knows no leader to forward the request to (NOT_LEADER; details.leaderUrl when a leader is known)',
};

/** Adds the error responses to every /api/ route's schema, so that the OpenAPI document lists them (and the serializer checks their shape). */
function documentErrorResponses(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
    if (!route.url.startsWith('/api/') || !schema || schema.hide === true) return;
    const response = { ...(schema.response ?? {}) };
    for (const [status, description] of Object.entries(ERROR_RESPONSES)) response[status] ??= errorBody.describe(description);
    schema.response = response;
  });
}
