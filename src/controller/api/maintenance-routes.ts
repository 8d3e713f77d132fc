import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { hostMaintenanceBody, hostMaintenanceView, type HostMaintenanceView } from '../../contract/host-schemas.js';
import type { Store } from '../../store/open-store.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import { requireAdmin, type ApiContext } from './api-context.js';
import { findHost } from './host-routes.js';
import { evacuationBlocked } from '../host-maintenance.js';

/** A host's maintenance as the API shows it: options, and each VM's fate in the evacuation. */
export async function maintenanceView(store: Store, h: Host): Promise<HostMaintenanceView> {
  const m = h.maintenance;
  const onHost = (await store.vms.list({ hostId: h.id })).filter((v) => v.state !== 'terminated').length;
  return {
    host: h.name, hostId: h.id, state: m === null ? 'none' : m.state === 'evacuating' && evacuationBlocked(m.vms) ? 'blocked' : m.state, poweredOff: m?.poweredOff ?? null, since: m?.since ?? null, by: m?.by ?? null, vmsOnHost: onHost,
    vms: Object.entries(m?.vms ?? {}).map(([vmId, e]) => ({
      vmId, name: e.name, action: e.action, status: e.status, migrationId: e.migrationId ?? null, to: e.to ?? null, reason: e.reason ?? null,
    })),
  };
}

/** Host maintenance (admins): `POST` begins it (the evacuation runs in the background), `GET` shows its progress; `enable` ends it. */
export function registerMaintenanceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['hosts'];
  r.post('/api/v1/hosts/:id/maintenance', {
    schema: {
      tags, params: idParams, body: hostMaintenanceBody, response: { 202: hostMaintenanceView },
      summary: 'Put a host in maintenance (admin): it takes no new VMs and its VMs are migrated away',
      description: 'Running VMs migrate live through the migration queue (shortest predicted first, within the per-host limits); powered-off and suspended ones ' +
        'are cold-migrated (`poweredOff: move`, the default) or left on the host (`leave`). A VM that cannot move is reported with the reason (`status: blocked`) ' +
        'and keeps the host from `maintenance`: the state reads `blocked` once nothing else is on its way, and blocked VMs are checked again every second (room may appear; ' +
        'move, power off or terminate them, or enable the host to give up). The host is `evacuating` until every VM moved (or was left), then `maintenance`. 409 CONFLICT when the host is already in maintenance. `POST /hosts/{id}/enable` ends it.',
    },
  }, async (req, reply) => {
    const admin = requireAdmin(req, 'putting a host in maintenance');
    const h = await findHost(ctx.store, req.params.id);
    const next = await ctx.maintenance.begin(h, { poweredOff: req.body.poweredOff ?? 'move', by: admin.name });
    return reply.status(202).send(await maintenanceView(ctx.store, next));
  });
  r.get('/api/v1/hosts/:id/maintenance', { schema: { tags, params: idParams, response: { 200: hostMaintenanceView } } }, async (req) => {
    requireAdmin(req, 'reading a host\'s maintenance');
    return maintenanceView(ctx.store, await findHost(ctx.store, req.params.id));
  });
}
