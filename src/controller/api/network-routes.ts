import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { createNetworkBody, holdBody, holdParams, leaseView, networkDetailView, networkView } from '../../contract/network-schemas.js';
import { accessOf, requireAdmin, userOf, type ApiContext } from './api-context.js';
import { ValidationError } from '../../errors/validation-error.js';
import { ConflictError, NotFoundError } from '../../store/store-errors.js';
import type { Network } from '../../store/repositories/networks-repository.js';
import { parseIpv4 } from '../../network/ipv4.js';
import { networkIssues, subnetSpan, subnetsOverlap } from '../network-rules.js';

const HOLD_ERRORS = 'An address the network does not hand out (outside its subnet or range, its network, gateway or broadcast address) is a 400 naming `address`; one leased to a VM, or (holding) already held, or (releasing) not held, a 409 naming `address`. Nothing changes on a refusal.';
const HOLD_DESCRIPTION = 'Takes a free address out of allocation (admin): no VM is given it until it is released. ' + HOLD_ERRORS;

export function registerNetworkRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['networks'];
  /**
   * Creations run one at a time: the overlap check and the insert must not
   * interleave with another creation (this controller is the only writer of networks).
   */
  let creating: Promise<unknown> = Promise.resolve();

  // Networks are everyone's to list and put NICs on until an admin shares one with groups: then only their members'. Only an admin shapes them.
  r.get('/api/v1/networks', { schema: { tags, response: { 200: z.array(networkView) } } }, async (req) =>
    Promise.all((await accessOf(ctx, req).filter('read', 'network', await ctx.store.networks.list())).map((n) => ctx.views.network(n))),
  );
  r.get('/api/v1/networks/:id', { schema: { tags, params: idParams, response: { 200: networkDetailView } } }, async (req) =>
    ctx.views.networkDetail(await ctx.catalog.findNetwork(req.params.id, userOf(req)), (vms) => accessOf(ctx, req).filter('read', 'vm', vms)),
  );
  r.post('/api/v1/networks', { schema: { tags, body: createNetworkBody, response: { 201: networkView } } }, async (req, reply) => {
    requireAdmin(req, 'creating a network');
    const b = req.body;
    const issues = networkIssues(b);
    if (issues.length > 0) throw new ValidationError('network', issues);
    const create = creating.then(async () => {
      const all = await ctx.store.networks.list();
      const clash = all.find((n) => subnetsOverlap(n.cidr, b.cidr));
      if (clash) throw new ConflictError('network', 'cidr', b.cidr, `overlaps network ${clash.name} (${clash.cidr})`);
      if (all.some((n) => n.name === b.name)) throw new ConflictError('network', 'name', b.name, 'already exists');
      return ctx.store.networks.create({
        name: b.name,
        cidr: b.cidr,
        gateway: b.gateway ?? null,
        dns: b.dns ?? [],
        vlan: b.vlan ?? null,
        ...(b.bridge !== undefined ? { bridge: b.bridge } : {}),
        ...(b.range ? { range: b.range } : {}),
        ...(b.cluster !== undefined ? { cluster: b.cluster } : {}),
      });
    });
    creating = create.catch(() => undefined);
    return reply.status(201).send(await ctx.views.network(await create));
  });
  r.delete('/api/v1/networks/:id', { schema: { tags, params: idParams } }, async (req, reply) => {
    requireAdmin(req, 'deleting a network');
    const n = await ctx.catalog.findNetwork(req.params.id);
    await ctx.store.networks.delete(n.id); // 409 while any address is leased
    return reply.status(204).send();
  });
  r.post('/api/v1/networks/:id/holds', { schema: { tags, description: HOLD_DESCRIPTION, params: idParams, body: holdBody, response: { 201: leaseView } } }, async (req, reply) => {
    requireAdmin(req, 'holding an address');
    const n = await ctx.catalog.findNetwork(req.params.id);
    return reply.status(201).send(await ctx.views.lease(await ctx.store.leases.hold(n.id, req.body.address).catch(notLeasable(n, req.body.address))));
  });
  r.delete('/api/v1/networks/:id/holds/:address', { schema: { tags, description: 'Gives a held address back to allocation (admin). ' + HOLD_ERRORS, params: holdParams, response: { 200: leaseView } } }, async (req) => {
    requireAdmin(req, 'releasing a held address');
    const n = await ctx.catalog.findNetwork(req.params.id);
    return ctx.views.lease(await ctx.store.leases.unhold(n.id, req.params.address).catch(notLeasable(n, req.params.address)));
  });
}

/**
 * The store has no lease row for an address the network does not hand out: to the
 * admin who typed it that is a wrong address (400 naming `address`, and why), not a
 * missing "lease <network id>/<address>".
 */
function notLeasable(net: Network, address: string): (err: unknown) => never {
  return (err) => {
    if (!(err instanceof NotFoundError) || err.resource !== 'lease') throw err;
    const n = parseIpv4(address);
    const span = subnetSpan(net.cidr);
    const why = n !== undefined && span && (n < span.first || n >= span.end)
      ? `is outside network ${net.name} (${net.cidr})`
      : `is not an address network ${net.name} leases (its network, gateway or broadcast address, or outside its range)`;
    throw new ValidationError('hold', [{ field: 'address', message: `${address} ${why}` }]);
  };
}
