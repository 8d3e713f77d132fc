import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { SHARE_RESOURCES, shareBody, shareParams, shareView, type ShareResource, type ShareView } from '../../contract/share-schemas.js';
import { ValidationError } from '../../errors/validation-error.js';
import type { ShareKind } from '../../store/schema.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import type { Group } from '../../store/repositories/groups-repository.js';
import { accessOf, userOf, type ApiContext } from './api-context.js';

const KIND: Readonly<Record<ShareResource, ShareKind>> = { images: 'image', templates: 'template', networks: 'network' };

/** The resource of the path, found as its own routes find it (404 when the caller may not see it), then held to `share`. */
async function sharedResource(ctx: ApiContext, req: FastifyRequest, kind: ShareKind, ref: string): Promise<{ id: string; name: string }> {
  const user = userOf(req);
  const r = kind === 'image' ? await ctx.catalog.resolveImage(ref, user) : kind === 'template' ? await ctx.catalog.findTemplate(ref, user) : await ctx.catalog.findNetwork(ref, user);
  return accessOf(ctx, req).check('share', kind, r, `sharing ${kind} ${r.name}`);
}

/** The group a body or path names; one the caller is not in (unless an admin) is as unknown as one that does not exist. */
async function groupNamed(ctx: ApiContext, req: FastifyRequest, ref: string): Promise<Group> {
  const access = accessOf(ctx, req);
  const g = (await findOrUndefined(ctx.store.groups.get(ref))) ?? (await ctx.store.groups.findByName(ref));
  const mine = g !== undefined && (access.isAdmin || (await access.actor()).memberships.some((m) => m.groupId === g.id));
  if (!g || !mine) throw new ValidationError('share', [{ field: 'group', message: `no group ${ref}${access.isAdmin ? '' : ' among yours'}` }]);
  return g;
}

/**
 * Sharing an image, template or network with a group: its members may then
 * read and use it (a VM from the template, a NIC on the network), never
 * change or delete it. The owner (or an admin) shares, with a group they are
 * in. An admin's image or template is everyone's until shared: sharing it
 * narrows it to the groups; so is a network.
 */
export function registerShareRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const resource of SHARE_RESOURCES) {
    const kind = KIND[resource];
    const tags = [resource];
    const list = async (id: string): Promise<ShareView[]> => {
      const groups = (await ctx.store.shares.groupsOf(kind, [id])).get(id) ?? [];
      return Promise.all(groups.map(async (g) => ({ groupId: g, group: (await ctx.store.groups.get(g)).name })));
    };
    r.get(`/api/v1/${resource}/:id/shares`, { schema: { tags, params: idParams, summary: `The groups the ${kind} is shared with (its owner, or an admin)`, response: { 200: z.array(shareView) } } }, async (req) =>
      list((await sharedResource(ctx, req, kind, req.params.id)).id),
    );
    r.post(`/api/v1/${resource}/:id/shares`, {
      schema: { tags, params: idParams, body: shareBody, summary: `Share the ${kind} with a group: its members may read and use it`, response: { 201: z.array(shareView) } },
    }, async (req, reply) => {
      const it = await sharedResource(ctx, req, kind, req.params.id);
      const g = await groupNamed(ctx, req, req.body.group);
      await ctx.store.shares.add(kind, it.id, g.id);
      return reply.status(201).send(await list(it.id));
    });
    r.delete(`/api/v1/${resource}/:id/shares/:group`, {
      schema: { tags, params: shareParams, summary: `Stop sharing the ${kind} with a group (from the members' next request)`, response: { 200: z.array(shareView) } },
    }, async (req) => {
      const it = await sharedResource(ctx, req, kind, req.params.id);
      const g = await groupNamed(ctx, req, req.params.group);
      await ctx.store.shares.remove(kind, it.id, g.id);
      return list(it.id);
    });
  }
}
