import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { installErrorHandler } from '../http/install-error-handler.js';
import { UnauthorizedError, bearerToken } from '../http/bearer-token.js';
import type { ApiContext } from './api/api-context.js';
import { registerHostRoutes } from './api/host-routes.js';
import { registerImageDataRoute, registerImageRoutes } from './api/image-routes.js';
import { registerTemplateRoutes } from './api/template-routes.js';
import { registerVmRoutes } from './api/vm-routes.js';
import { registerVmNicRoutes } from './api/vm-nic-routes.js';
import { registerVmStorageRoutes } from './api/vm-storage-routes.js';
import { registerVmCaptureRoutes } from './api/vm-capture-routes.js';
import { registerVmSnapshotRoutes } from './api/vm-snapshot-routes.js';
import { registerNetworkRoutes } from './api/network-routes.js';
import { registerEventRoutes } from './api/event-routes.js';
import { registerMigrationRoutes } from './api/migration-routes.js';
import { hostByToken, registerInternalRoutes } from './api/internal-routes.js';
import { userView } from './api/api-schemas.js';
import { userOf } from './api/api-context.js';
import { registerTransferRoutes } from '../agent/transfer-routes.js';

/**
 * The controller's HTTP server: the native API under /api/v1 (bearer token of
 * a user), the image bytes (a user's or a host's token), the agents' internal
 * routes (host token), and the OpenAPI document generated from the same zod
 * schemas that validate every request.
 */
export async function createControllerServer(ctx: ApiContext): Promise<FastifyInstance> {
  // Typed as Fastify's base logger so that the instance is the plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = ctx.logger;
  // forceCloseConnections: event streams stay open; closing the server must end them.
  const app = Fastify({ loggerInstance, bodyLimit: 1024 * 1024, forceCloseConnections: true });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
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
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (path === '/api/v1/openapi.json' || path.startsWith('/internal/')) return;
    if (!path.startsWith('/api/')) return;
    const token = bearerToken(req);
    const user = await ctx.store.users.findByToken(token);
    if (user) {
      req.user = user;
      return;
    }
    // Agents fetch image bytes with their host token.
    if (/^\/api\/v1\/images\/[^/]+\/data$/.test(path) && req.method === 'GET') {
      await hostByToken(ctx, token);
      return;
    }
    throw new UnauthorizedError('unknown token');
  });

  registerHostRoutes(app, ctx);
  registerImageRoutes(app, ctx);
  registerImageDataRoute(app, ctx);
  registerNetworkRoutes(app, ctx);
  registerTemplateRoutes(app, ctx);
  registerVmRoutes(app, ctx);
  registerVmNicRoutes(app, ctx);
  registerVmStorageRoutes(app, ctx);
  registerVmCaptureRoutes(app, ctx);
  registerVmSnapshotRoutes(app, ctx);
  registerMigrationRoutes(app, ctx);
  registerEventRoutes(app, ctx, closing.signal);
  registerInternalRoutes(app, ctx);
  // Agents resuming a stopped VM pull its files from here exactly as from a peer agent in a cold migration (outside /api/: the offer's token, not a user's).
  registerTransferRoutes(app, ctx.systemOffers);
  app.get('/api/v1/users/me', { schema: { tags: ['users'], response: { 200: userView } } }, async (req) => {
    const u = userOf(req);
    return { id: u.id, name: u.name, role: u.role, createdAt: u.createdAt };
  });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
