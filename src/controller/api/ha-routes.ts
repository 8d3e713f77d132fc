import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { fenceConfigBody, hostHaView, vmHaBody, vmHaView, type HostHaView } from '../../contract/ha-schemas.js';
import type { Store } from '../../store/open-store.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import { accessOf, findVisibleVm, requireAdmin, type ApiContext } from './api-context.js';
import { findHost } from './host-routes.js';

async function haViewOf(store: Store, host: Host): Promise<HostHaView> {
  const f = await store.ha.fencing(host.id);
  const restarts = f.incident === null && f.state === 'ok' ? [] : await store.ha.restarts({ hostId: host.id });
  const { hostId: _, ...rest } = f;
  return { host: host.name, ...rest, argv: [...f.argv], restarts: restarts.filter((r) => f.incident === null || r.incident === f.incident).map(({ id: _i, incident: _n, hostId: _h, ...r }) => r) };
}

/** High availability: a host's fence method and fencing state, a VM's HA flag. */
export function registerHaRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.put('/api/v1/hosts/:id/fence-config', {
    schema: {
      tags: ['hosts', 'ha'], params: idParams, body: fenceConfigBody, response: { 200: hostHaView },
      summary: 'Set how the host is fenced (admin)',
      description: '`command`: an operator hook (IPMI, Redfish …) run with the host in its environment, exit 0 = fenced, a timeout is a failure (retried; VMs are not restarted). `lab`: the lab cuts the host\'s uplink and kills its QEMUs. `none` (the default): a silent host\'s VMs are never restarted automatically.',
    },
  }, async (req) => {
    requireAdmin(req, 'configuring a host\'s fencing');
    const host = await findHost(ctx.store, req.params.id);
    await ctx.store.ha.setFenceConfig(host.id, req.body);
    return haViewOf(ctx.store, host);
  });
  r.get('/api/v1/hosts/:id/ha', {
    schema: { tags: ['hosts', 'ha'], params: idParams, response: { 200: hostHaView }, summary: 'The host\'s fence method, fencing state (with times) and the decisions of its last incident' },
  }, async (req) => haViewOf(ctx.store, await findHost(ctx.store, req.params.id)));
  r.put('/api/v1/vms/:id/ha', {
    schema: { tags: ['vms', 'ha'], params: idParams, body: vmHaBody, response: { 200: vmHaView }, summary: 'Turn HA on or off for the VM: with it, the VM is restarted on another host when its host is fenced (its disk must be on the shared datastore)' },
  }, async (req) => {
    const vm = await accessOf(ctx, req).check('operate', 'vm', await findVisibleVm(ctx, req, req.params.id));
    await ctx.store.ha.setVmHa(vm.id, req.body.ha);
    return { vmId: vm.id, ha: req.body.ha };
  });
  r.get('/api/v1/vms/:id/ha', { schema: { tags: ['vms', 'ha'], params: idParams, response: { 200: vmHaView } } }, async (req) => {
    const vm = await findVisibleVm(ctx, req, req.params.id);
    return { vmId: vm.id, ha: (await ctx.store.ha.haVms([vm.id])).has(vm.id) };
  });
}
