import { z } from 'zod';
import { QUOTA_RESOURCES, type QuotaResource } from '../core/quota/quota.js';

/**
 * The native API's shapes for quotas (`/api/v1/quota`, `/api/v1/users/:id/quota`,
 * `/api/v1/groups/:id/quota`). Counts are whole numbers; memory and disk are
 * MiB. A limit of null is unlimited.
 */

const limit = z.number().int('must be a whole number').nonnegative('must be 0 or more').max(Number.MAX_SAFE_INTEGER).nullable();

/** Each resource's limit; null: unlimited. */
export const quotaLimitsView = z.object(Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, limit])) as Record<QuotaResource, typeof limit>);
export type QuotaLimitsView = z.infer<typeof quotaLimitsView>;

const amount = z.number().int().nonnegative();
export const quotaUsageView = z.object(Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, amount])) as Record<QuotaResource, typeof amount>);
export type QuotaUsageView = z.infer<typeof quotaUsageView>;

export const quotaLineView = z.object({
  resource: z.enum(QUOTA_RESOURCES),
  limit: z.number().nullable(),
  used: z.number(),
  /** used / limit in percent (a tenth), null when unlimited. */
  percent: z.number().nullable(),
});

export const quotaView = z.object({
  subject: z.object({ kind: z.enum(['user', 'group']), id: z.string(), name: z.string() }),
  limits: quotaLimitsView,
  usage: quotaUsageView,
  lines: z.array(quotaLineView),
  /** A group's members and what each uses: those the caller may see (a group admin, an admin: all). */
  members: z.array(z.object({ userId: z.string(), name: z.string(), usage: quotaUsageView })).optional(),
});
export type QuotaView = z.infer<typeof quotaView>;

/**
 * A change of limits: a number sets one, null makes it unlimited, an absent
 * resource keeps its limit. Unknown fields are errors naming them.
 */
export const setQuotaBody = z.strictObject(Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, limit.optional()])) as Record<QuotaResource, z.ZodOptional<typeof limit>>);
export type SetQuotaBody = z.input<typeof setQuotaBody>;
