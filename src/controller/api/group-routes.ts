import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { addMemberBody, createGroupBody, groupView, memberParams, type GroupView } from '../../contract/group-schemas.js';
import { ValidationError } from '../../errors/validation-error.js';
import type { Group } from '../../store/repositories/groups-repository.js';
import type { User } from '../../store/repositories/users-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { NotFoundError } from '../../store/store-errors.js';
import { accessOf, type ApiContext } from './api-context.js';
import { ForbiddenError } from './forbidden-error.js';

/** A group by id or name, when the caller may read it (a member, or an admin); else 404. */
export async function findGroup(ctx: ApiContext, req: FastifyRequest, ref: string): Promise<Group> {
  const g = (await findOrUndefined(ctx.store.groups.get(ref))) ?? (await ctx.store.groups.findByName(ref));
  if (!g) throw new NotFoundError('group', ref);
  return accessOf(ctx, req).check('read', 'group', g);
}

async function view(ctx: ApiContext, g: Group): Promise<GroupView> {
  const members = await Promise.all((await ctx.store.groups.members(g.id)).map(async (m) => ({
    userId: m.userId, name: (await findOrUndefined(ctx.store.users.get(m.userId)))?.name ?? m.userId, admin: m.admin,
  })));
  return { id: g.id, name: g.name, createdAt: g.createdAt, members };
}

/** A user named in a body: an unknown one is that field's error, not a 404 of the route. */
async function memberNamed(ctx: ApiContext, ref: string): Promise<User> {
  const byId = await findOrUndefined(ctx.store.users.get(ref));
  const u = byId && byId.deletedAt === null ? byId : await ctx.store.users.findByName(ref);
  if (!u) throw new ValidationError('member', [{ field: 'user', message: `no user ${ref}` }]);
  return u;
}

/**
 * Groups: admins make and delete them; a group's admins (and the cloud's)
 * add and remove its members; members read it. What is shared with a group
 * (images, templates, networks) its members may read and use.
 */
export function registerGroupRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['groups'];
  r.get('/api/v1/groups', { schema: { tags, summary: 'The groups the caller may see: all for an admin, their own for others', response: { 200: z.array(groupView) } } }, async (req) =>
    Promise.all((await accessOf(ctx, req).filter('read', 'group', await ctx.store.groups.list())).map((g) => view(ctx, g))),
  );
  r.post('/api/v1/groups', { schema: { tags, summary: 'Create a group (admin)', body: createGroupBody, response: { 201: groupView } } }, async (req, reply) => {
    await accessOf(ctx, req).checkCreate('group', 'creating a group');
    return reply.status(201).send(await view(ctx, await ctx.store.groups.create(req.body)));
  });
  r.get('/api/v1/groups/:id', { schema: { tags, params: idParams, summary: 'A group by id or name, with its members', response: { 200: groupView } } }, async (req) =>
    view(ctx, await findGroup(ctx, req, req.params.id)),
  );
  r.delete('/api/v1/groups/:id', {
    schema: { tags, params: idParams, summary: 'Delete a group (admin): its memberships and shares go with it', response: { 200: groupView } },
  }, async (req) => {
    const g = await accessOf(ctx, req).check('delete', 'group', await findGroup(ctx, req, req.params.id), 'deleting a group');
    const before = await view(ctx, g);
    await ctx.store.groups.delete(g.id);
    return before;
  });
  r.post('/api/v1/groups/:id/members', {
    schema: { tags, params: idParams, summary: 'Add a member, or change a member\'s admin flag (the group\'s admins; only a cloud admin makes group admins)', body: addMemberBody, response: { 200: groupView } },
  }, async (req) => {
    const access = accessOf(ctx, req);
    const g = await access.check('manage', 'group', await findGroup(ctx, req, req.params.id), 'changing the members of a group');
    const u = await memberNamed(ctx, req.body.user);
    if (req.body.admin === true && !access.isAdmin) throw new ForbiddenError('making a group admin');
    await ctx.store.groups.setMember(g.id, u.id, req.body.admin === true);
    return view(ctx, g);
  });
  r.delete('/api/v1/groups/:id/members/:user', {
    schema: { tags, params: memberParams, summary: 'Remove a member (the group\'s admins); what was shared with the group is no longer theirs from the next request', response: { 200: groupView } },
  }, async (req) => {
    const access = accessOf(ctx, req);
    const g = await access.check('manage', 'group', await findGroup(ctx, req, req.params.id), 'changing the members of a group');
    const u = await memberNamed(ctx, req.params.user);
    // A group admin could otherwise demote a fellow admin by removing and re-adding them.
    const member = (await ctx.store.groups.members(g.id)).find((m) => m.userId === u.id);
    if (member?.admin === true && !access.isAdmin && u.id !== access.user.id) throw new ForbiddenError('removing a group admin');
    await ctx.store.groups.removeMember(g.id, u.id);
    return view(ctx, g);
  });
}
