import { z } from 'zod';
import { resourceIdSchema, resourceNameSchema } from './api-schemas.js';

/** The native API's shapes for groups of users and their members (`/api/v1/groups`). */

export const groupMemberView = z.object({
  userId: z.string(), name: z.string(),
  /** A group admin manages the members and sees (and acts on) their VMs. */
  admin: z.boolean(),
});
export const groupView = z.object({ id: z.string(), name: z.string(), createdAt: z.string(), members: z.array(groupMemberView) });
export type GroupView = z.infer<typeof groupView>;

export const createGroupBody = z.strictObject({ name: resourceNameSchema });
export type CreateGroupBody = z.input<typeof createGroupBody>;

export const addMemberBody = z.strictObject({
  user: resourceIdSchema.describe('the user\'s id or name'),
  admin: z.boolean().optional().describe('make the member the group\'s admin (only a cloud admin may); default false'),
});
export type AddMemberBody = z.input<typeof addMemberBody>;
export const memberParams = z.object({ id: resourceIdSchema, user: resourceIdSchema });
