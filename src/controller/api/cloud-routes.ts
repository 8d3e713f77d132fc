import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { cloudDetailView, cloudView, createCloudBody, type CloudView } from '../../contract/cloud-schemas.js';
import { z } from 'zod';
import { ValidationError } from '../../errors/validation-error.js';
import type { Store } from '../../store/open-store.js';
import type { Cloud } from '../../store/repositories/clouds-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { ConflictError, NotFoundError } from '../../store/store-errors.js';
import type { CloudBursting } from '../cloud-bursting.js';
import { requireAdmin, type ApiContext } from './api-context.js';
import { byIdPrefix } from './match-reference.js';

async function findCloud(store: Store, ref: string): Promise<Cloud> {
  const byId = await findOrUndefined(store.clouds.get(ref));
  if (byId) return byId;
  const all = await store.clouds.list();
  const found = all.find((c) => c.name === ref) ?? byIdPrefix('cloud', ref, all);
  if (!found) throw new NotFoundError('cloud', ref);
  return found;
}

function viewOf(c: Cloud, vms: number, clouds: CloudBursting): CloudView {
  return {
    id: c.id, name: c.name, kind: c.kind, endpoint: c.endpoint, region: c.region, accessKeyId: c.accessKeyId, instanceTypes: { ...c.instanceTypes }, images: { ...c.images },
    capacity: c.capacityVms, pricePerHour: c.pricePerHour, burst: c.burst, s3Endpoint: c.imageUpload?.s3Endpoint ?? null, imageBucket: c.imageUpload?.bucket ?? null, vms, ...clouds.health(c.id), createdAt: c.createdAt,
  };
}

/** Remote clouds (hybrid bursting): registered, listed, shown with their instances and forgotten by an admin; credentials are never shown back. */
export function registerCloudRoutes(app: FastifyInstance, ctx: ApiContext, clouds: CloudBursting): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['clouds'];
  r.get('/api/v1/clouds', { schema: { tags, summary: 'Remote clouds VMs may burst to, with the VMs on each and their endpoint\'s health (admin)', response: { 200: z.array(cloudView) } } }, async (req) => {
    requireAdmin(req, 'listing remote clouds');
    const counts = new Map<string, number>();
    for (const b of await ctx.store.clouds.bindings()) counts.set(b.cloudId, (counts.get(b.cloudId) ?? 0) + 1);
    return (await ctx.store.clouds.list()).map((c) => viewOf(c, counts.get(c.id) ?? 0, clouds));
  });
  r.post('/api/v1/clouds', {
    schema: {
      tags, body: createCloudBody, response: { 201: cloudView },
      summary: 'Register a remote EC2 cloud (admin)',
      description: 'Its secret is stored sealed (AES-256-GCM under NUBO_HOME/access-keys.key, as access keys\' are) and never shown again. Every key of `images` must name an image of this controller (by name or id); VMs whose size has no entry in `instanceTypes`, or whose image has none in `images`, never go there.',
    },
  }, async (req, reply) => {
    requireAdmin(req, 'registering a remote cloud');
    const b = req.body;
    const images = await ctx.store.images.list();
    const unknown = Object.keys(b.images).filter((k) => !images.some((i) => i.id === k || i.name === k));
    if (unknown.length > 0) throw new ValidationError('cloud', unknown.map((k) => ({ field: `images.${k}`, message: 'no image of this controller has this name or id' })));
    const made = await ctx.store.clouds.create({
      name: b.name, endpoint: b.endpoint, region: b.region, accessKeyId: b.accessKeyId, seal: (id) => clouds.seal(id, b.secretAccessKey),
      instanceTypes: b.instanceTypes, images: b.images, capacityVms: b.capacity, pricePerHour: b.pricePerHour, burst: b.burst,
      imageUpload: b.s3Endpoint !== undefined && b.imageBucket !== undefined ? { s3Endpoint: b.s3Endpoint, bucket: b.imageBucket } : null,
    });
    // VMs waiting for room may fit there.
    void ctx.orchestrator.schedulePending().catch((err: unknown) => ctx.logger.error({ err }, 'waking pending VMs failed'));
    return reply.status(201).send(viewOf(made, 0, clouds));
  });
  r.get('/api/v1/clouds/:id', { schema: { tags, params: idParams, summary: 'One remote cloud (by id or name) with the instances of its VMs (admin)', response: { 200: cloudDetailView } } }, async (req) => {
    requireAdmin(req, 'reading a remote cloud');
    const c = await findCloud(ctx.store, req.params.id);
    const bound = await ctx.store.clouds.bindings(c.id);
    const instances = await Promise.all(bound.map(async (b) => ({
      vm: b.vmId, vmName: (await findOrUndefined(ctx.store.vms.get(b.vmId)))?.name ?? null, instanceId: b.instanceId, instanceType: b.instanceType, imageId: b.imageId, remoteState: b.remoteState,
    })));
    return { ...viewOf(c, bound.length, clouds), instances };
  });
  r.delete('/api/v1/clouds/:id', { schema: { tags, params: idParams, summary: 'Forget a remote cloud (admin); refused while VMs are bound to it or templates name it in their burst flag', response: { 200: cloudView } } }, async (req) => {
    requireAdmin(req, 'removing a remote cloud');
    const c = await findCloud(ctx.store, req.params.id);
    // A template's flag naming a cloud that is gone would make its VMs wait for nothing: the template goes (or is replaced) first.
    const naming = (await ctx.store.templates.list()).filter((t) => (t.context as { burst?: unknown }).burst === c.name).map((t) => t.name);
    if (naming.length > 0) throw new ConflictError('cloud', 'name', c.name, `is named by the burst flag of template(s) ${naming.join(', ')}; delete them first`);
    return viewOf(await ctx.store.clouds.remove(c.id), 0, clouds);
  });
}
