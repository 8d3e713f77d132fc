import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { attachVolumeBody, createVolumeBody, diskMoveBody, diskMoveView, vmVolumeParams, volumeView } from '../../contract/storage-schemas.js';
import { accessOf, findVisibleVm, userOf, type ApiContext } from './api-context.js';
import { DiskMover } from '../disk-mover.js';
import { VmVolumes } from '../vm-volumes.js';

/** A VM's storage: live storage migration of its disk between its host's datastores, and volumes. */
export function registerVmStorageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const mover = new DiskMover({ store: ctx.store, agentFor: ctx.agentFor, logger: ctx.logger });
  const volumes = new VmVolumes({ store: ctx.store, agentFor: ctx.agentFor, logger: ctx.logger, busy: (vmId) => mover.busy(vmId) });
  app.addHook('onClose', async () => mover.close());

  r.post('/api/v1/vms/:id/disk/move', {
    schema: {
      tags: ['vms'],
      summary: 'Move a running VM\'s disk to the other datastore of its host (live storage migration)',
      description:
        'The VM keeps running. Its host\'s agent makes the new disk in the target datastore (an overlay on that datastore\'s own copy of the base image, ' +
        'so only the VM\'s own blocks are copied — `sync: top`; a standalone disk gets a full copy), mirrors the disk into it (`blockdev-mirror`), and once ' +
        'the copy is in sync switches the VM over (`block-job-complete`); then the old disk is deleted. The config drive moves with it. The VM\'s spec in the ' +
        'store (its datastore and placement demand) changes only after the agent succeeded; a failed or cancelled move leaves the VM on its old disk. ' +
        'Answers 202 at once; `GET …/disk/move` shows the progress, and events `vm.disk-move` mark the start and the end. 409 INVALID_STATE unless the VM is ' +
        '`running`; 409 CONFLICT when a move is under way or the host lacks the datastore; 400 naming `datastore` for the datastore the disk is on already.',
      params: idParams, body: diskMoveBody, response: { 202: diskMoveView },
    },
  }, async (req, reply) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    return reply.status(202).send(await mover.start(vm, req.body));
  });
  r.get('/api/v1/vms/:id/disk/move', {
    schema: { tags: ['vms'], summary: 'Progress of the VM\'s current or last disk move (since the controller started)', params: idParams, response: { 200: diskMoveView } },
  }, async (req) => mover.status(await findVisibleVm(ctx, req, req.params.id)));
  r.post('/api/v1/vms/:id/disk/move/cancel', {
    schema: { tags: ['vms'], summary: 'Stop the VM\'s disk move before its switch-over; the VM stays on its old disk', params: idParams, response: { 200: diskMoveView } },
  }, async (req) => mover.cancel(await findVisibleVm(ctx, req, req.params.id)));

  const tags = ['volumes'];
  r.post('/api/v1/volumes', {
    schema: {
      tags, summary: 'Create a volume (a record; its file is made on the host of the VM it is first attached to)',
      description: 'The volume lives in `cluster` (the EC2 API\'s availability zone): only VMs on that cluster\'s hosts attach it; without one it takes the cluster of the host of its first attach. ' +
        '400 VALIDATION_FAILED naming `cluster` for a cluster that does not exist; 409 DISK_CAPACITY when no host of the cluster has room. Nothing is written on a refusal.',
      body: createVolumeBody, response: { 201: volumeView },
    },
  }, async (req, reply) => {
    await accessOf(ctx, req).checkCreate('volume', 'creating a volume');
    await volumes.ensureSomeHostHolds(req.body.sizeMiB, req.body.cluster);
    const v = await ctx.store.volumes.create({ name: req.body.name, ownerId: userOf(req).id, sizeMib: req.body.sizeMiB, ...(req.body.cluster !== undefined ? { cluster: req.body.cluster } : {}) });
    return reply.status(201).send(await volumes.view(v));
  });
  r.get('/api/v1/volumes', { schema: { tags, summary: 'List volumes (yours, your group members\' for a group admin; admins: all)', response: { 200: z.array(volumeView) } } }, async (req) => {
    const list = await accessOf(ctx, req).filter('read', 'volume', await ctx.store.volumes.list());
    return Promise.all(list.map((v) => volumes.view(v)));
  });
  r.get('/api/v1/volumes/:id', { schema: { tags, params: idParams, response: { 200: volumeView } } }, async (req) => volumes.view(await volumes.find(accessOf(ctx, req), req.params.id)));
  r.delete('/api/v1/volumes/:id', {
    schema: { tags, summary: 'Delete a volume and its file; 409 while it is attached', params: idParams },
  }, async (req, reply) => {
    await volumes.delete(await volumes.find(accessOf(ctx, req), req.params.id, 'delete'));
    return reply.status(204).send();
  });
  r.post('/api/v1/vms/:id/volumes', {
    schema: {
      tags: ['vms', 'volumes'],
      summary: 'Attach a volume to a running (hot-plug) or powered-off VM',
      description:
        'The volume takes the VM\'s lowest free slot (0-7: device `vol<slot>`, the same in every boot) and, on its first attach, the VM\'s host: its file ' +
        '(an empty qcow2) is made there, and it can be attached only to VMs of that host afterwards. A running guest sees a new virtio disk at once. ' +
        '409 INVALID_STATE unless the VM is `running` or `poweroff`; 409 CONFLICT for a volume attached elsewhere, living on another host, or in another cluster than the VM\'s host (nothing attached).',
      params: idParams, body: attachVolumeBody, response: { 200: volumeView },
    },
  }, async (req) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    const v = await volumes.find(accessOf(ctx, req), req.body.volume, 'operate');
    return volumes.view(await volumes.attach(vm, v));
  });
  r.delete('/api/v1/vms/:id/volumes/:volume', {
    schema: {
      tags: ['vms', 'volumes'],
      summary: 'Detach a volume from a running (hot-unplug: the guest releases it) or powered-off VM; its data stays',
      params: vmVolumeParams, response: { 200: volumeView },
    },
  }, async (req) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    const v = await volumes.find(accessOf(ctx, req), req.params.volume, 'operate');
    return volumes.view(await volumes.detach(vm, v));
  });
}
