import { z } from 'zod';
import { resourceIdSchema, resourceNameSchema } from './api-schemas.js';
import { MAX_SSH_KEY_CHARS, MAX_SSH_KEYS, parseSshPublicKey } from '../util/ssh-public-key.js';

/** The native API's shapes for users, their ssh keys and their API tokens (`/api/v1/users`). */

export const userView = z.object({
  id: z.string(), name: z.string(), role: z.enum(['admin', 'user']),
  // Public keys, which the config drive gives the user's VMs (and `nubo vm ssh` matches against ~/.ssh).
  sshKeys: z.array(z.string()),
  createdAt: z.string(),
});
export type UserView = z.infer<typeof userView>;

/** One public key as in a .pub file; the line end and surrounding blanks such a file has are dropped. */
const sshPublicKeyLine = z.string().trim().min(1).max(MAX_SSH_KEY_CHARS).superRefine((line, ctx) => {
  const key = parseSshPublicKey(line);
  if (typeof key === 'string') ctx.addIssue({ code: 'custom', message: key });
});
/** The caller's whole list of keys (PUT replaces it); the VMs created afterwards get them in their config drive. */
export const setSshKeysBody = z.strictObject({
  sshKeys: z.array(sshPublicKeyLine).max(MAX_SSH_KEYS)
    .describe(`the public keys (at most ${MAX_SSH_KEYS}, one "type base64 [comment]" line of at most ${MAX_SSH_KEY_CHARS} characters each, as in ~/.ssh/id_ed25519.pub); they reach the VMs created from now on, not the running ones`),
});
export type SetSshKeysBody = z.input<typeof setSshKeysBody>;

/** The user's groups, as `GET /users/{id}` lists them. */
export const userDetailView = userView.extend({
  groups: z.array(z.object({ id: z.string(), name: z.string(), admin: z.boolean() })),
});
export type UserDetailView = z.infer<typeof userDetailView>;

export const userRoleSchema = z.enum(['admin', 'user']);

/** `POST /users` (admin). */
export const createUserBody = z.strictObject({
  name: resourceNameSchema,
  role: userRoleSchema.optional().describe('admin or user (default); a group admin is a user with the admin flag on a group membership'),
  sshKeys: z.array(sshPublicKeyLine).max(MAX_SSH_KEYS).optional(),
});
export type CreateUserBody = z.input<typeof createUserBody>;
/** The new user and their first token, named "first": the only time that token is shown. */
export const createdUserView = z.object({ user: userView, token: z.string() });
export type CreatedUserView = z.infer<typeof createdUserView>;

/** `PATCH /users/{id}` (admin): the role is never the user's own to change. */
export const updateUserBody = z.strictObject({ role: userRoleSchema });
export type UpdateUserBody = z.input<typeof updateUserBody>;

/** A token as listed: never the token itself. */
export const tokenView = z.object({ id: z.string(), name: z.string(), createdAt: z.string() });
export type TokenView = z.infer<typeof tokenView>;
export const createTokenBody = z.strictObject({ name: resourceNameSchema.describe('unique among the user\'s tokens, e.g. the machine or script that uses it') });
export type CreateTokenBody = z.input<typeof createTokenBody>;
/** A new token: the only time it is shown. */
export const createdTokenView = tokenView.extend({ token: z.string() });
export type CreatedTokenView = z.infer<typeof createdTokenView>;
export const tokenParams = z.object({ id: resourceIdSchema, token: resourceIdSchema });
