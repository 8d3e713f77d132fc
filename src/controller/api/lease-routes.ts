import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { createLeaseBody, leaseDetailView as leaseDetailSchema, leaseView } from '../../contract/lease-schemas.js';
import { ValidationError } from '../../errors/validation-error.js';
import type { CapacityLease } from '../../store/repositories/capacity-leases-repository.js';
import { NotFoundError } from '../../store/store-errors.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import type { LeaseService } from '../leases/lease-service.js';
import { leaseDetailView, leaseViews } from '../leases/lease-views.js';
import { checkMemoryMinimum, templateImageIds } from '../check-memory-minimum.js';
import { accessOf, userOf, type ApiContext } from './api-context.js';
import { byIdPrefix } from './match-reference.js';

/**
 * `/api/v1/leases`: capacity leases (advance reservation, best effort,
 * immediate) admitted by the controller's lease service. A user sees and
 * cancels their own (group admins their members'), as with VMs; a refusal
 * writes nothing.
 */
export function registerLeaseRoutes(app: FastifyInstance, ctx: ApiContext, leases: LeaseService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['leases'];
  const find = async (req: FastifyRequest, ref: string): Promise<CapacityLease> => {
    const access = accessOf(ctx, req);
    const byId = await findOrUndefined(ctx.store.capacityLeases.get(ref));
    if (byId) return access.check('read', 'lease', byId);
    const found = byIdPrefix('lease', ref, await access.filter('read', 'lease', await ctx.store.capacityLeases.list()));
    if (!found) throw new NotFoundError('lease', ref);
    return found;
  };

  r.get('/api/v1/leases', { schema: { tags, response: { 200: z.array(leaseView) }, summary: 'The capacity leases you may see, oldest first' } }, async (req) =>
    leaseViews(ctx.store, await accessOf(ctx, req).filter('read', 'lease', await ctx.store.capacityLeases.list())));

  r.get('/api/v1/leases/:id', { schema: { tags, params: idParams, response: { 200: leaseDetailSchema }, summary: 'A lease with its plan, VMs and timeline' } }, async (req) =>
    leaseDetailView(ctx.store, await find(req, req.params.id)));

  r.post('/api/v1/leases', {
    schema: {
      tags, body: createLeaseBody, response: { 201: leaseView },
      summary: 'Ask for capacity: an advance reservation (ar, at `start`), best effort (be, queued, preemptible) or immediate',
      description:
        'Admitted at once or refused at once. Bad input is 400 naming the field (a start in the past or too far ahead, a duration beyond the controller\'s limit, ' +
        'an unknown template, memoryMiB below the minimum of the template\'s images, more VMs than all the hosts hold); a lease the policies or the capacity cannot take is 409 LEASE_REJECTED with the reason — ' +
        'an AR is admitted only when its whole window is guaranteed, possibly by planning to suspend best-effort leases before it (one that cannot be suspended is ' +
        'requeued to start over, or cancelled, by the policy unsuspendable); with the admission policy quota-aware, a lease past its owner\'s or a group\'s vms, ' +
        'vcpus, memoryMiB or leases quota is refused naming it. Nothing is written on a refusal.',
    },
  }, async (req, reply) => {
    const u = userOf(req);
    const b = req.body;
    const access = accessOf(ctx, req);
    await access.checkCreate('lease', 'a lease');
    const t = await ctx.catalog.findTemplate(b.template, u).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new ValidationError('lease', [{ field: 'template', message: `no template ${b.template}` }]);
      throw err;
    });
    await access.check('use', 'template', t, `a lease of template ${t.name}`);
    // Refused now, not when the lease starts and its VMs are created below their images' minimum.
    await checkMemoryMinimum(ctx.store, { memoryMiB: b.memoryMiB ?? t.memoryMib, imageIds: templateImageIds(t), what: 'lease' });
    const lease = await leases.submit({
      ownerId: u.id, kind: b.type, ...(b.start !== undefined ? { startS: Date.parse(b.start) / 1000 } : {}), durationS: b.durationS,
      count: b.count ?? 1, templateId: t.id, vcpus: b.vcpus ?? t.vcpus, memoryMib: b.memoryMiB ?? t.memoryMib, preemptible: b.preemptible ?? b.type === 'be',
    });
    const [view] = await leaseViews(ctx.store, [lease]);
    return reply.status(201).send(view!);
  });

  r.post('/api/v1/leases/:id/cancel', {
    schema: { tags, params: idParams, response: { 200: leaseView }, summary: 'Cancel a lease: its bookings are freed and its VMs terminated (409 LEASE_STATE while it is suspending or resuming, or once it ended)' },
  }, async (req) => {
    const l = await find(req, req.params.id);
    await accessOf(ctx, req).check('operate', 'lease', l, `cancel of lease ${l.id}`);
    const [view] = await leaseViews(ctx.store, [await leases.cancel(l.id)]);
    return view!;
  });
}
