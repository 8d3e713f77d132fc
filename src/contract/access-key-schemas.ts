import { z } from 'zod';
import { resourceIdSchema } from './api-schemas.js';

/** The native API's shapes for a user's AWS access keys (`/api/v1/users/:id/access-keys`), used by the EC2 and S3 listeners' SigV4. */

/** A key as listed: never its secret. */
export const accessKeyView = z.object({ accessKeyId: z.string(), userId: z.string(), description: z.string(), createdAt: z.string() });
export type AccessKeyView = z.infer<typeof accessKeyView>;

export const createAccessKeyBody = z.strictObject({
  description: z.string().max(256).regex(/^[^\p{Cc}]*$/u, 'no control characters').optional().describe('what the key is for (a script, a machine)'),
});
export type CreateAccessKeyBody = z.input<typeof createAccessKeyBody>;

/** A new key with its secret: the only time the secret is shown. */
export const createdAccessKeyView = accessKeyView.extend({ secretAccessKey: z.string() });
export type CreatedAccessKeyView = z.infer<typeof createdAccessKeyView>;

export const accessKeyParams = z.object({ id: resourceIdSchema, key: z.string().regex(/^AKIA[A-Z2-7]{16}$/, 'an access key id: AKIA and 16 base32 characters') });
