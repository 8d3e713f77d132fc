import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams, imageView, registerImageBody } from './api-schemas.js';
import { ensureVisible, requireAdmin, userOf, type ApiContext } from './api-context.js';
import { ConflictError } from '../../store/store-errors.js';
import { clientGoneSignal } from '../../http/client-gone-signal.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import type { ControllerVmSpec } from '../vm-orchestrator.js';

export function registerImageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['images'];
  r.get('/api/v1/images', { schema: { tags, response: { 200: z.array(imageView) } } }, async (req) => {
    const u = userOf(req);
    // The admins' ready images are shared read-only (templates use them as bases); a user's own images are theirs.
    const all = await ctx.catalog.visibleTo(u, await ctx.store.images.list());
    return Promise.all(all.filter((i) => u.role === 'admin' || i.ownerId === u.id || i.state === 'ready').map((i) => ctx.views.image(i)));
  });
  r.get('/api/v1/images/:id', { schema: { tags, params: idParams, response: { 200: imageView } } }, async (req) =>
    ctx.views.image(await ctx.catalog.resolveImage(req.params.id, userOf(req))),
  );
  r.post('/api/v1/images', {
    schema: {
      tags,
      summary: 'Register an image from a file on the controller (admin)',
      description: 'Copies the file into the image store. Disk images are checked with qemu-img: the detected format must match `format` (or the file\'s .qcow2/.raw/.vmdk/.vdi extension), and backing files, external data files, encryption and zero-size disks are refused. vmdk (monolithicSparse or streamOptimized) and vdi disks are converted to qcow2.',
      body: registerImageBody,
      response: { 201: imageView },
    },
  }, async (req, reply) => {
    // The path is read on the controller's machine (its store, the hosts' tokens): only an admin may name one.
    const owner = requireAdmin(req, 'registering an image from a controller path');
    const img = await ctx.images.register({ ...req.body, ownerId: owner.id }, { signal: clientGoneSignal(reply) });
    return reply.status(201).send(await ctx.views.image(img));
  });
  r.delete('/api/v1/images/:id', {
    schema: {
      tags, params: idParams,
      summary: 'Delete an image: its record and its file',
      description: '409 CONFLICT while a template or a VM that is not terminated (pending ones included) uses it, as its disk, kernel or initrd; the message names them.',
    },
  }, async (req, reply) => {
    const img = ensureVisible(req, 'image', await ctx.catalog.resolveImage(req.params.id, userOf(req)));
    const users = (await ctx.store.templates.list()).filter((t) => JSON.stringify([t.disks, t.context]).includes(img.id));
    if (users.length > 0) throw new ConflictError('image', 'id', img.id, `is used by template ${users.map((t) => t.name).join(', ')}`);
    // Every VM that is not terminated may need its images again: a pending one for its prolog, any other to be
    // placed, migrated, resumed or recovered on a host whose cache lacks them.
    const vms = (await ctx.store.vms.list()).filter((v) => v.state !== 'terminated' && imagesOfVm(v).includes(img.id));
    if (vms.length > 0) throw new ConflictError('image', 'id', img.id, `is used by VM ${vms.map((v) => `${v.name} (${v.state})`).join(', ')}`);
    await ctx.images.delete(img.id);
    return reply.status(204).send();
  });
}

/** The image bytes, for agents (host token) and users; registered outside the user-auth scope. */
export function registerImageDataRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.withTypeProvider<ZodTypeProvider>().get('/api/v1/images/:id/data', { schema: { tags: ['images'], params: idParams } }, async (req, reply) => {
    // A host (its token, no user) fetches any image a VM of its needs; a user only those they may see.
    const img = req.user ? await ctx.catalog.ensureVisible(req.user, 'image', await ctx.store.images.get(req.params.id)) : await ctx.store.images.get(req.params.id);
    return reply.type('application/octet-stream').header('content-length', img.sizeBytes).header('x-sha256', img.sha256).send(createReadStream(img.path));
  });
}

/** The images a VM's spec names: its disk's base, and its kernel and initrd for direct kernel boot. */
function imagesOfVm(vm: Vm): string[] {
  const agent = (vm.spec as unknown as Partial<ControllerVmSpec>).agent;
  return [agent?.disk.image.id, agent?.kernel?.id, agent?.initrd?.id].filter((id): id is string => id !== undefined);
}
