import type { Logger } from 'pino';
import { COLD_MIGRATION_STATES, checkMigration, chooseMigrationDestination, type MigrationHostFacts } from '../core/migration/migration-prechecks.js';
import { parseMigrationPolicy, type MigrationPolicy } from '../core/migration/migration-policy.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { ClusterBinding } from '../core/placement/cluster-fit.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { CapacityError } from '../store/store-errors.js';
import { hostViewOf, type HostUsage } from './host-view-of.js';
import type { LiveMigrator } from './live-migrator.js';
import type { ColdMigrator } from './cold-migrator.js';
import { MigrationRefusedError } from './migration-errors.js';
import { bindCheckFor } from './bind-check.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

export interface MigrationRequest {
  /** Destination host name or id; the placement rules choose when absent. */
  readonly to?: string | undefined;
  readonly policy?: unknown;
  /**
   * An admin's override: the explicit `to` need not meet the VM's placement
   * requirements (every other check still applies). Ignored without `to`:
   * a destination placement chooses always meets them.
   */
  readonly force?: boolean | undefined;
}

export interface MigrationServiceOptions {
  readonly store: Store;
  readonly orchestrator: VmOrchestrator;
  readonly migrator: LiveMigrator;
  /** Runs cold migrations (powered-off and suspended VMs); without it such VMs are refused as before. */
  readonly coldMigrator?: ColdMigrator | undefined;
  readonly policy: PlacementPolicy;
  readonly logger: Logger;
  /** How many disk snapshots the VM has (asked of its host's agent); without it the snapshot check is skipped. */
  readonly snapshotCount?: ((vm: Vm) => Promise<number>) | undefined;
}

/** A migration as `start` would begin it now: the VM, its kind and both hosts, after every pre-check passed. */
export interface MigrationPlan {
  readonly vm: Vm;
  readonly kind: 'live' | 'cold';
  readonly source: Host;
  readonly dest: Host;
  readonly demand: { readonly vcpus: number; readonly memoryMiB: number; readonly diskMiB: number; readonly cpuModel?: string | undefined };
  readonly storage: 'shared' | 'local';
  readonly policy: MigrationPolicy;
  /** Set when the destination is in another cluster than the source: why the VM may cross (its networks and storage are available there). */
  readonly crossing?: string;
}

/** What a host's heartbeat says about the VM-independent facts a migration needs. */
function factsOf(h: Host): MigrationHostFacts {
  const u = (h.usage ?? {}) as HostUsage;
  return { cpuModels: u.cpuModels ?? [], networks: u.bridges, tls: u.migration?.tls ?? false, sharedDatastore: u.migration?.sharedDatastore ?? false };
}

/**
 * Starts migrations: pre-checks (every refusal names its check), the
 * destination's reservation and the migration record in one transaction, then
 * the VM's operation — `migrate-live` for a running VM, which the VM
 * orchestrator hands to the LiveMigrator, or `migrate` (cold) for a
 * powered-off or suspended one, handed to the ColdMigrator. Nothing is
 * changed when a check refuses.
 */
export class MigrationService {
  readonly #o: MigrationServiceOptions;

  constructor(o: MigrationServiceOptions) {
    this.#o = o;
  }

  /**
   * The pre-checks and the destination of a migration, changing nothing: what
   * `start` would do now (a dry run shows it; the queue asks it when an
   * entry's turn comes). Refusals are MigrationRefusedErrors naming the check.
   */
  async plan(vmId: string, req: MigrationRequest): Promise<MigrationPlan> {
    const { store } = this.#o;
    const policy = parseMigrationPolicy(req.policy ?? {});
    const vm = await store.vms.get(vmId);
    // A VM at rest moves cold (its files are copied); anything else goes the live way, whose checks refuse what is not running.
    const kind: 'live' | 'cold' = this.#o.coldMigrator !== undefined && COLD_MIGRATION_STATES.includes(vm.state) ? 'cold' : 'live';
    const spec = vm.spec as unknown as ControllerVmSpec;
    const hosts = await store.hosts.list();
    const source = hosts.find((h) => h.id === vm.hostId);
    let dest: Host | undefined;
    if (req.to !== undefined) {
      dest = hosts.find((h) => h.name === req.to || h.id === req.to);
      if (!dest) throw new MigrationRefusedError('host-unknown', 'to', `there is no host ${req.to}`);
    }
    const demand = { vcpus: spec.demand.vcpus, memoryMiB: spec.demand.memoryMiB, diskMiB: spec.demand.diskMiB, cpuModel: spec.demand.cpuModel };
    const storage = spec.agent.disk.datastore === 'shared' ? 'shared' : 'local';
    const bridges = (spec.agent.nics ?? []).flatMap((n) => (n.bridge !== undefined ? [n.bridge] : []));
    // Only a live migration of a local disk loses snapshots (its mirror copies the current data); the others keep the file.
    // Unknown when the agent cannot tell: the other checks still decide, and the source agent refuses the mirror itself.
    const snapshots = kind === 'live' && storage === 'local' && vm.state === 'running'
      ? await this.#o.snapshotCount?.(vm).catch((err: unknown) => {
        this.#o.logger.warn({ vmId: vm.id, err: err instanceof Error ? err.message : String(err) }, 'could not count the VM\'s disk snapshots before a live migration');
        return undefined;
      })
      : undefined;
    const bindings = await this.#bindingsOf(spec, bridges);
    const input = (d: Host | undefined) => ({
      // The requirements hold wherever the VM goes: a chosen destination meets them, an explicit one is refused unless forced.
      vm: { id: vm.id, name: vm.name, state: vm.state, hostId: vm.hostId, demand, networks: bridges, storage, snapshots, requirements: spec.demand.requirements, cluster: spec.demand.cluster, bindings } as const,
      source: source ? hostViewOf(source) : undefined,
      dest: d ? hostViewOf(d) : undefined,
      sourceFacts: source ? factsOf(source) : undefined,
      destFacts: d ? factsOf(d) : undefined,
      cpuOvercommit: this.#o.policy.cpuOvercommit,
      kind,
      ignoreRequirements: req.to !== undefined && req.force === true,
    });
    if (dest === undefined) {
      const chosen = chooseMigrationDestination(hosts.map((h) => input(h)), this.#o.policy);
      if (chosen.hostId === undefined) throw new MigrationRefusedError(chosen.check ?? 'capacity', 'to', chosen.summary);
      dest = hosts.find((h) => h.id === chosen.hostId)!;
    } else {
      const verdict = checkMigration(input(dest));
      if (!verdict.ok) throw new MigrationRefusedError(verdict.check, verdict.field, verdict.message);
    }
    if (!source) throw new MigrationRefusedError('vm-state', 'id', `VM ${vm.name} is on no host`);
    // A cold copy moves the VM's own disk, config drive and saved memory, not the volumes attached to it.
    if (kind === 'cold' && (spec.agent.volumes ?? []).length > 0) throw new MigrationRefusedError('storage', 'volumes', `VM ${vm.name} has volumes attached: detach them to migrate it cold`);
    // A live migration mirrors the VM's own disk only; a volume's file stays on the host it was made on.
    if (kind === 'live' && (spec.agent.volumes ?? []).length > 0) throw new MigrationRefusedError('storage', 'volumes', `VM ${vm.name} has volumes attached: detach them to migrate it live`);

    // A named destination in another cluster passed the `cluster` check: say why it may cross.
    let crossing: string | undefined;
    if (source.cluster !== dest.cluster) {
      const ids = new Set((spec.nicNetworks ?? []).filter((n): n is string => n !== null));
      const nets = (await store.networks.list()).filter((n) => ids.has(n.id)).map((n) => n.name);
      const where = (b: readonly ClusterBinding[]): string => (b.length === 0 ? 'every cluster' : `cluster ${dest.cluster}`);
      crossing = `from cluster ${source.cluster} to ${dest.cluster}: ${nets.length === 0 ? 'it is on no network' : `its ${nets.length === 1 ? 'network' : 'networks'} ${nets.join(', ')}`} and its ${storage === 'shared' ? 'shared datastore' : 'local disk (copied with the migration)'} are available in ${where(bindings)}`;
    }
    return { vm, kind, source, dest, demand, storage, policy, ...(crossing !== undefined ? { crossing } : {}) };
  }

  /**
   * The VM's networks and datastore bound to a cluster, as they are bound now
   * (an admin may have bound a network since the VM was admitted): networks
   * by the bridges its NICs join (what the hosts report), its `shared`
   * datastore by the row of that name.
   */
  async #bindingsOf(spec: ControllerVmSpec, bridges: readonly string[]): Promise<ClusterBinding[]> {
    const { store } = this.#o;
    const out: ClusterBinding[] = [];
    const ids = new Set((spec.nicNetworks ?? []).filter((n): n is string => n !== null));
    for (const n of await store.networks.list()) {
      if (n.cluster === null) continue;
      if (ids.has(n.id) || (ids.size === 0 && bridges.includes(n.bridge))) out.push({ kind: 'network', name: n.name, cluster: n.cluster });
    }
    const datastore = spec.agent.disk.datastore;
    if (datastore !== undefined && datastore !== 'local') {
      const ds = (await store.datastores.list({ kind: 'shared' })).find((d) => d.name === datastore && d.cluster !== null);
      if (ds !== undefined && ds.cluster !== null) out.push({ kind: 'datastore', name: ds.name, cluster: ds.cluster });
    }
    return out;
  }

  async start(vmId: string, req: MigrationRequest, opts: { readonly id?: string } = {}): Promise<MigrationRecord> {
    const { store } = this.#o;
    const { vm, kind, source, dest, demand, storage, policy } = await this.plan(vmId, req);
    let m: MigrationRecord;
    try {
      m = await store.migrations.createWithReservation(
        { vmId: vm.id, kind, sourceHostId: source.id, destHostId: dest.id, policy: policy as unknown as JsonObject, ...(opts.id !== undefined ? { id: opts.id } : {}) },
        { cpus: demand.vcpus, memoryMib: demand.memoryMiB, diskMib: storage === 'shared' ? 0 : demand.diskMiB },
        bindCheckFor(this.#o.policy),
      );
    } catch (err) {
      // Checked above, but the room may have gone since: same refusal, same words.
      if (err instanceof CapacityError) throw new MigrationRefusedError('capacity', 'to', `host ${dest.name} cannot take the VM now: ${err.reason}`);
      throw err;
    }
    if (kind === 'cold') this.#o.coldMigrator?.begun(m.id);
    else this.#o.migrator.begun(m.id);
    try {
      await this.#o.orchestrator.act(vm.id, kind === 'cold' ? 'migrate' : 'migrate-live', { expectedVersion: vm.version });
    } catch (err) {
      // The VM changed between the checks and now: nothing ran, give the room back.
      await store.migrations.finish(m.id, { state: 'aborted', reason: `not started: ${err instanceof Error ? err.message : String(err)}` });
      throw err;
    }
    this.#o.logger.info({ migrationId: m.id, vmId: vm.id, from: source.name, to: dest.name, kind }, `${kind} migration started`);
    return m;
  }

  async get(id: string): Promise<MigrationRecord> {
    return this.#o.store.migrations.get(id);
  }

  async cancel(id: string): Promise<MigrationRecord> {
    const m = await this.#o.store.migrations.get(id);
    if (m.kind === 'cold' && this.#o.coldMigrator) return this.#o.coldMigrator.cancel(id);
    return this.#o.migrator.cancel(id);
  }

  /** Which host a stored host reference names (for views). */
  async hostName(id: string): Promise<string> {
    return (await findOrUndefined(this.#o.store.hosts.get(id)))?.name ?? id;
  }
}

