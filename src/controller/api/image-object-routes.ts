import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { imageFromObjectBody } from '../../contract/image-object-schemas.js';
import { imageView } from '../../contract/image-schemas.js';
import { clientGoneSignal } from '../../http/client-gone-signal.js';
import { userOf, type ApiContext } from './api-context.js';

/** `POST /api/v1/images/from-s3`: an image of an S3 object the caller owns (image-objects.ts; every controller has the object store, the S3 listener is how users put objects there). */
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
}
