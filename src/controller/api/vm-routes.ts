import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createVmBody, idParams, listVmsQuery, vmActionParams, vmDetailView, vmView } from './api-schemas.js';
import { findVisibleVm, userOf, type ApiContext } from './api-context.js';
import { agentVmId } from '../vm-orchestrator.js';
import { planCreate } from '../../core/vm-actions.js';
import { ConflictError, ExhaustedError } from '../../store/store-errors.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import type { JsonObject } from '../../store/store-context.js';
import { findHost } from './host-routes.js';

export function registerVmRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['vms'];
  const findVm = (req: FastifyRequest, ref: string): Promise<Vm> => findVisibleVm(ctx, req, ref);

  r.get('/api/v1/vms', { schema: { tags, querystring: listVmsQuery, response: { 200: z.array(vmView) } } }, async (req) => {
    const u = userOf(req);
    const hostId = req.query.host === undefined ? undefined : (await findHost(ctx.store, req.query.host)).id;
    const vms = await ctx.store.vms.list({ ...(u.role === 'admin' ? {} : { ownerId: u.id }), ...(req.query.state ? { state: req.query.state } : {}), ...(hostId ? { hostId } : {}) });
    return Promise.all(vms.map((v) => ctx.views.vm(v)));
  });
  r.get('/api/v1/vms/:id', { schema: { tags, params: idParams, response: { 200: vmDetailView } } }, async (req) => ctx.views.vmDetail(await findVm(req, req.params.id)));

  r.post('/api/v1/vms', { schema: { tags, body: createVmBody, response: { 201: vmView } } }, async (req, reply) => {
    const u = userOf(req);
    const admitted = await ctx.catalog.admitVm(req.body, u);
    // VMs are found by their owner's name for them (findVm): a second live VM of that name would make it ambiguous.
    const mine = await ctx.store.vms.list({ ownerId: u.id });
    if (mine.some((v) => v.name === admitted.name && v.state !== 'terminated')) throw new ConflictError('vm', 'name', admitted.name, 'is already used by another of your VMs');
    const plan = planCreate();
    // The VM row and its leases are written in one transaction: an exhausted network leaves neither behind.
    const vm = await ctx.store.vms
      .create(
        { name: admitted.name, ownerId: u.id, templateId: admitted.templateId, spec: {}, operation: { action: plan.action, from: plan.from } },
        { networks: admitted.leaseNetworks, spec: (leases) => admitted.spec(leases) as unknown as JsonObject },
      )
      .catch(async (err: unknown) => {
        if (err instanceof ExhaustedError && err.resource === 'network') {
          const net = await ctx.store.networks.get(err.id).catch(() => undefined);
          throw new ExhaustedError('network', net?.name ?? err.id, `free address (all of ${net?.cidr ?? 'its range'} are leased or held)`);
        }
        throw err;
      });
    ctx.orchestrator.kick(vm.id);
    return reply.status(201).send(await ctx.views.vm(vm));
  });

  r.post('/api/v1/vms/:id/actions/:action', { schema: { tags, params: vmActionParams, response: { 200: vmView } } }, async (req) => {
    const vm = await findVm(req, req.params.id);
    return ctx.views.vm(await ctx.orchestrator.act(vm.id, req.params.action));
  });

  r.get('/api/v1/vms/:id/console', { schema: { tags, params: idParams } }, async (req, reply) => {
    const vm = await findVm(req, req.params.id);
    if (vm.hostId === null) return reply.type('text/plain; charset=utf-8').send('');
    const host = await ctx.store.hosts.get(vm.hostId);
    return reply.type('text/plain; charset=utf-8').send(await ctx.agentFor(host).consoleLog(agentVmId(vm.id)));
  });
}
