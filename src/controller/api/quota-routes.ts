import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idParams } from '../../contract/api-schemas.js';
import { quotaView, setQuotaBody, type QuotaView } from '../../contract/quota-schemas.js';
import { QUOTA_RESOURCES, quotaLines, type QuotaLimits } from '../../core/quota/quota.js';
import type { QuotaSubject } from '../../store/repositories/quotas-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { accessOf, userOf, type ApiContext } from './api-context.js';
import { findGroup } from './group-routes.js';
import { findUser } from './user-admin-routes.js';

const limitsView = (l: QuotaLimits): QuotaView['limits'] => Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, l[r] ?? null])) as QuotaView['limits'];

async function view(ctx: ApiContext, req: FastifyRequest, s: QuotaSubject, name: string): Promise<QuotaView> {
  const limits = await ctx.store.quotas.limits(s);
  const usage = await ctx.store.quotas.usage(s);
  const out: QuotaView = { subject: { kind: s.kind, id: s.id, name }, limits: limitsView(limits), usage, lines: quotaLines(limits, usage) };
  if (s.kind === 'user') return out;
  // Each member's use only where the caller may read that member's quota (core/access: the group's admins, admins).
  const each = await ctx.store.quotas.memberUsage(s.id);
  const readable = new Set((await accessOf(ctx, req).filter('read', 'user-quota', each.map((m) => ({ id: m.userId })))).map((m) => m.id));
  const members = await Promise.all(each.filter((m) => readable.has(m.userId)).map(async (m) => ({
    userId: m.userId, name: (await findOrUndefined(ctx.store.users.get(m.userId)))?.name ?? m.userId, usage: m.usage,
  })));
  return { ...out, members };
}

/**
 * Quotas (issue 13): limits per user and per group and what counts against
 * them. A user reads their own, a group's members its group's, a group admin
 * also each member's; only admins set limits (core/access.ts: no one else
 * has `manage` of a quota), so no one raises their own.
 */
export function registerQuotaRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['quotas'];
  const setDescription = 'Only admins set limits (403 to a user or group admin who may read the quota). A number sets the limit (whole, ≥ 0; memoryMiB and diskMiB in MiB), ' +
    'null makes it unlimited, an absent resource keeps its limit; 400 naming each bad field, nothing changed. A limit below what is in use takes nothing away: ' +
    'only growth is refused (409 QUOTA_EXCEEDED) from then on.';
  r.get('/api/v1/quota', { schema: { tags, summary: 'The caller\'s own limits and usage', response: { 200: quotaView } } }, async (req) => {
    const u = userOf(req);
    return view(ctx, req, { kind: 'user', id: u.id }, u.name);
  });
  r.get('/api/v1/users/:id/quota', {
    schema: { tags, params: idParams, summary: 'A user\'s limits and usage (the user, their group admins, admins; others 404)', response: { 200: quotaView } },
  }, async (req) => {
    const u = await accessOf(ctx, req).check('read', 'user-quota', await findUser(ctx, req, req.params.id));
    return view(ctx, req, { kind: 'user', id: u.id }, u.name);
  });
  r.put('/api/v1/users/:id/quota', {
    schema: { tags, params: idParams, summary: 'Set a user\'s limits (admin)', description: setDescription, body: setQuotaBody, response: { 200: quotaView } },
  }, async (req) => {
    const u = await accessOf(ctx, req).check('manage', 'user-quota', await findUser(ctx, req, req.params.id), 'setting a quota');
    await ctx.store.quotas.setLimits({ kind: 'user', id: u.id }, req.body);
    return view(ctx, req, { kind: 'user', id: u.id }, u.name);
  });
  r.get('/api/v1/groups/:id/quota', {
    schema: {
      tags, params: idParams, response: { 200: quotaView },
      summary: 'A group\'s limits and usage, the sum over its members (members and admins; each member\'s use for the group\'s admins); others 404',
      description: 'A user in several groups counts in each: every group\'s limit caps all its members\' resources.',
    },
  }, async (req) => {
    const g = await accessOf(ctx, req).check('read', 'group-quota', await findGroup(ctx, req, req.params.id));
    return view(ctx, req, { kind: 'group', id: g.id }, g.name);
  });
  r.put('/api/v1/groups/:id/quota', {
    schema: { tags, params: idParams, summary: 'Set a group\'s limits (admin): they cap the sum over its members', description: setDescription, body: setQuotaBody, response: { 200: quotaView } },
  }, async (req) => {
    const g = await accessOf(ctx, req).check('manage', 'group-quota', await findGroup(ctx, req, req.params.id), 'setting a quota');
    await ctx.store.quotas.setLimits({ kind: 'group', id: g.id }, req.body);
    return view(ctx, req, { kind: 'group', id: g.id }, g.name);
  });
}
