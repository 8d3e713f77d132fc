import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { User } from '../../store/repositories/users-repository.js';
import { setSshKeysBody, userView, type UserView } from '../../contract/user-schemas.js';
import { userOf, type ApiContext } from './api-context.js';

const view = (u: User): UserView => ({ id: u.id, name: u.name, role: u.role, sshKeys: [...u.sshKeys], createdAt: u.createdAt });

/** The caller's own account: who they are, and the ssh public keys their VMs get. */
export function registerUserRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['users'];
  r.get('/api/v1/users/me', { schema: { tags, response: { 200: userView } } }, async (req) => view(userOf(req)));
  // The config drive is built when a VM is prepared on its host: running VMs keep the keys they booted with.
  r.put('/api/v1/users/me/ssh-keys', {
    schema: { tags, summary: 'replace the caller\'s ssh public keys (for the VMs created from now on)', body: setSshKeysBody, response: { 200: userView } },
  }, async (req) => view(await ctx.store.users.setSshKeys(userOf(req).id, req.body.sshKeys)));
}
