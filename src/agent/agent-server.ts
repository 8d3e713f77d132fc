import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import { spliceToUnixSocket } from '../http/console-splice.js';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { installErrorHandler } from '../http/install-error-handler.js';
import { UnauthorizedError, bearerToken, sameSecret } from '../http/bearer-token.js';
import {
  agentVmReportSchema,
  agentVmSpecSchema,
  attachNicRequestSchema,
  hostReportSchema,
  incomingReadySchema,
  incomingRequestSchema,
  migrateRequestSchema,
  migrationProgressSchema,
  mirrorRequestSchema,
  nicIndexParams,
  receiveRequestSchema,
  receiveStatusSchema,
  transferOfferRequestSchema,
  transferOfferSchema,
  tuneRequestSchema,
  vmIdSchema,
  type HostReport,
} from '../contract/agent-api.js';
import type { AgentService } from './agent-service.js';
import { TRANSFER_ROUTE_PREFIX, registerTransferRoutes } from '../transfer/transfer-routes.js';
import { diskMoveRequestSchema, diskMoveStatusSchema, volumeAttachmentSchema, volumeIdSchema, vmVolumeParams } from '../contract/agent-api.js';
import { routeSignal } from './route-signal.js';
import { agentMetricsSchema, type AgentMetrics } from '../contract/metrics-schemas.js';
import { captureRequestSchema } from '../contract/agent-api.js';
import { agentRebootReportSchema, rebootRequestSchema, startRequestSchema } from '../contract/agent-api.js';
import { diskSnapshotSchema, snapshotRequestSchema, vmSnapshotParams } from '../contract/agent-api.js';
import { staleVmsRequestSchema } from '../contract/agent-api.js';
import { dirtyRateRequestSchema, dirtyRateSchema } from '../contract/agent-api.js';
import { vmFirewallReportSchema, vmFirewallSchema } from '../contract/agent-api.js';
import { consoleTailQuerySchema, earlierConsoleSchema } from '../contract/console-log-schemas.js';
import { CONSOLE_LOG_MAX_BYTES } from '../core/console-log.js';

export interface AgentServerOptions {
  readonly service: AgentService;
  /** The per-host secret the controller presents. */
  readonly token: string;
  readonly hostReport: () => Promise<HostReport>;
  /** The latest metrics samples (vm-metrics-sampler.ts). */
  readonly metrics?: (() => AgentMetrics) | undefined;
  readonly logger: FastifyBaseLogger;
}

const params = z.object({ id: vmIdSchema });

/** Backstop of a route that takes no VM lock and makes only short waits. */
const QUICK_MS = 60_000;
/** Backstop of a route that takes the VM's lock: it may queue behind the longest operation (a disk move, 6 h) before its own work. */
const LOCKED_MS = 7 * 3_600_000;
const migrationStatusQuery = z.object({ waitMs: z.coerce.number().int().min(0).max(5_000).optional() });
const receiveStatusQuery = migrationStatusQuery;

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
    // A peer agent reading a cold migration's files presents that transfer's own token; its routes check it.
    if (req.url.startsWith(TRANSFER_ROUTE_PREFIX)) return;
    if (!sameSecret(bearerToken(req), o.token)) throw new UnauthorizedError('wrong host token');
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const svc = o.service;
  const held = (req: FastifyRequest, reply: FastifyReply): AbortSignal => routeSignal(req, reply, LOCKED_MS);
  const quick = (req: FastifyRequest, reply: FastifyReply): AbortSignal => routeSignal(req, reply, QUICK_MS);

  r.get('/agent/v1/host', { schema: { response: { 200: hostReportSchema } } }, () => o.hostReport());
  r.get('/agent/v1/metrics', { schema: { response: { 200: agentMetricsSchema } } }, () => o.metrics?.() ?? { intervalMs: 1, host: null, vms: [] });
  r.get('/agent/v1/vms', { schema: { response: { 200: z.array(agentVmReportSchema) } } }, (req, reply) => svc.lifecycle.list(quick(req, reply)));
  r.get('/agent/v1/vms/:id', { schema: { params, response: { 200: agentVmReportSchema } } }, (req) => svc.lifecycle.get(req.params.id));
  r.put('/agent/v1/vms/:id', { schema: { params, body: agentVmSpecSchema, response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.lifecycle.prepare(req.params.id, req.body, held(req, reply)),
  );
  // No body is a start at the recorded size, as before sizes existed (a bodyless POST arrives as null).
  r.post('/agent/v1/vms/:id/start', { schema: { params, body: startRequestSchema.nullish(), response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.lifecycle.start(req.params.id, held(req, reply), req.body?.size),
  );
  r.post(
    '/agent/v1/vms/:id/poweroff',
    { schema: { params, body: z.strictObject({ hard: z.boolean().default(false) }).default({ hard: false }), response: { 200: agentVmReportSchema } } },
    (req, reply) => svc.lifecycle.powerOff(req.params.id, req.body.hard, held(req, reply)),
  );
  r.post(
    '/agent/v1/vms/:id/reboot',
    { schema: { params, body: rebootRequestSchema.default({ hard: false, graceS: 60 }), response: { 200: agentRebootReportSchema } } },
    (req, reply) => svc.lifecycle.reboot(req.params.id, req.body, held(req, reply)),
  );
  r.post('/agent/v1/vms/:id/suspend', { schema: { params, response: { 200: agentVmReportSchema } } }, (req, reply) => svc.lifecycle.suspend(req.params.id, held(req, reply)));
  r.delete('/agent/v1/vms/:id', { schema: { params } }, async (req, reply) => {
    await svc.lifecycle.delete(req.params.id, held(req, reply));
    return reply.status(204).send();
  });
  // HA: a VM of a fenced host taken over from the shared datastore; a returning fenced host's stale copies ended.
  r.put('/agent/v1/vms/:id/takeover', { schema: { params, body: agentVmSpecSchema, response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.ha.takeOver(req.params.id, req.body, held(req, reply)),
  );
  r.post('/agent/v1/stale-vms/release', { schema: { body: staleVmsRequestSchema, response: { 200: z.object({ released: z.array(z.string()) }) } } }, async (req, reply) =>
    ({ released: await svc.ha.releaseStale(req.body.vmIds, held(req, reply)) }),
  );
  r.post('/agent/v1/vms/:id/release', { schema: { params } }, async (req, reply) => {
    await svc.lifecycle.release(req.params.id, held(req, reply));
    return reply.status(204).send();
  });
  // The VM's firewall (security groups), replaced atomically on its TAPs; rules null removes it. Takes no VM lock: a
  // rule change must reach a VM in the middle of a long operation (a migration) too.
  r.put('/agent/v1/vms/:id/firewall', { schema: { params, body: vmFirewallSchema, response: { 200: vmFirewallReportSchema } } }, (req, reply) =>
    svc.host.firewalls.set(req.params.id, req.body, quick(req, reply)),
  );
  // NICs of a running (hot-plug) or powered-off VM; both idempotent.
  r.post('/agent/v1/vms/:id/nics', { schema: { params, body: attachNicRequestSchema, response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.nics.attachNic(req.params.id, req.body, held(req, reply)),
  );
  r.delete('/agent/v1/vms/:id/nics/:index', { schema: { params: nicIndexParams, response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.nics.detachNic(req.params.id, req.params.index, held(req, reply)),
  );

  // Live storage migration to this host's other datastore. The move stops (VM on its old disk) if the caller goes away.
  r.post('/agent/v1/vms/:id/disk/move', { schema: { params, body: diskMoveRequestSchema, response: { 200: diskMoveStatusSchema } } }, (req, reply) =>
    svc.diskMoves.moveDisk(req.params.id, req.body, held(req, reply)),
  );
  r.get('/agent/v1/vms/:id/disk/move', { schema: { params, response: { 200: diskMoveStatusSchema } } }, (req) => svc.diskMoves.diskMoveStatus(req.params.id));
  r.post('/agent/v1/vms/:id/disk/move/cancel', { schema: { params, response: { 200: diskMoveStatusSchema } } }, (req) => svc.diskMoves.cancelDiskMove(req.params.id));

  // Volumes of a running (hot-plug) or powered-off VM; both idempotent. A volume's file is deleted on its own.
  r.post('/agent/v1/vms/:id/volumes', { schema: { params, body: volumeAttachmentSchema, response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.volumes.attachVolume(req.params.id, req.body, held(req, reply)),
  );
  r.delete('/agent/v1/vms/:id/volumes/:volumeId', { schema: { params: vmVolumeParams, response: { 200: agentVmReportSchema } } }, (req, reply) =>
    svc.volumes.detachVolume(req.params.id, req.params.volumeId, held(req, reply)),
  );
  r.delete('/agent/v1/volumes/:volumeId', { schema: { params: z.object({ volumeId: volumeIdSchema }) } }, async (req, reply) => {
    await svc.volumes.deleteVolume(req.params.volumeId, quick(req, reply));
    return reply.status(204).send();
  });

  // Disk snapshots (qcow2 internal, in the VM's disk file). A change stops for a client gone only while it waits for the VM's lock (see AgentService).
  r.post('/agent/v1/vms/:id/dirty-rate', { schema: { params, body: dirtyRateRequestSchema.optional(), response: { 200: dirtyRateSchema } } }, (req, reply) =>
    svc.dirtyRate.measure(req.params.id, req.body, quick(req, reply)));
  r.get('/agent/v1/vms/:id/snapshots', { schema: { params, response: { 200: z.array(diskSnapshotSchema) } } }, (req, reply) => svc.snapshots.listSnapshots(req.params.id, held(req, reply)));
  r.post('/agent/v1/vms/:id/snapshots', { schema: { params, body: snapshotRequestSchema, response: { 201: diskSnapshotSchema } } }, async (req, reply) =>
    reply.status(201).send(await svc.snapshots.createSnapshot(req.params.id, req.body, held(req, reply))),
  );
  r.post('/agent/v1/vms/:id/snapshots/:name/revert', { schema: { params: vmSnapshotParams, response: { 200: diskSnapshotSchema } } }, (req, reply) =>
    svc.snapshots.revertSnapshot(req.params.id, req.params.name, held(req, reply)),
  );
  r.delete('/agent/v1/vms/:id/snapshots/:name', { schema: { params: vmSnapshotParams } }, async (req, reply) => {
    await svc.snapshots.deleteSnapshot(req.params.id, req.params.name, held(req, reply));
    return reply.status(204).send();
  });

  // Live migration, destination side.
  r.post('/agent/v1/vms/:id/incoming', { schema: { params, body: incomingRequestSchema, response: { 200: incomingReadySchema } } }, (req, reply) =>
    svc.live.incoming(req.params.id, req.body, held(req, reply)),
  );
  r.post('/agent/v1/vms/:id/migration/activate', { schema: { params, response: { 200: agentVmReportSchema } } }, (req, reply) => svc.live.activate(req.params.id, held(req, reply)));
  // Source side.
  r.post('/agent/v1/vms/:id/migration/mirror', { schema: { params, body: mirrorRequestSchema } }, async (req, reply) => {
    await svc.live.mirror(req.params.id, req.body, held(req, reply));
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/migration/start', { schema: { params, body: migrateRequestSchema } }, async (req, reply) => {
    await svc.live.migrate(req.params.id, req.body, held(req, reply));
    return reply.status(204).send();
  });
  // `?waitMs=`: the source answers when its migration ends, or after that long (the controller's long poll).
  r.get('/agent/v1/vms/:id/migration', { schema: { params, querystring: migrationStatusQuery, response: { 200: migrationProgressSchema } } }, (req, reply) =>
    svc.live.migrationStatus(req.params.id, quick(req, reply), req.query.waitMs),
  );
  r.post('/agent/v1/vms/:id/migration/tune', { schema: { params, body: tuneRequestSchema } }, async (req, reply) => {
    await svc.live.tuneMigration(req.params.id, req.body, quick(req, reply));
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/migration/complete-mirrors', { schema: { params } }, async (req, reply) => {
    await svc.live.completeMirrors(req.params.id, held(req, reply));
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/migration/cancel', { schema: { params, response: { 200: agentVmReportSchema } } }, (req, reply) => svc.live.cancelMigration(req.params.id, held(req, reply)));
  r.post('/agent/v1/vms/:id/migration/resume-source', { schema: { params, response: { 200: agentVmReportSchema } } }, (req, reply) => svc.live.resumeSource(req.params.id, held(req, reply)));

  // Cold migration: the source offers the VM's files, the destination pulls them (GET /agent/v1/transfers/…).
  r.post('/agent/v1/vms/:id/transfer', { schema: { params, body: transferOfferRequestSchema, response: { 200: transferOfferSchema } } }, (req, reply) =>
    svc.cold.offerTransfer(req.params.id, req.body, held(req, reply)),
  );
  r.delete('/agent/v1/vms/:id/transfer', { schema: { params } }, async (req, reply) => {
    await svc.cold.revokeTransfer(req.params.id);
    return reply.status(204).send();
  });
  r.post('/agent/v1/vms/:id/receive', { schema: { params, body: receiveRequestSchema, response: { 202: receiveStatusSchema } } }, async (req, reply) =>
    reply.status(202).send(await svc.cold.receive(req.params.id, req.body, held(req, reply))),
  );
  // `?waitMs=`: the destination answers when its copy ends, or after that long (the controller's long poll).
  r.get('/agent/v1/vms/:id/receive', { schema: { params, querystring: receiveStatusQuery, response: { 200: receiveStatusSchema } } }, (req, reply) =>
    svc.cold.receiveStatus(req.params.id, quick(req, reply), req.query.waitMs),
  );
  r.post('/agent/v1/vms/:id/receive/commit', { schema: { params } }, async (req, reply) => {
    await svc.cold.commitReceive(req.params.id, held(req, reply));
    return reply.status(204).send();
  });
  // Disk capture for the controller's save-as, clone and export; it pulls the file like a cold migration's. The capture stops if the caller goes away.
  r.post('/agent/v1/vms/:id/capture', { schema: { params, body: captureRequestSchema, response: { 200: transferOfferSchema } } }, (req, reply) =>
    svc.captures.capture(req.params.id, req.body, held(req, reply)),
  );
  r.delete('/agent/v1/vms/:id/capture', { schema: { params } }, async (req, reply) => {
    await svc.captures.deleteCapture(req.params.id, held(req, reply));
    return reply.status(204).send();
  });
  registerTransferRoutes(app, svc.offers);

  // `?bytes=`: how much of the log's tail (a migration carries it whole: up to its cap).
  r.get('/agent/v1/vms/:id/console', { schema: { params, querystring: consoleTailQuerySchema } }, async (req, reply) =>
    reply.type('text/plain; charset=utf-8').send(await svc.lifecycle.consoleLog(req.params.id, quick(req, reply), req.query.bytes)),
  );
  // A migration's carry of the source's log. JSON escapes a guest's control characters (up to 6 bytes each): room for a whole capped log.
  r.put('/agent/v1/vms/:id/console/earlier', { bodyLimit: 8 * CONSOLE_LOG_MAX_BYTES, schema: { params, body: earlierConsoleSchema } }, async (req, reply) => {
    await svc.lifecycle.setEarlierConsole(req.params.id, req.body.log);
    return reply.status(204).send();
  });
  // The interactive console: the WebSocket's bytes to and from the VM's serial console socket.
  void app.register(fastifyWebsocket);
  void app.register(async (ws) => {
    ws.withTypeProvider<ZodTypeProvider>().get('/agent/v1/vms/:id/console/attach', { schema: { params }, websocket: true }, (socket, req) =>
      spliceToUnixSocket(socket, () => svc.lifecycle.consoleSocket(req.params.id)),
    );
  });
  return app;
}
