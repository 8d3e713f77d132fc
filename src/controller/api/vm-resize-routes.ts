import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { resizeVmBody } from '../../contract/vm-resize-schemas.js';
import { vmView } from '../../contract/vm-schemas.js';
import { InvalidStateError } from '../../core/invalid-state-error.js';
import { RESIZABLE_STATE } from '../../store/repositories/vm-resize.js';
import { accessOf, findVisibleVm, type ApiContext } from './api-context.js';
import { bootImageIds, checkMemoryMinimum } from '../check-memory-minimum.js';
import type { ControllerVmSpec } from '../controller-vm-spec.js';

/** `POST /api/v1/vms/:id/resize`: a powered-off VM's vCPUs and memory (the store's vm-resize.ts decides; the next boot applies them). */
export function registerVmResizeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.withTypeProvider<ZodTypeProvider>().post('/api/v1/vms/:id/resize', {
    schema: {
      tags: ['vms'],
      summary: 'Change the vCPUs and memory of a powered-off VM',
      description:
        'Only a `poweroff` VM (409 INVALID_STATE otherwise: a running guest cannot change size, and a `suspended` or `stopped` one has its memory saved at its old size — ' +
        'power it off first). The growth is checked in the same transaction against the owner\'s quotas (409 QUOTA_EXCEEDED naming the limit) and against the free room of ' +
        'the host that keeps its disks, where the new size is reserved at once (409 CAPACITY), so the VM can always start again there; memory below the minimum of an image it boots from (its disk, kernel or initrd) is a 400 on `memoryMiB` naming the image and its minimum; a refusal changes nothing. ' +
        'The VM boots with the new size on its next `start`. Resizing to the size it has is a no-op.',
      params: idParams, body: resizeVmBody, response: { 200: vmView },
    },
  }, async (req) => {
    const vm = await accessOf(ctx, req).check('operate', 'vm', await findVisibleVm(ctx, req, req.params.id));
    if (vm.state !== RESIZABLE_STATE) throw new InvalidStateError('resize', vm.state, [RESIZABLE_STATE]);
    await checkMemoryMinimum(ctx.store, { memoryMiB: req.body.memoryMiB, imageIds: bootImageIds(vm.spec as unknown as ControllerVmSpec), what: 'resize' });
    const { vm: next, changed } = await ctx.store.vms.resize(vm.id, req.body, ctx.bindCheck);
    if (changed) ctx.logger.info({ vmId: vm.id, vcpus: req.body.vcpus, memoryMiB: req.body.memoryMiB }, 'vm resized');
    return ctx.views.vm(next);
  });
}
