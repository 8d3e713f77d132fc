import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { createSnapshotBody, snapshotView, vmSnapshotParams } from '../../contract/snapshot-schemas.js';
import { findVisibleVm, type ApiContext } from './api-context.js';
import { VmSnapshots } from '../vm-snapshots.js';

const NAME_RULES = 'A name is 1-64 characters of letters, digits, `.`, `_` and `-`, starting with a letter or digit; a name that is a path (`/`, `\\`, `..`) is a 400 naming `name`.';

/** Disk snapshots of a VM: qcow2 internal snapshots inside its disk file, which is their only record. */
export function registerVmSnapshotRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['vms', 'snapshots'];
  const snapshots = new VmSnapshots({ store: ctx.store, agentFor: ctx.agentFor, logger: ctx.logger });

  r.post('/api/v1/vms/:id/snapshots', {
    schema: {
      tags,
      summary: 'Take a snapshot of the VM\'s disk (running, powered off or suspended)',
      description:
        'A qcow2 internal snapshot inside the VM\'s disk file: it travels with the file (cold migration, stop and resume). A running VM\'s disk is ' +
        'snapshotted through QEMU while the guest runs on (what the guest has not written out yet is not in it, as after a power cut); a ' +
        'powered-off or suspended VM\'s with `qemu-img`. Only the VM\'s own disk, not its volumes. ' + NAME_RULES + ' 409 SNAPSHOT_EXISTS for a name ' +
        'the VM has already; 409 INVALID_STATE naming the state unless the VM is `running`, `poweroff` or `suspended` (a `stopped` VM\'s disk is ' +
        'off its host: its snapshots are available again after `resume`). Note: a VM with snapshots is refused a live migration to another ' +
        'host\'s local datastore and a disk move, which copy only the disk\'s current data.',
      params: idParams, body: createSnapshotBody, response: { 201: snapshotView },
    },
  }, async (req, reply) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    return reply.status(201).send(await snapshots.create(vm, req.body.name));
  });

  r.get('/api/v1/vms/:id/snapshots', {
    schema: {
      tags,
      summary: 'List the snapshots of the VM\'s disk, oldest first',
      description: 'Read from the disk file (through QEMU while the VM runs). 409 INVALID_STATE unless the VM is `running`, `poweroff` or `suspended`.',
      params: idParams, response: { 200: z.array(snapshotView) },
    },
  }, async (req) => snapshots.list(await findVisibleVm(ctx, req, req.params.id)));

  r.post('/api/v1/vms/:id/snapshots/:name/revert', {
    schema: {
      tags,
      summary: 'Revert a powered-off VM\'s disk to a snapshot',
      description:
        'The disk\'s current data is replaced by the snapshot\'s (`qemu-img snapshot -a`); the snapshot stays, and the VM boots from it at its next ' +
        '`start`. Only when the VM is `poweroff`: 409 INVALID_STATE naming the state otherwise — a running guest would have its disk changed under it, ' +
        'and a suspended VM\'s saved memory would not match the reverted disk. 404 for a name the VM has no snapshot of.',
      params: vmSnapshotParams, response: { 200: snapshotView },
    },
  }, async (req) => snapshots.revert(await findVisibleVm(ctx, req, req.params.id), req.params.name));

  r.delete('/api/v1/vms/:id/snapshots/:name', {
    schema: {
      tags,
      summary: 'Delete a snapshot of the VM\'s disk (running, powered off or suspended)',
      description: 'The disk\'s current data is untouched. 404 for a name the VM has no snapshot of; 409 INVALID_STATE as for taking one.',
      params: vmSnapshotParams,
    },
  }, async (req, reply) => {
    await snapshots.delete(await findVisibleVm(ctx, req, req.params.id), req.params.name);
    return reply.status(204).send();
  });
}
