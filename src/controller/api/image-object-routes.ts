import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { imageFromObjectBody, imageObjectView, imageToObjectBody } from '../../contract/image-object-schemas.js';
import { idParams } from '../../contract/api-schemas.js';
import { imageView } from '../../contract/image-schemas.js';
import { clientGoneSignal } from '../../http/client-gone-signal.js';
import { userOf, type ApiContext } from './api-context.js';

/** `POST /api/v1/images/from-s3`: an image of an S3 object the caller owns; `POST /api/v1/images/{id}/export-s3` the other way (image-objects.ts; every controller has the object store, the S3 listener is how users put objects there). */
export function registerImageObjectRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const objects = ctx.imageObjects;
  if (!objects) return;
  app.withTypeProvider<ZodTypeProvider>().post('/api/v1/images/from-s3', {
    schema: {
      tags: ['images'],
      summary: 'Register an image from an S3 object you own',
      description: 'Any user: `bucket` must be one of the caller\'s S3 buckets (another user\'s reads as missing) and `key` an object in it. The object is copied into the system bucket and checked with qemu-img as a registered file is: the detected format must match `format` if given; backing files, external data files, encryption and zero-size disks are refused; vmdk and vdi are converted to qcow2. The image\'s bytes are then that system object, which agents fetch by a presigned GET. Refusals are 400 naming `bucket`, `key`, `format` or `object`, with nothing written; a taken name is 409 before anything is copied.',
      body: imageFromObjectBody,
      response: { 201: imageView },
    },
  }, async (req, reply) => {
    const img = await objects.importObject({ ...req.body, ownerId: userOf(req).id }, { signal: clientGoneSignal(reply) });
    return reply.status(201).send(await ctx.views.image(img));
  });
  app.withTypeProvider<ZodTypeProvider>().post('/api/v1/images/:id/export-s3', {
    schema: {
      tags: ['images'],
      summary: 'Write an image\'s disk as an S3 object into a bucket you own',
      description: 'Any user who can read the image: its disk is copied (format `qcow2`, as it is) or converted (`raw`) into `bucket/key`, replacing an object there; `bucket` must be one of the caller\'s (another user\'s reads as missing: 400 naming `bucket`). The object carries the sha256 of its bytes as the user metadata `x-amz-meta-sha256`. EC2\'s ExportImage does this for an AMI. The answer comes when the object is written.',
      params: idParams, body: imageToObjectBody,
      response: { 201: imageObjectView },
    },
  }, async (req, reply) => {
    const img = await ctx.catalog.resolveImage(req.params.id, userOf(req));
    const out = await objects.exportToObject(img, { ...req.body, ownerId: userOf(req).id }, { signal: clientGoneSignal(reply) });
    return reply.status(201).send({ bucket: out.bucket, key: out.key, sizeBytes: out.size, sha256: out.sha256, etag: out.etag });
  });
}
