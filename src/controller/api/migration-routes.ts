import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { cloudMigrationView, listMigrationsQuery, migrateVmBody, migrationDryRunView, migrationView, type CloudMigrationView, type MigrationView } from '../../contract/migration-schemas.js';
import type { CloudMigration } from '../../store/repositories/cloud-migrations-repository.js';
import { ValidationError } from '../../errors/validation-error.js';
import { MIGRATION_STATES } from '../../store/schema.js';
import { queuedView, withPlan } from './migration-plan-view.js';
import { byIdPrefix } from './match-reference.js';
import { accessOf, findVisibleVm, requireAdmin, type ApiContext } from './api-context.js';
import { NotFoundError } from '../../store/store-errors.js';
import type { MigrationRecord } from '../../store/repositories/migrations-repository.js';
import type { QueuedMigration } from '../../store/repositories/migration-queue-repository.js';
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

  const cloudView = async (m: CloudMigration): Promise<CloudMigrationView> => {
    const vm = await ctx.store.vms.get(m.vmId);
    const cloud = await findOrUndefined(ctx.store.clouds.get(m.cloudId));
    return {
      kind: 'cloud', vm: vm.name, vmId: vm.id, direction: m.direction, cloud: cloud?.name ?? m.cloudId, generation: m.generation, step: m.step, start: m.start,
      sha256: m.data['sha256'] ?? null, backSha256: m.data['backSha256'] ?? null, instanceId: m.data['instanceId'] ?? null, image: m.data['localImage'] ?? null,
      error: m.error, startedAt: m.createdAt, updatedAt: m.updatedAt,
    };
  };
  r.get('/api/v1/vms/:id/cloud-migration', {
    schema: {
      tags,
      summary: 'The VM\'s migration between clouds: in flight, or the last one',
      description: 'Anyone who can see the VM. 404 when it never migrated between a local host and a cloud.',
      params: idParams, response: { 200: cloudMigrationView },
    },
  }, async (req) => {
    const vm = await findVm(req, req.params.id);
    const m = await ctx.cloudMigrator?.get(vm.id);
    if (m === undefined) throw new NotFoundError('cloud migration', vm.name);
    return cloudView(m);
  });

  const view = async (m: MigrationRecord): Promise<MigrationView> => withPlan(ctx.store, m, await ctx.views.migration(m));
  // A queue entry is shown as its migration once it started, as itself before (queued) or when it never did (cancelled, refused).
  const viewById = async (id: string): Promise<MigrationView> => {
    const m = await findOrUndefined(ctx.store.migrations.get(id));
    return m ? view(m) : queuedView(ctx.store, await ctx.store.migrationQueue.get(id));
  };

  r.post('/api/v1/vms/:id/migrate', {
    schema: {
      tags,
      summary: 'Migrate a VM to another host (admins), through the migration queue; or only predict it (`dryRun`)',
      description:
        'A running VM migrates live (kind `live`: pre-copy, the VM keeps running). A powered-off or suspended VM migrates cold (kind `cold`): ' +
        'the destination agent copies its disk overlay, config drive and saved memory from the source agent, verifies them (sha256 on both sides) ' +
        'and the VM stays powered off or suspended on the destination; of the policy only `maxBandwidthMiBps` and `timeoutS` apply to it. ' +
        'Without `to` the placement rules choose the destination (a host that meets the VM\'s placement requirements). ' +
        'An explicit `to` must meet them too: else 409 MIGRATION_REFUSED with check `requirements`, field `to` and the expression, unless `force: true` ' +
        '(admins only, with `to`; every other check still applies, and the queue entry keeps it). A refused pre-check is a 409 MIGRATION_REFUSED naming its `check` and `field`. ' +
        'The pre-checks run at once; then the migration is queued with its `priority` and starts ' +
        'when the per-host limits (migrations at once, bandwidth budget) allow — at once when they do (state `running`), else state `queued`. ' +
        'Meanwhile the planner predicts total time and downtime (the guest\'s dirty rate measured by QEMU\'s calc-dirty-rate over one second ' +
        'from the request on, its memory, the link bandwidth of past migrations between the two hosts): neither the migration nor this answer ' +
        'waits for it (`prediction` is null in it until then); it is stored with the migration a moment later. ' +
        'With `dryRun: true` the answer is the pre-checks\' result and the prediction (200), and nothing is queued or changed. ' +
        'With `cloud` the migration is between clouds (cold, kind `cloud`, not queued): a registered cloud\'s name moves a powered-off VM from its local host to that cloud ' +
        '(its disk captured — the overlay flattened —, uploaded to the cloud\'s S3 bucket, RegisterImage, RunInstances, then the VM bound to the cloud and its local copy released); ' +
        '`local` brings a powered-off VM on a cloud back (CreateImage, ExportImage into the cloud\'s bucket, the object downloaded and checked against its sha256, ' +
        'registered as a local image, the VM placed on `to` or a host the placement rules choose; then the instance terminated, the AMI deregistered, the object deleted). ' +
        'It arrives powered off unless `start: true`. Refused before anything changes: a VM not powered off (409 INVALID_STATE naming its state), an unknown cloud (404), ' +
        'a cloud with no S3 bucket or no instance type for the VM\'s size, a VM with volumes or on the shared datastore (409 CONFLICT). ' +
        'The answer (202, kind `cloud`) is the journal of the migration; follow it with GET /api/v1/vms/{id}/cloud-migration. A cloud that refuses a step ends the migration, ' +
        'rolled back (the VM where it was, as it was; `error` says why); one that does not answer is waited for, the VM\'s state reason saying so.',
      params: idParams, body: migrateVmBody, response: { 200: migrationDryRunView, 202: z.union([migrationView, cloudMigrationView]) },
    },
  }, async (req, reply) => {
    requireAdmin(req, 'migrating a VM');
    const vm = await findVm(req, req.params.id);
    if (req.body.cloud !== undefined) {
      const m = ctx.cloudMigrator;
      if (m === undefined) throw new ValidationError('migration', [{ field: 'cloud', message: 'this controller has no remote clouds' }]);
      let started: CloudMigration;
      if (req.body.cloud === 'local') {
        let hostId: string | undefined;
        if (req.body.to !== undefined) {
          const host = (await ctx.store.hosts.findByName(req.body.to)) ?? (await findOrUndefined(ctx.store.hosts.get(req.body.to)));
          if (!host) throw new ValidationError('migration', [{ field: 'to', message: `no host ${req.body.to}` }]);
          hostId = host.id;
        }
        started = await m.migrateBack(vm, { start: req.body.start === true, hostId });
      } else {
        started = await m.migrateOut(vm, req.body.cloud, { start: req.body.start === true });
      }
      return reply.status(202).send(await cloudView(started));
    }
    if (req.body.dryRun === true) {
      const plan = await ctx.migrations.plan(vm.id, { to: req.body.to, policy: req.body.policy ?? {}, force: req.body.force });
      const prediction = await ctx.queue.planner.predict(plan);
      return reply.status(200).send({ dryRun: true, vm: vm.name, vmId: vm.id, kind: plan.kind, source: plan.source.name, destination: plan.dest.name, checks: 'passed', crossing: plan.crossing ?? null, prediction });
    }
    const q = await ctx.queue.enqueue(vm.id, { to: req.body.to, policy: req.body.policy ?? {}, priority: req.body.priority, force: req.body.force });
    return reply.status(202).send(await viewById(q.id));
  });

  r.get('/api/v1/migrations', { schema: { tags, querystring: listMigrationsQuery, response: { 200: z.array(migrationView) } } }, async (req) => {
    const vmId = req.query.vm === undefined ? undefined : (await findVm(req, req.query.vm)).id;
    const state = req.query.state;
    const recordState = MIGRATION_STATES.find((s) => s === state);
    const all = state !== undefined && recordState === undefined ? [] : await ctx.store.migrations.list({ ...(vmId !== undefined ? { vmId } : {}), ...(recordState !== undefined ? { state: recordState } : {}) });
    const mine = accessOf(ctx, req).isAdmin ? all : (await Promise.all(all.map((m) => findOrUndefined(visible(req, m))))).filter((m) => m !== undefined);
    // Entries that are not migrations (yet): waiting, cancelled, refused — in queue order, after the records.
    const entries = (await ctx.store.migrationQueue.list({ ...(vmId !== undefined ? { vmId } : {}) }))
      .filter((q) => q.state !== 'started' && (state === undefined || q.state === state));
    const shown = accessOf(ctx, req).isAdmin ? entries : (await Promise.all(entries.map(async (q) => {
      const v = await findOrUndefined(ctx.store.vms.get(q.vmId));
      return v && (await findOrUndefined(accessOf(ctx, req).check('read', 'migration', { id: q.id, ownerId: v.ownerId }).then(() => q)));
    }))).filter((q) => q !== undefined);
    return [...(await Promise.all(mine.map((m) => view(m)))), ...(await Promise.all(shown.map((q) => queuedView(ctx.store, q))))];
  });

  const visibleEntry = async (req: FastifyRequest, q: QueuedMigration): Promise<QueuedMigration> => {
    const vm = await findOrUndefined(ctx.store.vms.get(q.vmId));
    if (!vm) throw new NotFoundError('migration', q.id);
    await accessOf(ctx, req).check('read', 'migration', { id: q.id, ownerId: vm.ownerId });
    return q;
  };

  // By id or by the short id the tables show: a migration record, or a queue entry that never became one.
  const findMigration = async (req: FastifyRequest, ref: string): Promise<string> => {
    const byId = await findOrUndefined(ctx.store.migrations.get(ref));
    if (byId) return (await visible(req, byId)).id;
    const entry = await findOrUndefined(ctx.store.migrationQueue.get(ref));
    if (entry) return (await visibleEntry(req, entry)).id;
    const records = (await Promise.all((await ctx.store.migrations.list()).map((m) => findOrUndefined(visible(req, m))))).filter((m) => m !== undefined);
    const entries = (await Promise.all((await ctx.store.migrationQueue.list()).filter((q) => q.state !== 'started').map((q) => findOrUndefined(visibleEntry(req, q))))).filter((q) => q !== undefined);
    const found = byIdPrefix('migration', ref, [...records, ...entries]);
    if (!found) throw new NotFoundError('migration', ref);
    return found.id;
  };

  r.get('/api/v1/migrations/:id', { schema: { tags, params: idParams, response: { 200: migrationView } } }, async (req) =>
    viewById(await findMigration(req, req.params.id)),
  );

  r.post('/api/v1/migrations/:id/cancel', {
    schema: { tags, params: idParams, response: { 202: migrationView }, description: 'A queued migration leaves the queue (state `cancelled`); a running one is aborted as before.' },
  }, async (req, reply) => {
    requireAdmin(req, 'cancelling a migration');
    const id = await findMigration(req, req.params.id);
    const entry = await findOrUndefined(ctx.store.migrationQueue.get(id));
    if (entry?.state === 'queued' && !(await findOrUndefined(ctx.store.migrations.get(id)))) await ctx.queue.cancel(id);
    else await ctx.migrations.cancel(id);
    return reply.status(202).send(await viewById(id));
  });
}
