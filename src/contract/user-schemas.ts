import { z } from 'zod';
import { MAX_SSH_KEY_CHARS, MAX_SSH_KEYS, parseSshPublicKey } from '../util/ssh-public-key.js';

/** The native API's shapes for users and their ssh keys (`/api/v1/users`). */

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
