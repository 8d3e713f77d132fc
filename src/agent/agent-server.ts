import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { installErrorHandler } from '../http/install-error-handler.js';
import { UnauthorizedError, bearerToken, sameSecret } from '../http/bearer-token.js';
import {
  agentVmReportSchema,
  agentVmSpecSchema,
  hostReportSchema,
  incomingReadySchema,
  incomingRequestSchema,
  migrateRequestSchema,
  migrationProgressSchema,
  mirrorRequestSchema,
  tuneRequestSchema,
  vmIdSchema,
  type HostReport,
} from './agent-api.js';
import type { AgentService } from './agent-service.js';

export interface AgentServerOptions {
  readonly service: AgentService;
  /** The per-host secret the controller presents. */
  readonly token: string;
  readonly hostReport: () => Promise<HostReport>;
  readonly logger: FastifyBaseLogger;
}

const params = z.object({ id: vmIdSchema });

/**
 * The agent's HTTP API: a thin layer over AgentService. Every route needs the
 * host's bearer token and validates its input against the shared schemas.
 */
export function createAgentServer(o: AgentServerOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: o.logger, bodyLimit: 1024 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  app.addHook('onRequest', async (req) => {
    if (!sameSecret(bearerToken(req), o.token)) throw new UnauthorizedError('wrong host token');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = o.service;

  r.get('/agent/v1/host', { schema: { response: { 200: hostReportSchema } } }, () => o.hostReport());
  r.get('/agent/v1/vms', { schema: { response: { 200: z.array(agentVmReportSchema) } } }, () => svc.list());
  r.get('/agent/v1/vms/:id', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.get(req.params.id));
  r.put('/agent/v1/vms/:id', { schema: { params, body: agentVmSpecSchema, response: { 200: agentVmReportSchema } } }, (req) =>
    svc.prepare(req.params.id, req.body),
  );
  r.post('/agent/v1/vms/:id/start', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.start(req.params.id));
  r.post(
    '/agent/v1/vms/:id/poweroff',
    { schema: { params, body: z.strictObject({ hard: z.boolean().default(false) }).default({ hard: false }), response: { 200: agentVmReportSchema } } },
    (req) => svc.powerOff(req.params.id, req.body.hard),
  );
  r.post('/agent/v1/vms/:id/reboot', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.reboot(req.params.id));
  r.post('/agent/v1/vms/:id/suspend', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.suspend(req.params.id));
  r.delete('/agent/v1/vms/:id', { schema: { params } }, async (req, reply) => {
    await svc.delete(req.params.id);
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/release', { schema: { params } }, async (req, reply) => {
    await svc.release(req.params.id);
    return reply.status(204).send();
  });

  // Live migration, destination side.
  r.post('/agent/v1/vms/:id/incoming', { schema: { params, body: incomingRequestSchema, response: { 200: incomingReadySchema } } }, (req) =>
    svc.incoming(req.params.id, req.body),
  );
  r.post('/agent/v1/vms/:id/migration/activate', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.activate(req.params.id));
  // Source side.
  r.post('/agent/v1/vms/:id/migration/mirror', { schema: { params, body: mirrorRequestSchema } }, async (req, reply) => {
    await svc.mirror(req.params.id, req.body);
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/migration/start', { schema: { params, body: migrateRequestSchema } }, async (req, reply) => {
    await svc.migrate(req.params.id, req.body);
    return reply.status(204).send();
  });
  r.get('/agent/v1/vms/:id/migration', { schema: { params, response: { 200: migrationProgressSchema } } }, (req) => svc.migrationStatus(req.params.id));
  r.post('/agent/v1/vms/:id/migration/tune', { schema: { params, body: tuneRequestSchema } }, async (req, reply) => {
    await svc.tuneMigration(req.params.id, req.body);
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/migration/complete-mirrors', { schema: { params } }, async (req, reply) => {
    await svc.completeMirrors(req.params.id);
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/migration/cancel', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.cancelMigration(req.params.id));
  r.post('/agent/v1/vms/:id/migration/resume-source', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.resumeSource(req.params.id));

  r.get('/agent/v1/vms/:id/console', { schema: { params } }, async (req, reply) =>
    reply.type('text/plain; charset=utf-8').send(await svc.consoleLog(req.params.id)),
  );
  return app;
}
