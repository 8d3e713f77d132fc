import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import {
  createScalingGroupBody, scalingGroupView, scalingHistoryView, scalingMetricBody, setScalingGroupBody, type ScalingGroupView,
} from '../../contract/scaling-group-schemas.js';
import type { ScalingPolicy } from '../../core/autoscale/scaling-policy.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import type { ScalingGroupRecord } from '../../store/repositories/scaling-groups-repository.js';
import { NotFoundError } from '../../store/store-errors.js';
import type { AutoscaleService } from '../autoscale-service.js';
import { ensureVisible, userOf, type ApiContext } from './api-context.js';

async function findGroup(svc: AutoscaleService, req: FastifyRequest, ref: string): Promise<ScalingGroupRecord> {
  const u = userOf(req);
  const byId = await findOrUndefined(svc.repo.get(ref));
  if (byId) return ensureVisible(req, 'scaling group', byId);
  // By name: the caller's own group of that name.
  const named = (await svc.repo.list(u.id)).find((g) => g.name === ref);
  if (!named) throw new NotFoundError('scaling group', ref);
  return named;
}

async function view(ctx: ApiContext, svc: AutoscaleService, g: ScalingGroupRecord): Promise<ScalingGroupView> {
  const owner = await findOrUndefined(ctx.store.users.get(g.ownerId));
  const template = await findOrUndefined(ctx.store.templates.get(g.templateId));
  const members = await Promise.all((await svc.repo.members(g.id)).map(async (m) => {
    const vm = m.vmId === null ? undefined : await findOrUndefined(ctx.store.vms.get(m.vmId));
    return { vm: m.vmName, vmId: m.vmId, state: m.state, vmState: vm?.state ?? null, cpu: svc.memberCpu(vm) ?? null, createdAt: m.createdAt };
  }));
  return {
    id: g.id, name: g.name, owner: owner?.name ?? g.ownerId, template: template?.name ?? g.templateId, min: g.min, max: g.max, desired: g.desired,
    policy: g.policy as unknown as ScalingPolicy, metric: svc.lastMetric(g.id) ?? null, customMetric: g.customMetric, customMetricAt: g.customMetricAt,
    lastScaleAt: g.lastScaleAt, members, createdAt: g.createdAt,
  };
}

/**
 * Autoscaling groups (issue 16 item 6): a template, min/max/desired and a
 * policy on the members' CPU or a pushed metric. The owner (and admins) see
 * and change a group; its member VMs are the owner's, counted by their quota.
 */
export function registerScalingGroupRoutes(app: FastifyInstance, ctx: ApiContext, svc: AutoscaleService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['scaling-groups'];
  r.post('/api/v1/scaling-groups', {
    schema: {
      tags, body: createScalingGroupBody, response: { 201: scalingGroupView },
      summary: 'Create a group; the controller makes its first members at once',
      description: '400 names each bad field (min ≤ desired ≤ max ≤ 100; scaleInBelow below scaleOutAbove; a template the caller may use) and nothing is written; 409 CONFLICT when the name is taken.',
    },
  }, async (req, reply) => {
    const u = userOf(req);
    const b = req.body;
    const launch = { ...(b.userData !== undefined ? { userData: b.userData } : {}), ...(b.vcpus !== undefined ? { vcpus: b.vcpus } : {}), ...(b.memoryMiB !== undefined ? { memoryMiB: b.memoryMiB } : {}) };
    const g = await svc.create({ name: b.name, template: b.template, min: b.min, max: b.max, desired: b.desired, policy: b.policy, launch }, u);
    // The first members now, not a round later (errors are in the group's history).
    await svc.evaluate(g).catch((err: unknown) => ctx.logger.warn({ groupId: g.id, err }, 'first evaluation of a scaling group failed'));
    return reply.status(201).send(await view(ctx, svc, await svc.repo.get(g.id)));
  });
  r.get('/api/v1/scaling-groups', { schema: { tags, summary: 'Your groups (an admin\'s: everyone\'s)', response: { 200: scalingGroupView.array() } } }, async (req) => {
    const u = userOf(req);
    const groups = await svc.repo.list(u.role === 'admin' ? undefined : u.id);
    return Promise.all(groups.map((g) => view(ctx, svc, g)));
  });
  r.get('/api/v1/scaling-groups/:id', { schema: { tags, params: idParams, summary: 'A group, its members and its metric', response: { 200: scalingGroupView } } }, async (req) =>
    view(ctx, svc, await findGroup(svc, req, req.params.id)));
  r.patch('/api/v1/scaling-groups/:id', {
    schema: { tags, params: idParams, body: setScalingGroupBody, response: { 200: scalingGroupView }, summary: 'Change bounds, desired size or policy (absent fields keep their value); 400 names a bad field, nothing changed' },
  }, async (req) => {
    const g = await findGroup(svc, req, req.params.id);
    const updated = await svc.set(g, req.body);
    return view(ctx, svc, updated);
  });
  r.delete('/api/v1/scaling-groups/:id', { schema: { tags, params: idParams, summary: 'Delete the group and terminate its member VMs' } }, async (req, reply) => {
    await svc.delete(await findGroup(svc, req, req.params.id));
    return reply.status(204).send();
  });
  r.post('/api/v1/scaling-groups/:id/metric', {
    schema: { tags, params: idParams, body: scalingMetricBody, response: { 200: scalingGroupView }, summary: 'Push the application\'s value for a group whose policy metric is `custom` (used for 5 minutes)' },
  }, async (req) => {
    const g = await findGroup(svc, req, req.params.id);
    return view(ctx, svc, await svc.repo.pushMetric(g.id, req.body.value));
  });
  r.get('/api/v1/scaling-groups/:id/history', { schema: { tags, params: idParams, summary: 'What the group decided and did, newest first', response: { 200: scalingHistoryView.array() } } }, async (req) => {
    const g = await findGroup(svc, req, req.params.id);
    return svc.repo.history(g.id, 200);
  });
}
