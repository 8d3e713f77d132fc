import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { hostMetricsView, hostTopView, metricsQuery, vmMetricsView, vmTopView } from '../../contract/metrics-schemas.js';
import { accessOf, findVisibleVm, requireAdmin, type ApiContext } from './api-context.js';
import { findHost } from './host-routes.js';
import type { MetricsHistory } from '../metrics-history.js';
import type { ControllerMetrics } from '../controller-metrics.js';

/** The controller's metrics parts the routes read. */
export interface MetricsParts {
  readonly history: MetricsHistory;
  /** How often the collector pulls: the spacing of the samples. */
  readonly intervalMs: number;
  readonly prometheus: ControllerMetrics;
}

const sinceMs = (since: string | undefined): number | undefined => (since === undefined ? undefined : Date.parse(since));

/**
 * Metrics from the controller's recent history: a VM's for whoever may read
 * the VM (others get 404, as for the VM itself), a host's for admins; the
 * latest sample of each for `vm top` / `host top`; and the Prometheus text
 * at /metrics (outside /api/, as scrapers expect; it names hosts, never VMs).
 */
export function registerMetricsRoutes(app: FastifyInstance, ctx: ApiContext, m: MetricsParts): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['metrics'];
  r.get('/api/v1/vms/:id/metrics', {
    schema: { tags, params: idParams, querystring: metricsQuery, response: { 200: vmMetricsView }, summary: 'A VM\'s recent samples (CPU, memory, disk and network I/O)', description: `The controller keeps the last ${m.history.samples} samples of each VM, one per collection interval.` },
  }, async (req) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    return { vmId: vm.id, intervalMs: m.intervalMs, ...m.history.vm(vm.id, sinceMs(req.query.since)) };
  });
  r.get('/api/v1/hosts/:id/metrics', {
    schema: { tags, params: idParams, querystring: metricsQuery, response: { 200: hostMetricsView }, summary: 'A host\'s recent samples: its VMs\' totals and the machine (admin)' },
  }, async (req) => {
    requireAdmin(req, 'reading host metrics');
    const h = await findHost(ctx.store, req.params.id);
    return { hostId: h.id, name: h.name, intervalMs: m.intervalMs, samples: m.history.host(h.id, sinceMs(req.query.since)) };
  });
  r.get('/api/v1/metrics/vms', { schema: { tags, response: { 200: vmTopView }, summary: 'The latest sample of every live VM the caller may see (`nubo vm top`)' } }, async (req) => {
    const vms = await accessOf(ctx, req).filter('read', 'vm', await ctx.store.vms.list({}));
    return vms.filter((v) => v.state !== 'terminated').map((v) => ({ vmId: v.id, name: v.name, hostId: v.hostId, sample: m.history.latestVm(v.id) ?? null }));
  });
  r.get('/api/v1/metrics/hosts', { schema: { tags, response: { 200: hostTopView }, summary: 'The latest sample of every host (admin; `nubo host top`)' } }, async (req) => {
    requireAdmin(req, 'reading host metrics');
    return (await ctx.store.hosts.list()).map((h) => ({ hostId: h.id, name: h.name, state: h.state, sample: m.history.latestHost(h.id) ?? null }));
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const text = await m.prometheus.text();
    return reply.header('content-type', m.prometheus.contentType).send(text);
  });
}
