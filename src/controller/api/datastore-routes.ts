import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams } from '../../contract/api-schemas.js';
import { createDatastoreBody, datastoreView, type DatastoreView } from '../../contract/datastore-schemas.js';
import type { Datastore } from '../../store/repositories/datastores-repository.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { User } from '../../store/repositories/users-repository.js';
import { NotFoundError } from '../../store/store-errors.js';
import { ValidationError } from '../../errors/validation-error.js';
import { requireAdmin, userOf, type ApiContext } from './api-context.js';
import { findHost } from './host-routes.js';
import { hostViewOf, type HostUsage } from '../host-view-of.js';

/**
 * A datastore as the caller may see it. Everyone reads its name, kind,
 * cluster and room (to pick one); admins also its host, path, the hosts that
 * see it now (a local one: its host; a shared one: the hosts of its cluster —
 * every cluster when it names none — whose agent mounts the shared datastore)
 * and what uses it.
 */
async function viewOf(ctx: ApiContext, d: Datastore, viewer: Pick<User, 'role'>, hosts: readonly Host[]): Promise<DatastoreView> {
  const own = d.hostId === null ? undefined : hosts.find((h) => h.id === d.hostId);
  const used = await ctx.store.datastores.users(d.id);
  const seeing = d.kind === 'local'
    ? (own !== undefined ? [own] : [])
    : hosts.filter((h) => (d.cluster === null || h.cluster === d.cluster) && h.state !== 'disabled' && hostViewOf(h).datastores.includes('shared'));
  const capacityMiB = d.kind === 'local' ? (own !== undefined && own.total.diskMib > 0 ? own.total.diskMib : d.capacityMib) : d.capacityMib;
  const usedMiB = d.kind === 'local' ? ((own?.usage as HostUsage | null | undefined)?.usedDiskMiB ?? null) : used.vmDiskMib;
  const base: DatastoreView = {
    id: d.id, name: d.name, kind: d.kind, cluster: d.kind === 'local' ? (own?.cluster ?? null) : d.cluster, capacityMiB, usedMiB, createdAt: d.createdAt,
  };
  if (viewer.role !== 'admin') return base;
  return { ...base, host: own?.name ?? d.hostId, path: d.path, hosts: seeing.map((h) => h.name).sort(), usedBy: { vms: [...used.vms], volumes: [...used.volumes], templates: [...used.templates] } };
}

/**
 * Datastores (issue 18): admins make and delete them; every user lists and
 * reads them (the room and cluster of each, to pick one). Deleting one that
 * VMs, volumes or templates use is refused naming them. Each write is one
 * transaction (failpoints `datastore-create`, `datastore-delete` before it,
 * `.done` after): cut anywhere, the datastore is wholly there or not, and a
 * retry is refused by name (create) or not found (delete).
 */
export function registerDatastoreRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['datastores'];
  r.get('/api/v1/datastores', {
    schema: { tags, summary: 'Datastores: name, kind, cluster and room (any user); admins also see host, path, the hosts that see each and what uses it', response: { 200: z.array(datastoreView) } },
  }, async (req) => {
    const user = userOf(req);
    const hosts = await ctx.store.hosts.list();
    return Promise.all((await ctx.store.datastores.list()).map((d) => viewOf(ctx, d, user, hosts)));
  });
  r.get('/api/v1/datastores/:id', { schema: { tags, summary: 'One datastore, by id or name', params: idParams, response: { 200: datastoreView } } }, async (req) => {
    const user = userOf(req);
    return viewOf(ctx, await ctx.store.datastores.get(req.params.id), user, await ctx.store.hosts.list());
  });
  r.post('/api/v1/datastores', {
    schema: {
      tags, body: createDatastoreBody, response: { 201: datastoreView },
      summary: 'Create a datastore (admin)',
      description: 'A `local` datastore is one host\'s directory (`host` required, no `cluster`: it is in its host\'s); a `shared` one is a directory the hosts of `cluster` ' +
        '(every cluster when none is named) mount at the same `path` (the agent\'s `--shared-dir`). 400 VALIDATION_FAILED naming the field (`host` unknown or missing, ' +
        '`cluster` unknown, `path` not absolute, …); 409 CONFLICT when the name is taken. Nothing is written on a refusal.',
    },
  }, async (req, reply) => {
    const admin = requireAdmin(req, 'creating a datastore');
    const b = req.body;
    let hostId: string | null = null;
    if (b.host !== undefined) {
      hostId = (await findHost(ctx.store, b.host).catch((err: unknown) => {
        if (err instanceof NotFoundError) throw new ValidationError('datastore', [{ field: 'host', message: `no host ${b.host}` }]);
        throw err;
      })).id;
    }
    await ctx.failpoints?.hit('datastore-create');
    const d = await ctx.store.datastores.create({ name: b.name, kind: b.kind, hostId, path: b.path, cluster: b.cluster ?? null, capacityMib: b.capacityMiB ?? null });
    await ctx.failpoints?.hit('datastore-create.done');
    return reply.status(201).send(await viewOf(ctx, d, admin, await ctx.store.hosts.list()));
  });
  r.delete('/api/v1/datastores/:id', {
    schema: {
      tags, params: idParams, response: { 200: datastoreView },
      summary: 'Delete a datastore (admin), by id or name; the answer is the datastore as it was',
      description: '409 CONFLICT while VMs (not terminated), volumes or templates use it: the message names each. Only the record goes: nubo never deletes the directory.',
    },
  }, async (req) => {
    const admin = requireAdmin(req, 'deleting a datastore');
    const hosts = await ctx.store.hosts.list();
    const before = await viewOf(ctx, await ctx.store.datastores.get(req.params.id), admin, hosts);
    await ctx.failpoints?.hit('datastore-delete');
    await ctx.store.datastores.delete(before.id);
    await ctx.failpoints?.hit('datastore-delete.done');
    return before;
  });
}
