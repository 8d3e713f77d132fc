import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { listMigrationsQuery, migrateVmBody, migrationView } from '../../contract/migration-schemas.js';
import { byIdPrefix } from './match-reference.js';
import { accessOf, findVisibleVm, requireAdmin, type ApiContext } from './api-context.js';
import { NotFoundError } from '../../store/store-errors.js';
import type { MigrationRecord } from '../../store/repositories/migrations-repository.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';

/**
 * Migration (live, or cold for a VM at rest): starting one is an operator's action (admins; the source
 * and destination are hosts, which users do not see), watching one is
 * anyone's who can see the VM. Progress also streams as `migration.*` events.
 */
export function registerMigrationRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['migrations'];
  const findVm = (req: FastifyRequest, ref: string): Promise<Vm> => findVisibleVm(ctx, req, ref);
  const visible = async (req: FastifyRequest, m: MigrationRecord): Promise<MigrationRecord> => {
    const vm = await findOrUndefined(ctx.store.vms.get(m.vmId));
    if (!vm) throw new NotFoundError('migration', m.id);
    await accessOf(ctx, req).check('read', 'migration', { id: m.id, ownerId: vm.ownerId });
    return m;
  };

  r.post('/api/v1/vms/:id/migrate', {
    schema: {
      tags,
      summary: 'Migrate a VM to another host (admins)',
      description:
        'A running VM migrates live (kind `live`: pre-copy, the VM keeps running). A powered-off or suspended VM migrates cold (kind `cold`): ' +
        'the destination agent copies its disk overlay, config drive and saved memory from the source agent, verifies them (sha256 on both sides) ' +
        'and the VM stays powered off or suspended on the destination; of the policy only `maxBandwidthMiBps` and `timeoutS` apply to it. ' +
        'Without `to` the placement rules choose the destination. A refused pre-check is a 409 MIGRATION_REFUSED naming its `check` and `field`.',
      params: idParams, body: migrateVmBody, response: { 202: migrationView },
    },
  }, async (req, reply) => {
    requireAdmin(req, 'migrating a VM');
    const vm = await findVm(req, req.params.id);
    const m = await ctx.migrations.start(vm.id, { to: req.body.to, policy: req.body.policy ?? {} });
    return reply.status(202).send(await ctx.views.migration(m));
  });

  r.get('/api/v1/migrations', { schema: { tags, querystring: listMigrationsQuery, response: { 200: z.array(migrationView) } } }, async (req) => {
    const vmId = req.query.vm === undefined ? undefined : (await findVm(req, req.query.vm)).id;
    const all = await ctx.store.migrations.list({ ...(vmId !== undefined ? { vmId } : {}), ...(req.query.state !== undefined ? { state: req.query.state } : {}) });
    const mine = accessOf(ctx, req).isAdmin ? all : (await Promise.all(all.map((m) => findOrUndefined(visible(req, m))))).filter((m) => m !== undefined);
    return Promise.all(mine.map((m) => ctx.views.migration(m)));
  });

  // By id or by the short id the tables show.
  const findMigration = async (req: FastifyRequest, ref: string): Promise<MigrationRecord> => {
    const byId = await findOrUndefined(ctx.store.migrations.get(ref));
    if (byId) return visible(req, byId);
    const mine = (await Promise.all((await ctx.store.migrations.list()).map((m) => findOrUndefined(visible(req, m))))).filter((m) => m !== undefined);
    const found = byIdPrefix('migration', ref, mine);
    if (!found) throw new NotFoundError('migration', ref);
    return found;
  };

  r.get('/api/v1/migrations/:id', { schema: { tags, params: idParams, response: { 200: migrationView } } }, async (req) =>
    ctx.views.migration(await findMigration(req, req.params.id)),
  );

  r.post('/api/v1/migrations/:id/cancel', { schema: { tags, params: idParams, response: { 202: migrationView } } }, async (req, reply) => {
    requireAdmin(req, 'cancelling a migration');
    const m = await findMigration(req, req.params.id);
    await ctx.migrations.cancel(m.id);
    return reply.status(202).send(await ctx.views.migration(await ctx.store.migrations.get(m.id)));
  });
}
