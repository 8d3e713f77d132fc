import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import {
  createTokenBody, createUserBody, createdTokenView, createdUserView, tokenParams, tokenView, updateUserBody, userDetailView, userView,
  type UserDetailView, type UserView,
} from '../../contract/user-schemas.js';
import type { User } from '../../store/repositories/users-repository.js';
import { NotFoundError } from '../../store/store-errors.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { accessOf, userOf, type ApiContext } from './api-context.js';

export const userViewOf = (u: User): UserView => ({ id: u.id, name: u.name, role: u.role, sshKeys: [...u.sshKeys], createdAt: u.createdAt });

/** A user by id, name or `me`, when the caller may read them (else 404, as if there were none). */
export async function findUser(ctx: ApiContext, req: FastifyRequest, ref: string): Promise<User> {
  const me = userOf(req);
  if (ref === 'me') return me;
  const byId = await findOrUndefined(ctx.store.users.get(ref));
  const u = byId && byId.deletedAt === null ? byId : await ctx.store.users.findByName(ref);
  if (!u) throw new NotFoundError('user', ref);
  return accessOf(ctx, req).check('read', 'user', u);
}

async function detail(ctx: ApiContext, u: User): Promise<UserDetailView> {
  const ms = await ctx.store.groups.membershipsOf(u.id);
  const groups = await Promise.all(ms.map(async (m) => ({ id: m.groupId, name: (await ctx.store.groups.get(m.groupId)).name, admin: m.admin })));
  return { ...userViewOf(u), groups };
}

/**
 * Users (admins make, change and delete them; a group admin reads the
 * group's members; a user reads themselves) and their API tokens (each user
 * manages their own; an admin anyone's). Every check is the Access's.
 */
export function registerUserAdminRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['users'];
  r.get('/api/v1/users', { schema: { tags, summary: 'The users the caller may see: all for an admin, the members of the groups they administer for a group admin, themselves for others', response: { 200: z.array(userView) } } }, async (req) =>
    (await accessOf(ctx, req).filter('read', 'user', await ctx.store.users.list())).map(userViewOf),
  );
  r.post('/api/v1/users', {
    schema: { tags, summary: 'Create a user (admin); the answer holds their first token, shown only this once', body: createUserBody, response: { 201: createdUserView } },
  }, async (req, reply) => {
    await accessOf(ctx, req).checkCreate('user', 'creating a user');
    const { user, token } = await ctx.store.users.create(req.body);
    return reply.status(201).send({ user: userViewOf(user), token });
  });
  r.get('/api/v1/users/:id', { schema: { tags, params: idParams, summary: 'A user by id, name or `me`, with their groups', response: { 200: userDetailView } } }, async (req) =>
    detail(ctx, await findUser(ctx, req, req.params.id)),
  );
  r.patch('/api/v1/users/:id', {
    schema: { tags, params: idParams, summary: 'Change a user\'s role (admin); the last admin cannot step down (409)', body: updateUserBody, response: { 200: userView } },
  }, async (req) => {
    const u = await accessOf(ctx, req).check('manage', 'user', await findUser(ctx, req, req.params.id), 'changing a role');
    return userViewOf(await ctx.store.users.setRole(u.id, req.body.role));
  });
  r.delete('/api/v1/users/:id', {
    schema: {
      tags, params: idParams, response: { 200: userView },
      summary: 'Delete a user (admin): their tokens stop working at once and they leave every group',
      description: 'Refused (409 CONFLICT naming what they own) while the user owns VMs that are not terminated, volumes, images or templates: terminate or delete those first. ' +
        'The record stays, marked deleted, for the terminated VMs that name the user; the name stays taken. The last admin cannot be deleted. ' +
        'Their access keys (EC2, S3) are refused from the next request on; a controller other than the one that deleted them, sharing its PostgreSQL, refuses them within 2 s.',
    },
  }, async (req) => {
    const u = await accessOf(ctx, req).check('manage', 'user', await findUser(ctx, req, req.params.id), 'deleting a user');
    const gone = await ctx.store.users.delete(u.id);
    // Their access keys stop verifying with them (the store's lookup joins the user): the ones this controller keeps opened go now.
    ctx.accessKeys?.forgetUser(u.id);
    return userViewOf(gone);
  });

  const tokenOwner = async (req: FastifyRequest, ref: string): Promise<User> =>
    accessOf(ctx, req).check('operate', 'user', await findUser(ctx, req, ref), 'managing another user\'s tokens');
  r.get('/api/v1/users/:id/tokens', { schema: { tags, params: idParams, summary: 'A user\'s API tokens (names and dates; never the tokens)', response: { 200: z.array(tokenView) } } }, async (req) =>
    (await ctx.store.tokens.list((await tokenOwner(req, req.params.id)).id)).map((t) => ({ id: t.id, name: t.name, createdAt: t.createdAt })),
  );
  r.post('/api/v1/users/:id/tokens', {
    schema: { tags, params: idParams, summary: 'A new API token for the user; shown only in this answer', body: createTokenBody, response: { 201: createdTokenView } },
  }, async (req, reply) => {
    const { token, record } = await ctx.store.tokens.create((await tokenOwner(req, req.params.id)).id, req.body);
    return reply.status(201).send({ id: record.id, name: record.name, createdAt: record.createdAt, token });
  });
  r.delete('/api/v1/users/:id/tokens/:token', {
    schema: { tags, params: tokenParams, summary: 'Revoke a token (by id or name); it fails from the very next request' },
  }, async (req, reply) => {
    await ctx.store.tokens.revoke((await tokenOwner(req, req.params.id)).id, req.params.token);
    return reply.status(204).send();
  });
}
