import { z } from 'zod';
import { resourceIdSchema } from './api-schemas.js';

/** The native API's shapes for the showback report (`GET /api/v1/usage`). */

export const usageQuery = z.strictObject({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month as YYYY-MM (01–12, UTC)').describe('the calendar month, UTC (e.g. 2026-12)'),
  user: resourceIdSchema.optional().describe('one user\'s VMs (id, name or `me`): yourself, a member of a group you administer, anyone for an admin'),
  group: resourceIdSchema.optional().describe('the VMs charged to one group (id or name): its group admins and admins'),
});
export type UsageQuery = z.input<typeof usageQuery>;

/** Decimal strings, exact: hours to 6 places, the cost to the prices' `decimals` (one half-up rounding per line; totals are sums of lines). */
const figures = {
  vcpuHours: z.string(),
  memoryGibHours: z.string(),
  diskGibHours: z.string(),
  cost: z.string(),
};

export const usageLineView = z.object({
  vmId: z.string(),
  vmName: z.string(),
  ownerId: z.string(),
  owner: z.string().describe('the owner\'s name'),
  groupId: z.string().nullable().describe('the group this line is charged to (the owner\'s oldest membership when each record opened); null: none'),
  group: z.string().nullable(),
  ...figures,
  vcpuMs: z.string().describe('exact vCPU·milliseconds charged (an integer, as a string)'),
  memoryMibMs: z.string().describe('exact MiB·milliseconds of memory charged'),
  diskMibMs: z.string().describe('exact MiB·milliseconds of disk charged'),
  states: z.record(z.string(), z.number().int()).describe('milliseconds spent in each state within the report, charged or not'),
});
export type UsageLineView = z.infer<typeof usageLineView>;

export const usageReportView = z.object({
  month: z.string(),
  from: z.string().describe('the month\'s start (UTC)'),
  until: z.string().describe('where the report ends: the month\'s end, or now for the month under way (open records are charged up to here)'),
  prices: z.object({ currency: z.string(), decimals: z.number().int(), vcpuHour: z.string(), memoryGibHour: z.string(), diskGibHour: z.string() }),
  lines: z.array(usageLineView),
  users: z.array(z.object({ ownerId: z.string(), owner: z.string(), vms: z.number().int(), ...figures })),
  groups: z.array(z.object({ groupId: z.string().nullable(), group: z.string().nullable(), vms: z.number().int(), ...figures })),
  total: z.object({ vms: z.number().int(), ...figures }),
});
export type UsageReportView = z.infer<typeof usageReportView>;
