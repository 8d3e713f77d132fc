import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { decide, type ResourceFacts } from '../../core/access.js';
import { computeUsageReport } from '../../core/usage/usage-report.js';
import { parseUsageMonth } from '../../core/usage/usage-month.js';
import { DEFAULT_USAGE_PRICES } from '../../core/usage/usage-prices.js';
import { usageQuery, usageReportView, type UsageReportView } from '../../contract/usage-schemas.js';
import { ValidationError } from '../../errors/validation-error.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { NotFoundError } from '../../store/store-errors.js';
import type { Access } from './access-control.js';
import { accessOf, userOf, type ApiContext } from './api-context.js';

const DESCRIPTION = [
  'The showback of one calendar month (UTC): one line per VM (and the group it was charged to) with vCPU-hours, memory and disk GiB-hours and their cost at the',
  'controller\'s configured prices, totals per user, per group and overall. Charged: running states (boot, running, migrating, shutdown, saving) vCPUs + memory + disk;',
  'resting ones (prolog, epilog, poweroff, suspended, stopped, failed, unknown) the disk alone; pending and terminated nothing. A record across the month\'s boundary',
  'is split there; one still open is charged up to `until` (the month\'s end, or now). Each line is rounded once, half up (hours to 6 places, the cost to the prices\'',
  '`decimals`); every total is the sum of its lines, exactly. Without `user` or `group`: everything for an admin, the caller\'s own for anyone else.',
  'An unknown user or group is a 400 naming the field; one the caller may not read is a 404.',
].join(' ');

/** The report's subject as core/access sees it; refused as a 404 (the caller may not know what others spent). */
async function checkSubject(access: Access, facts: ResourceFacts, resource: string, id: string): Promise<void> {
  if (access.isAdmin) return;
  if (decide(await access.actor(), 'read', facts) !== 'allow') throw new NotFoundError(resource, id);
}

/** `GET /api/v1/usage`: the showback report (store records from migration 0009, arithmetic in core/usage). */
export function registerUsageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/api/v1/usage', {
    schema: { tags: ['usage'], summary: 'Usage and cost of a month, per VM, user and group', description: DESCRIPTION, querystring: usageQuery, response: { 200: usageReportView } },
  }, async (req): Promise<UsageReportView> => {
    const q = req.query;
    const month = parseUsageMonth(q.month);
    if (q.user !== undefined && q.group !== undefined) throw new ValidationError('usage query', [{ field: 'group', message: 'give user or group, not both' }]);
    const access = accessOf(ctx, req);
    let filter: { ownerId?: string; groupId?: string } = {};
    if (q.group !== undefined) {
      const g = (await findOrUndefined(ctx.store.groups.get(q.group))) ?? (await ctx.store.groups.findByName(q.group));
      if (!g) throw new ValidationError('usage query', [{ field: 'group', message: `no group ${q.group}` }]);
      await checkSubject(access, { kind: 'usage', groupId: g.id }, 'group', q.group);
      filter = { groupId: g.id };
    } else if (q.user !== undefined || !access.isAdmin) {
      const ref = q.user ?? 'me';
      // A deleted user's id still finds them: their terminated VMs are still accounted.
      const u = ref === 'me' ? userOf(req) : (await findOrUndefined(ctx.store.users.get(ref))) ?? (await ctx.store.users.findByName(ref));
      if (!u) throw new ValidationError('usage query', [{ field: 'user', message: `no user ${ref}` }]);
      const groups = (await ctx.store.groups.membershipsOf(u.id)).map((m) => m.groupId);
      await checkSubject(access, { kind: 'usage', ownerId: u.id, ownerGroups: groups }, 'user', ref);
      filter = { ownerId: u.id };
    }
    const records = await ctx.store.usage.list({ from: new Date(month.start).toISOString(), to: new Date(month.end).toISOString(), ...filter });
    const report = computeUsageReport({
      intervals: records.map((x) => ({ ...x, from: Date.parse(x.startedAt), to: x.endedAt === null ? null : Date.parse(x.endedAt) })),
      month, now: Date.now(), prices: ctx.usagePrices ?? DEFAULT_USAGE_PRICES,
    });
    const users = new Map(await Promise.all([...new Set(report.lines.map((l) => l.ownerId))].map(async (id) => [id, (await findOrUndefined(ctx.store.users.get(id)))?.name ?? id] as const)));
    const groups = new Map(await Promise.all([...new Set(report.lines.flatMap((l) => (l.groupId === null ? [] : [l.groupId])))].map(async (id) => [id, (await findOrUndefined(ctx.store.groups.get(id)))?.name ?? id] as const)));
    const userName = (id: string): string => users.get(id) ?? id;
    const groupName = (id: string | null): string | null => (id === null ? null : groups.get(id) ?? id);
    const byName = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a.localeCompare(b));
    return {
      ...report,
      lines: report.lines.map((l) => ({ ...l, owner: userName(l.ownerId), group: groupName(l.groupId) }))
        .sort((a, b) => byName(a.owner, b.owner) || byName(a.group, b.group) || byName(a.vmName, b.vmName) || byName(a.vmId, b.vmId)),
      users: report.users.map((u) => ({ ...u, owner: userName(u.ownerId) })).sort((a, b) => byName(a.owner, b.owner)),
      groups: report.groups.map((g) => ({ ...g, group: groupName(g.groupId) })).sort((a, b) => byName(a.group, b.group)),
    };
  });
}
