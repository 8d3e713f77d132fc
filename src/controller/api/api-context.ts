import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ForbiddenError } from './forbidden-error.js';
import type { Access } from './access-control.js';
import type { Store } from '../../store/open-store.js';
import type { User } from '../../store/repositories/users-repository.js';
import { NotFoundError } from '../../store/store-errors.js';
import type { Catalog } from '../catalog.js';
import type { EventAudience } from '../event-audience.js';
import type { HostMonitor } from '../host-monitor.js';
import type { ImageStore } from '../image-store.js';
import type { VmOrchestrator } from '../vm-orchestrator.js';
import type { MigrationService } from '../migration-service.js';
import type { Views } from './views.js';
import type { AgentClient } from '../../client/agent-client.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import type { TransferOffers } from '../../transfer/transfer-offers.js';
import type { MigrationQueue } from '../migration-queue.js';
import type { HostMaintenance } from '../host-maintenance.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';
import { AmbiguousIdError, byIdPrefix } from './match-reference.js';
import { InvariantError } from '../../errors/invariant-error.js';
import type { UsagePrices } from '../../core/usage/usage-prices.js';
import type { LeaseService } from '../leases/lease-service.js';
import type { DrsService } from '../drs-service.js';
import type { AutoscaleService } from '../autoscale-service.js';
import type { AccessKeys } from '../access-keys.js';
import type { InProcessCaller } from './in-process-caller.js';
import type { ImageObjects } from '../image-objects.js';
import type { CapacityCheck } from '../../store/repositories/capacity-check.js';
import type { PlacementPolicy } from '../../core/placement/placement-policy.js';
import type { CloudMigrator } from '../cloud-migrator.js';
import type { CloudBursting } from '../cloud-bursting.js';
import type { Failpoints } from '../../util/failpoints.js';

/** What the route modules share: the controller's parts, built once. */
export interface ApiContext {
  readonly store: Store;
  readonly catalog: Catalog;
  readonly images: ImageStore;
  readonly orchestrator: VmOrchestrator;
  readonly migrations: MigrationService;
  /** Every migration request goes through the queue (priorities, per-host limits). */
  readonly queue: MigrationQueue;
  readonly maintenance: HostMaintenance;
  readonly monitor: HostMonitor;
  readonly views: Views;
  /** Which events a caller may read (the event routes). */
  readonly audience: EventAudience;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** Stopped VMs' files offered to the agents that resume them (served on the transfer route, with the offer's own token). */
  readonly systemOffers: TransferOffers;
  /** The showback's prices (`nubo controller --prices`); none configured: everything costs 0. */
  readonly usagePrices?: UsagePrices | undefined;
  /** Capacity leases (`/api/v1/leases`); absent: the routes are not served. */
  readonly leases?: LeaseService | undefined;
  /** The rebalancer (drs-routes.ts); absent: no DRS routes. */
  readonly drs?: DrsService | undefined;
  /** Autoscaling groups (scaling-group-routes.ts); absent: no such routes. */
  readonly scalingGroups?: AutoscaleService | undefined;
  /** Users' AWS access keys (SigV4 of the EC2/S3 listeners); undefined: the routes are not served. */
  readonly accessKeys?: AccessKeys | undefined;
  /** Requests the controller makes to its own API as a user (the EC2 adaptor's); the auth hook asks it first. */
  readonly inProcess?: InProcessCaller | undefined;
  /** Images as objects of the system bucket (served with S3); undefined: no `from-s3` route, images served by the controller. */
  readonly imageObjects?: ImageObjects | undefined;
  /** The scheduler's rule for whether a host takes more (overcommit, maintenance): a resize reserves by it; absent: free room only. */
  readonly bindCheck?: CapacityCheck | undefined;
  /** The scheduler's placement policy: an admin's chosen host at create must pass its filters. */
  readonly placementPolicy: PlacementPolicy;
  /** Remote clouds (bursting, cloud-routes.ts); absent: no such routes. */
  readonly clouds?: CloudBursting | undefined;
  /** Cross-cloud cold migration (cloud-migrator.ts); absent: `migrate` names hosts only. */
  readonly cloudMigrator?: CloudMigrator | undefined;
  /** Test hooks (NUBO_FAILPOINTS) for the routes and adaptors that write in steps (`cluster-add-host`, OCCI's); absent: none. */
  readonly failpoints?: Failpoints | undefined;
}

export { ForbiddenError };

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user of an /api/v1 request (set by the auth hook). */
    user: User | null;
  }
}

export function userOf(req: FastifyRequest): User {
  if (!req.user) throw new InvariantError('route reached without authentication');
  return req.user;
}

const accesses = new WeakMap<FastifyRequest, Access>();

/** The request's one Access (core/access.ts's rules over the store's facts): every resource a route hands out goes through it. */
export function accessOf(ctx: ApiContext, req: FastifyRequest): Access {
  let a = accesses.get(req);
  if (!a) accesses.set(req, (a = ctx.catalog.access.forUser(userOf(req))));
  return a;
}

/** Admin-held operations (hosts, networks, migrations, images by path): in the rules table, only admins have `manage` and `create` of those. */
export function requireAdmin(req: FastifyRequest, what: string): User {
  const u = userOf(req);
  if (u.role !== 'admin') throw new ForbiddenError(what);
  return u;
}

/** The owner or an admin; others get "not found", not "forbidden", so ids do not leak. (Synchronous: a group admin's reach needs `accessOf`.) */
export function ensureVisible<T extends { ownerId: string }>(req: FastifyRequest, resource: string, r: T & { id: string }): T {
  const u = userOf(req);
  if (u.role !== 'admin' && r.ownerId !== u.id) throw new NotFoundError(resource, r.id);
  return r;
}

/**
 * A VM the caller may see, by id, by name, or by the start of its id (the short
 * ids tables show). A name means the live VM of that name; with none live, the
 * most recently terminated one (`vm show` of what was just terminated).
 * @throws AmbiguousIdError when several live VMs have the name, or several ids the prefix
 */
export async function findVisibleVm(ctx: ApiContext, req: FastifyRequest, ref: string): Promise<Vm> {
  const access = accessOf(ctx, req);
  const byId = await findOrUndefined(ctx.store.vms.get(ref));
  if (byId) return access.check('read', 'vm', byId);
  const visible = await access.filter('read', 'vm', await ctx.store.vms.list({}));
  const named = visible.filter((v) => v.name === ref);
  const live = named.filter((v) => v.state !== 'terminated');
  if (live.length > 1) throw new AmbiguousIdError('vm', ref, live);
  const found = live[0] ?? named.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0] ?? byIdPrefix('vm', ref, visible);
  if (!found) throw new NotFoundError('vm', ref);
  return found;
}
