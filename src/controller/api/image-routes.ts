import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { imageView, registerImageBody, uploadImageQuery } from '../../contract/image-schemas.js';
import { accessOf, requireAdmin, userOf, type ApiContext } from './api-context.js';
import { ConflictError } from '../../store/store-errors.js';
import { acceptOctetStream, uploadLength } from './octet-stream-upload.js';
import { clientGoneSignal } from '../../http/client-gone-signal.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import type { ControllerVmSpec } from '../controller-vm-spec.js';

export function registerImageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['images'];
  r.get('/api/v1/images', { schema: { tags, response: { 200: z.array(imageView) } } }, async (req) => {
    const u = userOf(req);
    // The admins' ready images are shared read-only (templates use them as bases); a user's own images are theirs.
    const all = await ctx.catalog.visibleTo(u, await ctx.store.images.list(), 'image');
    return Promise.all(all.filter((i) => u.role === 'admin' || i.ownerId === u.id || i.state === 'ready').map((i) => ctx.views.image(i)));
  });
  r.get('/api/v1/images/:id', { schema: { tags, params: idParams, response: { 200: imageView } } }, async (req) =>
    ctx.views.image(await ctx.catalog.resolveImage(req.params.id, userOf(req))),
  );
  r.post('/api/v1/images', {
    schema: {
      tags,
      summary: 'Register an image from a file in the controller\'s import directory (admin)',
      description: 'Only files under the directory the controller was started with (--image-import-dir) may be named, after realpath (symlinks and .. cannot lead out); without one this is refused (400 naming `path`): upload the file instead (POST /api/v1/images/upload). Copies the file into the image store. Disk images are checked with qemu-img: the detected format must match `format` (or the file\'s .qcow2/.raw/.vmdk/.vdi extension), and backing files, external data files, encryption and zero-size disks are refused. vmdk (monolithicSparse or streamOptimized) and vdi disks are converted to qcow2. The checked copy becomes an object of the system bucket `_nubo-images` (every image is one), which agents fetch by a presigned GET.',
      body: registerImageBody,
      response: { 201: imageView },
    },
  }, async (req, reply) => {
    // The path is read on the controller's machine (its store, the hosts' tokens): only an admin may name one, and only in the import directory.
    const owner = requireAdmin(req, 'registering an image from a controller path');
    const img = await ctx.images.register({ ...req.body, ownerId: owner.id }, { signal: clientGoneSignal(reply) });
    return reply.status(201).send(await ctx.views.image(img));
  });
  // The body is the file, streamed to disk as it comes: not parsed, and not held to the JSON body limit.
  void app.register(async (raw) => {
    acceptOctetStream(raw);
    raw.withTypeProvider<ZodTypeProvider>().post('/api/v1/images/upload', {
      schema: {
        tags,
        summary: 'Upload an image (admin)',
        description: 'The request body (application/octet-stream, with Content-Length) is the file. It is written to a temporary file in the image store, its size held against Content-Length and its SHA-256 against `sha256` if given, then checked and converted as a registered file is. A truncated, oversized or refused upload leaves nothing behind (400 naming `body`, `sha256` or `format`). The checked file becomes an object of the system bucket `_nubo-images` (every image is one), which agents fetch by a presigned GET.',
        querystring: uploadImageQuery,
        response: { 201: imageView },
      },
    }, async (req, reply) => {
      const owner = requireAdmin(req, 'uploading an image');
      const length = uploadLength(req, 'image upload');
      const img = await ctx.images.upload({ ...req.query, ownerId: owner.id, sizeBytes: length }, req.raw, { signal: clientGoneSignal(reply) });
      return reply.status(201).send(await ctx.views.image(img));
    });
  });
  r.delete('/api/v1/images/:id', {
    schema: {
      tags, params: idParams,
      summary: 'Delete an image: its record and its object in the system bucket',
      description: '409 CONFLICT while a template or a VM that is not terminated (pending ones included) uses it, as its disk, kernel or initrd; the message names them.',
    },
  }, async (req, reply) => {
    const img = await accessOf(ctx, req).check('delete', 'image', await ctx.catalog.resolveImage(req.params.id, userOf(req)), `deleting image ${req.params.id}`);
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
    // Every image is an object of the system bucket: fetched from the S3 listener by a presigned GET (fetch drops the token on the way);
    // without a listener at the address the caller used, the same blob is served here (one store, two routes).
    const presigned = ctx.imageObjects?.presignedUrl(img, req.headers.host);
    if (presigned !== undefined) return reply.redirect(presigned, 307);
    return reply.type('application/octet-stream').header('content-length', img.sizeBytes).header('x-sha256', img.sha256).send(createReadStream(img.path));
  });
}

/** The images a VM's spec names: its disk's base, and its kernel and initrd for direct kernel boot. */
function imagesOfVm(vm: Vm): string[] {
  const agent = (vm.spec as unknown as Partial<ControllerVmSpec>).agent;
  return [agent?.disk.image.id, agent?.kernel?.id, agent?.initrd?.id].filter((id): id is string => id !== undefined);
}
