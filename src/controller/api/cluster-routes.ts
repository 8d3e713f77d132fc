import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { addClusterHostBody, addClusterHostView, clusterView, createClusterBody, zoneView, type ClusterView } from '../../contract/cluster-schemas.js';
import type { ClusterDetail } from '../../store/repositories/clusters-repository.js';
import { requireAdmin, userOf, type ApiContext } from './api-context.js';
import { findHost } from './host-routes.js';
import { hostViewOf } from '../host-view-of.js';
import type { ControllerVmSpec } from '../controller-vm-spec.js';
import { compileRequirements } from '../../core/placement/requirements-expression.js';

function clusterViewOf(c: ClusterDetail): ClusterView {
  return { id: c.id, name: c.name, description: c.description, createdAt: c.createdAt, hosts: [...c.hosts], networks: [...c.networks], datastores: [...c.datastores] };
}

/**
 * Clusters (issue 18): admins make them, move hosts into them and delete
 * empty ones; everyone may list them as availability zones (`/zones`: names
 * and how many hosts take VMs, nothing of the hosts themselves).
 */
export function registerClusterRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['clusters'];
  r.get('/api/v1/clusters', { schema: { tags, summary: 'Clusters with their hosts and bound networks and datastores (admin)', response: { 200: z.array(clusterView) } } }, async (req) => {
    requireAdmin(req, 'listing clusters');
    return Promise.all((await ctx.store.clusters.list()).map(async (c) => clusterViewOf(await ctx.store.clusters.detail(c.id))));
  });
  r.get('/api/v1/clusters/:id', { schema: { tags, params: idParams, response: { 200: clusterView } } }, async (req) => {
    requireAdmin(req, 'reading a cluster');
    return clusterViewOf(await ctx.store.clusters.detail(req.params.id));
  });
  r.post('/api/v1/clusters', {
    schema: { tags, body: createClusterBody, response: { 201: clusterView }, description: '409 CONFLICT when the name is taken.' },
  }, async (req, reply) => {
    requireAdmin(req, 'creating a cluster');
    const c = await ctx.store.clusters.create({ name: req.body.name, ...(req.body.description !== undefined ? { description: req.body.description } : {}) });
    return reply.status(201).send(clusterViewOf(await ctx.store.clusters.detail(c.id)));
  });
  r.post('/api/v1/clusters/:id/hosts', {
    schema: {
      tags, params: idParams, body: addClusterHostBody, response: { 200: addClusterHostView },
      summary: 'Move a host into the cluster (admin)',
      description: 'One transaction. 404 for an unknown cluster or host; 409 CONFLICT while a VM on the host asks for another cluster or uses a network or datastore bound to another (the message names each). Its other VMs move with it.',
    },
  }, async (req) => {
    const admin = requireAdmin(req, 'moving a host to a cluster');
    const c = await ctx.store.clusters.get(req.params.id);
    const h = await findHost(ctx.store, req.body.host);
    await ctx.failpoints?.hit('cluster-add-host');
    // A VM's requirements hold where its host goes (`cluster == "x"` among them), judged in the moving transaction.
    const moved = await ctx.store.clusters.addHost(c.id, h.id, (vm, after) => {
      const requirements = (vm.spec as unknown as Partial<ControllerVmSpec>).demand?.requirements;
      if (requirements === undefined) return undefined;
      return compileRequirements(requirements)(hostViewOf(after), { cpuOvercommit: ctx.placementPolicy.cpuOvercommit }) ? undefined : `its requirements (${requirements}) would not hold`;
    });
    await ctx.failpoints?.hit('cluster-add-host.done');
    // VMs waiting for a host in this cluster may fit now.
    await ctx.orchestrator.schedulePending();
    return { cluster: c.name, host: await ctx.views.host(moved, admin) };
  });
  r.delete('/api/v1/clusters/:id', {
    schema: {
      tags, params: idParams, response: { 200: clusterView },
      summary: 'Delete an empty cluster (admin); the answer is the cluster as it was',
      description: '409 CONFLICT for `default`, and while hosts are in it or networks, datastores or templates name it (the message lists them).',
    },
  }, async (req) => {
    requireAdmin(req, 'deleting a cluster');
    const before = await ctx.store.clusters.detail(req.params.id);
    await ctx.store.clusters.delete(before.id);
    return clusterViewOf(before);
  });
  r.get('/api/v1/zones', {
    schema: { tags, summary: 'Availability zones: one per cluster, with how many of its hosts take VMs (any user)', response: { 200: z.array(zoneView) } },
  }, async (req) => {
    userOf(req);
    const hosts = await ctx.store.hosts.list({ state: 'enabled' });
    return (await ctx.store.clusters.list()).map((c) => ({ name: c.name, hosts: hosts.filter((h) => h.cluster === c.name && h.maintenance === null).length }));
  });
}
