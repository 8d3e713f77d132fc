import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { importTemplateBody, templateBody, templateView, updateTemplateBody, uploadTemplateQuery } from '../../contract/template-schemas.js';
import { accessOf, requireAdmin, userOf, type ApiContext } from './api-context.js';
import { clientGoneSignal } from '../../http/client-gone-signal.js';
import { exportTemplateOva } from '../export-template-ova.js';
import { importOvfTemplate, importUploadedOva } from '../import-ovf-template.js';
import { acceptOctetStream, uploadLength } from './octet-stream-upload.js';

export function registerTemplateRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['templates'];
  // The admins' templates are a shared catalog everyone may instantiate; a user's own (a saved VM) are theirs.
  r.get('/api/v1/templates', { schema: { tags, response: { 200: z.array(templateView) } } }, async (req) =>
    Promise.all((await ctx.catalog.visibleTo(userOf(req), await ctx.store.templates.list(), 'template')).map((t) => ctx.catalog.templateView(t))),
  );
  r.get('/api/v1/templates/:id', { schema: { tags, params: idParams, response: { 200: templateView } } }, async (req) =>
    ctx.catalog.templateView(await ctx.catalog.findTemplate(req.params.id, userOf(req))),
  );
  r.post('/api/v1/templates', { schema: { tags, body: templateBody, response: { 201: templateView } } }, async (req, reply) => {
    const t = await ctx.catalog.createTemplate(req.body, userOf(req));
    return reply.status(201).send(await ctx.catalog.templateView(t));
  });
  r.patch('/api/v1/templates/:id', {
    schema: {
      tags, params: idParams, body: updateTemplateBody, response: { 200: templateView },
      summary: 'Change a template\'s burst flag (its owner or an admin)',
      description: '`burst`: a registered cloud\'s name, `any`, or null for none (an unknown cloud: 400 naming `burst`, nothing changed). VMs made from it before keep the flag they were made with.',
    },
  }, async (req) => {
    const t = await accessOf(ctx, req).check('operate', 'template', await ctx.catalog.findTemplate(req.params.id, userOf(req)), `changing template ${req.params.id}`);
    return ctx.catalog.templateView(await ctx.catalog.setTemplateBurst(t, req.body.burst));
  });
  r.delete('/api/v1/templates/:id', {
    schema: {
      tags, params: idParams,
      summary: 'Delete a template (its owner or an admin); VMs made from it keep their own settings',
      description: '`id` is the template\'s id, name or the start of its id. Its image stays (delete it with `DELETE /images/{id}`).',
    },
  }, async (req, reply) => {
    const t = await accessOf(ctx, req).check('delete', 'template', await ctx.catalog.findTemplate(req.params.id, userOf(req)), `deleting template ${req.params.id}`);
    await ctx.store.templates.delete(t.id);
    return reply.status(204).send();
  });
  r.post('/api/v1/templates/import', {
    schema: {
      tags,
      summary: 'Import an OVF 1.x package from a file in the controller\'s import directory (admin)',
      description:
        'Only files under the directory the controller was started with (--image-import-dir) may be named, after realpath (symlinks and .. cannot lead out), and an .ovf\'s referenced files must resolve inside it too; ' +
        'without one this is refused (400 naming `path`): upload the .ova instead (POST /api/v1/templates/import/upload). ' +
        'Imports an .ova (a tar: descriptor first, optional .mf manifest whose SHA1/SHA256/SHA512 digests are verified, disks) or an .ovf with its files beside it. ' +
        'The root disk becomes an image (vmdk and vdi converted to qcow2) named `<name>-disk`; the template takes the vCPUs and memory of the VirtualHardwareSection, ' +
        'one NIC per network Item (on the nubo network of the same name, if there is one), and nubo\'s own section when present (kernel, initrd, cmdline, CPU model …). ' +
        'A bad package is a 400 naming `path` and the member or element at fault; a taken name a 409 naming `name`. Nothing is kept from an import that fails.',
      body: importTemplateBody,
      response: { 201: templateView },
    },
  }, async (req, reply) => {
    // The path is read on the controller's machine: as for image registration, only an admin may name one.
    const owner = requireAdmin(req, 'importing a template from a controller path');
    const t = await importOvfTemplate(ctx, { path: req.body.path, from: 'import-dir', name: req.body.name, owner }, { signal: clientGoneSignal(reply) });
    return reply.status(201).send(await ctx.catalog.templateView(t));
  });
  // The body is the .ova, streamed to disk as it comes: not parsed, and not held to the JSON body limit.
  void app.register(async (raw) => {
    acceptOctetStream(raw);
    raw.withTypeProvider<ZodTypeProvider>().post('/api/v1/templates/import/upload', {
      schema: {
        tags,
        summary: 'Upload an OVA and import it as a template (admin)',
        description:
          'The request body (application/octet-stream, with Content-Length) is the .ova. It is written to a temporary file in the controller\'s image store, its size held against Content-Length ' +
          'and its SHA-256 against `sha256` if given, then imported as POST /api/v1/templates/import imports one (same checks, same template). ' +
          'A truncated, oversized or bad package is a 400 naming `body` (or `sha256`), a taken name a 409 naming `name`; nothing is kept of an upload or import that fails.',
        querystring: uploadTemplateQuery,
        response: { 201: templateView },
      },
    }, async (req, reply) => {
      const owner = requireAdmin(req, 'uploading a template');
      const sizeBytes = uploadLength(req, 'template upload');
      const t = await importUploadedOva(ctx, { ...req.query, owner, sizeBytes }, req.raw, { signal: clientGoneSignal(reply) });
      return reply.status(201).send(await ctx.catalog.templateView(t));
    });
  });
  // Without the zod type provider: its typing takes the documented string for the only thing send() may get, and a stream is sent here.
  app.get<{ Params: { id: string } }>('/api/v1/templates/:id/export', {
    schema: {
      tags,
      summary: 'Export a template as an OVA',
      description:
        'Streams an OVA (application/x-tar): an OVF 1.x descriptor with the template\'s vCPUs, memory, disk and NICs (and nubo\'s own section, ovf:required="false", ' +
        'for kernel, initrd, cmdline, CPU model, disk mode, datastore, user data and requirements), a SHA256 manifest, the disk as a streamOptimized vmdk, and the kernel and initrd if any. ' +
        '`id` is the template\'s id or name.',
      params: idParams,
      produces: ['application/x-tar'],
      // Documents the body only: a stream is sent as it is, never through the serializer.
      response: { 200: z.string().meta({ format: 'binary', description: 'the OVA (a tar archive)' }) },
    },
  }, async (req, reply) => {
    const t = await ctx.catalog.findTemplate(req.params.id, userOf(req));
    const ova = await exportTemplateOva(ctx, t, { signal: clientGoneSignal(reply) });
    return reply.type('application/x-tar').header('content-disposition', `attachment; filename="${ova.fileName}"`).send(ova.stream);
  });
}
