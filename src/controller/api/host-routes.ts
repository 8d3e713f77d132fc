import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { hostView, registerHostBody, updateHostBody } from '../../contract/host-schemas.js';
import { requireAdmin, userOf, type ApiContext } from './api-context.js';
import { ConflictError, NotFoundError } from '../../store/store-errors.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { Store } from '../../store/open-store.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { byIdPrefix } from './match-reference.js';

/** A host by id, name or the start of its id. */
export async function findHost(store: Store, ref: string): Promise<Host> {
  const byId = await findOrUndefined(store.hosts.get(ref));
  const host = byId ?? (await store.hosts.findByName(ref)) ?? byIdPrefix('host', ref, await store.hosts.list());
  if (!host) throw new NotFoundError('host', ref);
  return host;
}

export function registerHostRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['hosts'];
  r.get('/api/v1/hosts', { schema: { tags, response: { 200: z.array(hostView) } } }, async (req) =>
    ctx.views.hosts(await ctx.store.hosts.list(), userOf(req)),
  );
  r.get('/api/v1/hosts/:id', { schema: { tags, params: idParams, response: { 200: hostView } } }, async (req) =>
    ctx.views.host(await findHost(ctx.store, req.params.id), userOf(req)),
  );
  r.post('/api/v1/hosts', { schema: { tags, body: registerHostBody, response: { 201: hostView } } }, async (req, reply) => {
    requireAdmin(req, 'registering a host');
    if (await ctx.store.hosts.findByName(req.body.name)) throw new ConflictError('host', 'name', req.body.name, 'is already registered');
    // Capacity is unknown until the agent's first heartbeat; the host stays `init` (not schedulable) until then.
    const h = await ctx.store.hosts.register({ ...req.body, totalCpus: 0, totalMemoryMib: 0, totalDiskMib: 0 });
    return reply.status(201).send(await ctx.views.host(h, userOf(req)));
  });
  r.patch('/api/v1/hosts/:id', { schema: { tags, params: idParams, body: updateHostBody, response: { 200: hostView } } }, async (req) => {
    requireAdmin(req, 'updating a host');
    const h = await findHost(ctx.store, req.params.id);
    const next = await ctx.store.hosts.setCpuOvercommit(h.id, req.body.cpuOvercommit);
    // More room may let pending VMs in; less never evicts VMs already placed.
    await ctx.orchestrator.schedulePending();
    return ctx.views.host(next, userOf(req));
  });
  r.delete('/api/v1/hosts/:id', {
    schema: {
      tags, params: idParams, response: { 200: hostView },
      summary: 'Forget a host (admin); the answer is the host as it was',
      description: '409 CONFLICT while a VM that is not terminated or a volume is on it, or a migration record names it (disable it instead). Its agent is not contacted.',
    },
  }, async (req) => {
    requireAdmin(req, 'deleting a host');
    const h = await findHost(ctx.store, req.params.id);
    const view = await ctx.views.host(h, userOf(req));
    await ctx.store.hosts.delete(h.id);
    return view;
  });
  for (const [verb, state] of [['enable', 'enabled'], ['disable', 'disabled']] as const) {
    r.post(`/api/v1/hosts/:id/${verb}`, { schema: { tags, params: idParams, response: { 200: hostView } } }, async (req) => {
      const admin = requireAdmin(req, `${verb} a host`);
      let h = await findHost(ctx.store, req.params.id);
      // Enabling a host in maintenance returns it to service (what is still queued for its evacuation is cancelled).
      if (verb === 'enable' && h.maintenance !== null) h = await ctx.maintenance.end(h);
      const next = await ctx.store.hosts.setState(h.id, state, `${verb}d by ${req.user?.name ?? 'admin'}`);
      if (state === 'enabled') await ctx.orchestrator.schedulePending();
      return ctx.views.host(next, admin);
    });
  }
}
