import { z } from 'zod';
import { resourceIdSchema } from './api-schemas.js';

/** The native API's shapes for sharing an image, template or network with a group (`/api/v1/{images,templates,networks}/{id}/shares`). */

export const SHARE_RESOURCES = ['images', 'templates', 'networks'] as const;
export type ShareResource = (typeof SHARE_RESOURCES)[number];

export const shareBody = z.strictObject({ group: resourceIdSchema.describe('the group\'s id or name') });
export type ShareBody = z.input<typeof shareBody>;
export const shareView = z.object({ groupId: z.string(), group: z.string(), createdAt: z.string().optional() });
export type ShareView = z.infer<typeof shareView>;
export const shareParams = z.object({ id: resourceIdSchema, group: resourceIdSchema });
