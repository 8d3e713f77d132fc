import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { accessKeyParams, accessKeyView, createAccessKeyBody, createdAccessKeyView, type AccessKeyView } from '../../contract/access-key-schemas.js';
import type { AccessKey } from '../../store/repositories/access-keys-repository.js';
import type { User } from '../../store/repositories/users-repository.js';
import type { AccessKeys } from '../access-keys.js';
import { accessOf, type ApiContext } from './api-context.js';
import { findUser } from './user-admin-routes.js';

const view = (k: AccessKey): AccessKeyView => ({ accessKeyId: k.id, userId: k.userId, description: k.description, createdAt: k.createdAt });

/** A user's AWS access keys (SigV4 for the EC2 and S3 listeners): each user manages their own, an admin anyone's — the same rule as API tokens. */
export function registerAccessKeyRoutes(app: FastifyInstance, ctx: ApiContext, keys: AccessKeys): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['users'];
  const owner = async (req: FastifyRequest, ref: string): Promise<User> =>
    accessOf(ctx, req).check('operate', 'user', await findUser(ctx, req, ref), 'managing another user\'s access keys');
  r.get('/api/v1/users/:id/access-keys', {
    schema: { tags, params: idParams, summary: 'A user\'s AWS access keys (ids, descriptions, dates; never the secrets)', response: { 200: z.array(accessKeyView) } },
  }, async (req) => (await keys.list((await owner(req, req.params.id)).id)).map(view));
  r.post('/api/v1/users/:id/access-keys', {
    schema: {
      tags, params: idParams, body: createAccessKeyBody, response: { 201: createdAccessKeyView },
      summary: 'A new AWS access key for the user (EC2 and S3 APIs, SigV4); the secret is shown only in this answer',
      description: 'The secret is stored sealed with AES-256-GCM under the controller\'s key file (NUBO_HOME/access-keys.key), not hashed: SigV4 verification needs the secret itself.',
    },
  }, async (req, reply) => {
    const made = await keys.create((await owner(req, req.params.id)).id, req.body.description ?? '');
    return reply.status(201).send({ ...view(made.key), secretAccessKey: made.secretAccessKey });
  });
  r.delete('/api/v1/users/:id/access-keys/:key', {
    schema: { tags, params: accessKeyParams, summary: 'Delete (revoke) an access key; requests signed with it fail from the very next one' },
  }, async (req, reply) => {
    await keys.delete((await owner(req, req.params.id)).id, req.params.key);
    return reply.status(204).send();
  });
}
