import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { attachNicBody, vmDetailView, vmNicParams } from '../../contract/vm-schemas.js';
import { accessOf, findVisibleVm, type ApiContext } from './api-context.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { ValidationError } from '../../errors/validation-error.js';
import { VmNics } from '../vm-nics.js';

/** NICs attached to and detached from an existing VM (running: hot-plug; powered off: its spec and config drive). */
export function registerVmNicRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['vms'];
  const nics = new VmNics({ store: ctx.store, catalog: ctx.catalog, agentFor: ctx.agentFor, logger: ctx.logger });

  r.post('/api/v1/vms/:id/nics', {
    schema: {
      tags,
      summary: 'Attach a NIC to a running or powered-off VM',
      description:
        'The NIC gets a lease on `network`: `address` when given (it must be free), else the lowest free address; its MAC is the lease\'s. ' +
        'The lease and the VM\'s spec are written in one transaction, then the host\'s agent adds the NIC to the VM\'s config drive ' +
        '(network-config lists its address) and, when the VM runs, hot-plugs it: the guest sees a new interface at once and configures ' +
        'the address from the config drive when it next boots. If the agent fails, the lease and the spec change are undone. ' +
        'Allowed when the VM is `running` or `poweroff` (409 INVALID_STATE naming the state otherwise); a VM whose host does not report the ' +
        'network\'s bridge is 409 CONFLICT naming the network, the bridge and the host, before anything is changed. The NIC\'s `index` in the answer ' +
        'is what `DELETE …/nics/{index}` takes. An attached NIC migrates with the VM like the others.',
      params: idParams, body: attachNicBody, response: { 201: vmDetailView },
    },
  }, async (req, reply) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    // A network shared with groups is for their members only; to anyone else it is as unknown as a missing one (which attach itself reports).
    const net = await findOrUndefined(ctx.catalog.findNetwork(req.body.network));
    if (net && (await accessOf(ctx, req).decide('use', 'network', net)) !== 'allow') {
      throw new ValidationError('NIC', [{ field: 'network', message: `no network ${req.body.network}` }]);
    }
    return reply.status(201).send(await ctx.views.vmDetail(await nics.attach(vm, req.body)));
  });

  r.delete('/api/v1/vms/:id/nics/:index', {
    schema: {
      tags,
      summary: 'Detach a NIC from a running or powered-off VM',
      description:
        'A running VM\'s NIC is unplugged (the guest has to release it) and its TAP removed; the config drive is rebuilt without it. ' +
        'Its address goes back to the network once the agent has let go of the NIC; if the agent fails, the NIC stays. ' +
        'Other NICs keep their index. 404 for an index the VM has no NIC at; 409 INVALID_STATE unless the VM is `running` or `poweroff`.',
      params: vmNicParams, response: { 200: vmDetailView },
    },
  }, async (req) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    return ctx.views.vmDetail(await nics.detach(vm, req.params.index));
  });
}
