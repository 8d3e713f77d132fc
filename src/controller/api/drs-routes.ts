import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { drsAppliedView, drsConfigBody, drsConfigView, drsPlanBody, drsPlanView, drsWakeParams, type DrsAppliedView, type DrsConfigView, type DrsPlanView } from '../../contract/drs-schemas.js';
import { compileDrsPolicy } from '../../core/drs/drs-policy.js';
import type { DrsPlan } from '../../core/drs/drs-plan.js';
import type { DrsConfig, DrsPlanRecord } from '../../store/repositories/drs-repository.js';
import type { JsonObject } from '../../store/store-context.js';
import type { DrsService, NamedDrsPlan } from '../drs-service.js';
import { requireAdmin, type ApiContext } from './api-context.js';
import { findHost } from './host-routes.js';

function planView(p: NamedDrsPlan): DrsPlanView {
  const name = (id: string): string => p.hostNames[id] ?? id;
  return {
    mode: p.mode, policy: p.policy, imbalanceBefore: p.imbalanceBefore, imbalanceAfter: p.imbalanceAfter, summary: p.summary,
    moves: p.moves.map((m) => ({ vm: m.vmName, vmId: m.vmId, from: name(m.fromHostId), to: name(m.toHostId), reason: m.reason, imbalanceAfter: m.imbalanceAfter })),
    standby: p.standby.map((s) => ({ host: s.hostName, hostId: s.hostId, reason: s.reason })),
    held: p.held.map((h) => ({ vm: h.vmName, vmId: h.vmId, reason: h.reason })),
  };
}

function configView(c: DrsConfig): DrsConfigView {
  return { enabled: c.enabled, intervalS: c.intervalS, policy: compileDrsPolicy(c.policy), updatedAt: c.updatedAt };
}

async function appliedView(ctx: ApiContext, r: DrsPlanRecord): Promise<DrsAppliedView> {
  const plan = r.plan as unknown as DrsPlan & { hostNames?: Record<string, string> };
  const names = new Map((await ctx.store.hosts.list()).map((h) => [h.id, h.name]));
  const name = (id: string): string => names.get(id) ?? plan.hostNames?.[id] ?? id;
  return {
    id: r.id, trigger: r.trigger, mode: r.mode, state: r.state, message: r.message, createdAt: r.createdAt, finishedAt: r.finishedAt,
    summary: plan.summary, imbalanceBefore: plan.imbalanceBefore, imbalanceAfter: plan.imbalanceAfter,
    moves: r.moves.map((m) => {
      const planned = plan.moves[m.seq];
      return {
        seq: m.seq, vm: planned?.vmName ?? m.vmId, vmId: m.vmId, from: name(m.fromHostId), to: name(m.toHostId), reason: planned?.reason ?? '',
        imbalanceAfter: planned?.imbalanceAfter ?? 0, state: m.state, migrationId: m.migrationId, message: m.message,
      };
    }),
    standby: plan.standby.map((s) => ({ host: s.hostName, hostId: s.hostId, reason: s.reason })),
  };
}

/**
 * The rebalancer (issue 16 item 4), admins only: `plan` shows what it would
 * do and why, `apply` journals a plan and runs its moves as live migrations
 * one at a time, `config` switches the periodic rebalancer (off by default).
 */
export function registerDrsRoutes(app: FastifyInstance, ctx: ApiContext, drs: DrsService): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['drs'];
  r.get('/api/v1/drs/config', { schema: { tags, summary: 'The periodic rebalancer\'s switch, interval and policy', response: { 200: drsConfigView } } }, async (req) => {
    requireAdmin(req, 'read the DRS configuration');
    return configView(await drs.config());
  });
  r.put('/api/v1/drs/config', {
    schema: {
      tags, body: drsConfigBody, response: { 200: drsConfigView },
      summary: 'Enable or disable the periodic rebalancer, set its interval and policy (fields absent keep their value)',
      description: 'Policy fields are merged over the stored ones; 400 names each bad field and changes nothing.',
    },
  }, async (req) => {
    requireAdmin(req, 'configure DRS');
    return configView(await drs.configure({ enabled: req.body.enabled, intervalS: req.body.intervalS, policy: req.body.policy as JsonObject | undefined }));
  });
  r.post('/api/v1/drs/plan', {
    schema: { tags, body: drsPlanBody, response: { 200: drsPlanView }, summary: 'The plan for the cluster now, each move with its reason; nothing is changed' },
  }, async (req) => {
    requireAdmin(req, 'plan DRS moves');
    return planView(await drs.plan((req.body.policy ?? {}) as JsonObject));
  });
  r.post('/api/v1/drs/apply', {
    schema: {
      tags, body: drsPlanBody, response: { 202: drsAppliedView },
      summary: 'Plan, journal the plan, and run its moves as live migrations one at a time (in the background)',
      description: '409 DRS_BUSY while another plan is being applied. Follow it with GET /api/v1/drs/plans/:id.',
    },
  }, async (req, reply) => {
    requireAdmin(req, 'apply DRS moves');
    const rec = await drs.apply('manual', (req.body.policy ?? {}) as JsonObject);
    return reply.status(202).send(await appliedView(ctx, rec));
  });
  r.get('/api/v1/drs/plans', { schema: { tags, summary: 'Applied plans, newest first', response: { 200: drsAppliedView.array() } } }, async (req) => {
    requireAdmin(req, 'read DRS plans');
    return Promise.all((await drs.repo.plans(50)).map((p) => appliedView(ctx, p)));
  });
  r.get('/api/v1/drs/plans/:id', { schema: { tags, params: idParams, summary: 'One applied plan and the state of each move', response: { 200: drsAppliedView } } }, async (req) => {
    requireAdmin(req, 'read DRS plans');
    return appliedView(ctx, await drs.repo.plan(req.params.id));
  });
  r.post('/api/v1/drs/wake/:host', {
    schema: { tags, params: drsWakeParams, summary: 'Takes a host off standby (placement wakes one by itself when nothing else fits)' },
  }, async (req, reply) => {
    requireAdmin(req, 'wake a host');
    const h = await findHost(ctx.store, req.params.host);
    await drs.repo.setStandby(h.id, null, 'woken by an admin');
    return reply.status(204).send();
  });
}
