import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { vmView } from '../../contract/vm-schemas.js';
import { cloneBody, saveAsBody, saveAsView } from '../../contract/capture-schemas.js';
import { findVisibleVm, userOf, type ApiContext } from './api-context.js';
import { clientGoneSignal } from '../../http/client-gone-signal.js';
import { VmCapture } from '../vm-capture.js';

/** How long a request may wait for the capture and the copy of a VM's disk (guest disks are small here; big ones take their time). */
const CAPTURE_TIMEOUT_MS = 3_600_000;

const STATES = 'Allowed when the VM is `running` (a crash-consistent point-in-time copy taken by a block job while the guest runs on), `poweroff` or `suspended`; 409 INVALID_STATE naming the state otherwise. ';

/** Images, templates, VMs and OVAs made from a VM's disk. */
export function registerVmCaptureRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const capture = new VmCapture(ctx);
  const tags = ['vms'];

  r.post('/api/v1/vms/:id/save-as', {
    schema: {
      tags: ['vms', 'images', 'templates'],
      summary: 'Save a VM\'s disk as an image, and optionally a template of the VM on it',
      description:
        'Copies the VM\'s disk as it is now into the image store as a standalone qcow2 (no backing file) named `image`, owned by the VM\'s owner; with `template`, also ' +
        'creates a template of that name with the VM\'s vCPUs, memory, CPU model, kernel, initrd, cmdline, NIC networks, user data, datastore and requirements on the new image. ' +
        STATES + 'A taken name is a 409 naming `image` or `template`, before anything is copied; nothing is kept from a request that fails. The answer comes when the copy is registered.',
      params: idParams, body: saveAsBody, response: { 201: saveAsView },
    },
  }, async (req, reply) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    const out = await capture.saveAs(vm, req.body, { signal: clientGoneSignal(reply), timeoutMs: CAPTURE_TIMEOUT_MS });
    return reply.status(201).send({ image: await ctx.views.image(out.image), ...(out.template ? { template: await ctx.catalog.templateView(out.template) } : {}) });
  });

  r.post('/api/v1/vms/:id/clone', {
    schema: {
      tags,
      summary: 'Clone a VM into a new one',
      description:
        'Copies the VM\'s disk as it is now into the image `<name>-disk` (yours), then creates your VM `name` with the source\'s vCPUs, memory, boot settings, user data, ' +
        'datastore and requirements, and NICs on the same networks with fresh leases (its own addresses and MACs). It then goes pending → running like any new VM. ' +
        STATES + 'A name taken by one of your VMs or images is a 409 naming `name`, before anything is copied; a failure keeps neither image nor VM.',
      params: idParams, body: cloneBody, response: { 201: vmView },
    },
  }, async (req, reply) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    const clone = await capture.clone(vm, req.body, userOf(req), { signal: clientGoneSignal(reply), timeoutMs: CAPTURE_TIMEOUT_MS });
    return reply.status(201).send(await ctx.views.vm(clone));
  });

  // Without the zod type provider: its typing takes the documented string for the only thing send() may get, and a stream is sent here.
  app.get<{ Params: { id: string } }>('/api/v1/vms/:id/export', {
    schema: {
      tags,
      summary: 'Export a VM as an OVA',
      description:
        'Streams an OVA (application/x-tar) of the VM with its disk as it is now, like a template\'s export: an OVF 1.x descriptor with the VM\'s vCPUs, memory, disk and NICs ' +
        '(and nubo\'s own section for kernel, initrd, cmdline, CPU model, disk mode, datastore, user data and requirements), a SHA256 manifest, the disk as a streamOptimized vmdk, ' +
        'and the kernel and initrd if any. `POST /api/v1/templates/import/upload` of it gives a template of the VM. ' + STATES,
      params: idParams,
      produces: ['application/x-tar'],
      // Documents the body only: a stream is sent as it is, never through the serializer.
      response: { 200: z.string().meta({ format: 'binary', description: 'the OVA (a tar archive)' }) },
    },
  }, async (req, reply) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    const ova = await capture.exportOva(vm, { signal: clientGoneSignal(reply), timeoutMs: CAPTURE_TIMEOUT_MS });
    return reply.type('application/x-tar').header('content-disposition', `attachment; filename="${ova.fileName}"`).send(ova.stream);
  });
}
