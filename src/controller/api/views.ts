import { createVolumesAhead } from '../vm-create-volumes.js';
import { allowedActions } from '../../core/vm-actions.js';
import type { Store } from '../../store/open-store.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { Image } from '../../store/repositories/images-repository.js';
import type { User } from '../../store/repositories/users-repository.js';
import type { Vm, VmHistoryEntry } from '../../store/repositories/vms-repository.js';
import { type HostView } from '../../contract/host-schemas.js';
import { type ImageView } from '../../contract/image-schemas.js';
import { type LeaseView, type NetworkDetailView, type NetworkView } from '../../contract/network-schemas.js';
import { vmActionSchema, type CreatedVmView, type VmDetailView, type VmNicView, type VmView } from '../../contract/vm-schemas.js';
import { type MigrationView } from '../../contract/migration-schemas.js';
import type { Network } from '../../store/repositories/networks-repository.js';
import type { Lease } from '../../store/repositories/leases-repository.js';
import type { ControllerVmSpec } from '../controller-vm-spec.js';
import type { MigrationRecord } from '../../store/repositories/migrations-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';

const API_ACTIONS = new Set<string>(vmActionSchema.options);

/** Turns store records into API shapes: ids of related records become their names. */
export class Views {
  constructor(private readonly store: Store) {}

  async #name(kind: 'users' | 'hosts' | 'templates', id: string | null): Promise<string | null> {
    if (id === null) return null;
    const r = await findOrUndefined<{ name: string }>(this.store[kind].get(id));
    return r?.name ?? id;
  }

  /** `viewer`: the agent's URL (where its API and token-guarded transfers listen) is for admins only. */
  async host(h: Host, viewer: Pick<User, 'role'>): Promise<HostView> {
    const vms = await this.store.vms.list({ hostId: h.id });
    return hostViewOf(h, viewer, vms.filter((v) => v.state !== 'terminated').length);
  }

  async migration(m: MigrationRecord): Promise<MigrationView> {
    const vm = await findOrUndefined(this.store.vms.get(m.vmId));
    return {
      id: m.id,
      vm: vm?.name ?? m.vmId,
      vmId: m.vmId,
      kind: m.kind,
      source: (await this.#name('hosts', m.sourceHostId)) ?? m.sourceHostId,
      destination: (await this.#name('hosts', m.destHostId)) ?? m.destHostId,
      stage: m.stage,
      state: m.state,
      reason: m.reason,
      startedAt: m.startedAt,
      finishedAt: m.finishedAt,
      stats: { ...m.stats },
      policy: { ...m.policy },
      journal: m.journal.map((j) => ({ stage: j.stage, at: j.at, ...(j.data !== undefined ? { data: { ...j.data } } : {}) })),
    };
  }

  async image(i: Image): Promise<ImageView> {
    return {
      id: i.id,
      name: i.name,
      owner: (await this.#name('users', i.ownerId)) ?? i.ownerId,
      format: i.format,
      sizeBytes: i.sizeBytes,
      virtualSizeBytes: i.virtualSizeBytes,
      sha256: i.sha256,
      createdAt: i.createdAt,
      minMemoryMiB: i.minMemoryMib,
    };
  }

  async vm(v: Vm): Promise<VmView> {
    const names = new Map<string, string | null>();
    for (const [kind, id] of [['users', v.ownerId], ['templates', v.templateId]] as const) if (id !== null) names.set(id, await this.#name(kind, id));
    const clusters = new Map<string, string>();
    if (v.hostId !== null) {
      const h = await findOrUndefined(this.store.hosts.get(v.hostId));
      names.set(v.hostId, h?.name ?? v.hostId);
      if (h) clusters.set(h.id, h.cluster);
    }
    return vmViewOf(v, names, clusters);
  }

  /**
   * Many VMs at once: the users, templates and hosts they name are read once
   * each, not looked up three times per VM (a list of 10,000 VMs made 30,000
   * queries).
   */
  async vms(list: readonly Vm[]): Promise<VmView[]> {
    if (list.length <= 1) return Promise.all(list.map((v) => this.vm(v)));
    const [users, templates, hosts] = await Promise.all([this.store.users.list({ withDeleted: true }), this.store.templates.list(), this.store.hosts.list()]);
    const names = new Map<string, string | null>([...users, ...templates, ...hosts].map((r) => [r.id, r.name]));
    const clusters = new Map(hosts.map((h) => [h.id, h.cluster]));
    return list.map((v) => vmViewOf(v, names, clusters));
  }

  /** Many hosts at once: their VMs are counted in one query, not listed once per host. */
  async hosts(list: readonly Host[], viewer: Pick<User, 'role'>): Promise<HostView[]> {
    if (list.length <= 1) return Promise.all(list.map((h) => this.host(h, viewer)));
    const counts = await this.store.vms.countNotTerminatedByHost();
    return list.map((h) => hostViewOf(h, viewer, counts.get(h.id) ?? 0));
  }

  /** The VM's NICs from its spec (a store read only for each NIC on a network: its name). */
  async vmNics(v: Vm): Promise<VmNicView[]> {
    const spec = v.spec as unknown as Partial<ControllerVmSpec>;
    const networks = spec.nicNetworks ?? [];
    return Promise.all(
      (spec.agent?.nics ?? []).map(async (n, i) => {
        const id = networks[i] ?? null;
        const network = id === null ? null : ((await findOrUndefined(this.store.networks.get(id)))?.name ?? id);
        return { index: n.index ?? i, network, address: n.address ?? null, mac: n.mac };
      }),
    );
  }

  /** A VM just made, as its create answers: the view and its NICs. */
  async createdVm(v: Vm): Promise<CreatedVmView> {
    const [view, nics] = await Promise.all([this.vm(v), this.vmNics(v)]);
    return { ...view, nics };
  }

  async vmDetail(v: Vm): Promise<VmDetailView> {
    const history: VmHistoryEntry[] = await this.store.vms.history(v.id);
    const nics = await this.vmNics(v);
    // Before its first prolog ends, its create's volumes may not be bound yet: said, so that a client retrying the create sees them coming.
    const toAttach = await this.#unbound(v.id, createVolumesAhead(v));
    return {
      ...(await this.vm(v)),
      nics,
      history: history.map((h) => ({ from: h.fromState, to: h.toState, action: h.action, reason: h.reason, at: h.at })),
      ...(toAttach.length > 0 ? { volumesToAttach: toAttach } : {}),
    };
  }

  async #unbound(vmId: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const bound = new Set((await this.store.volumes.list({ vmId })).map((x) => x.id));
    return ids.filter((id) => !bound.has(id));
  }

  async network(n: Network): Promise<NetworkView> {
    const c = await this.store.leases.counts(n.id);
    return {
      id: n.id,
      name: n.name,
      cidr: n.cidr,
      gateway: n.gateway,
      dns: [...n.dns],
      vlan: n.vlan,
      bridge: n.bridge,
      cluster: n.cluster,
      createdAt: n.createdAt,
      addresses: { total: c.free + c.leased + c.held, ...c },
    };
  }

  /** `visible`: of the holders, the VMs the caller may see — only theirs are named (the network is everyone's, their VMs are not). */
  async networkDetail(n: Network, visible: (vms: readonly Vm[]) => Promise<readonly Vm[]> = () => Promise.resolve([])): Promise<NetworkDetailView> {
    const taken = [...(await this.store.leases.list(n.id, { state: 'leased' })), ...(await this.store.leases.list(n.id, { state: 'held' }))];
    const holders = await Promise.all([...new Set(taken.flatMap((l) => (l.vmId === null ? [] : [l.vmId])))].map((id) => findOrUndefined(this.store.vms.get(id))));
    const names = new Map((await visible(holders.filter((v) => v !== undefined))).map((v) => [v.id, v.name]));
    return { ...(await this.network(n)), leases: await Promise.all(taken.map((l) => this.lease(l, names))) };
  }

  /** `names`: the holders' names the caller may see; the id stays the VM's reference (names are only unique per owner). */
  lease(l: Lease, names: ReadonlyMap<string, string> = new Map()): Promise<LeaseView> {
    const name = l.vmId === null ? undefined : names.get(l.vmId);
    return Promise.resolve({ address: l.address, mac: l.mac, state: l.state, vm: l.vmId, ...(name !== undefined ? { vmName: name } : {}), updatedAt: l.updatedAt });
  }
}

/** The API's VM from its record, with the names of the records it refers to (an id with no name stays the id). */
function vmViewOf(v: Vm, names: ReadonlyMap<string, string | null>, clusters: ReadonlyMap<string, string>): VmView {
  const spec = v.spec as unknown as Partial<ControllerVmSpec>;
  const name = (id: string | null): string | null => (id === null ? null : (names.get(id) ?? id));
  return {
    id: v.id,
    name: v.name,
    owner: name(v.ownerId) ?? v.ownerId,
    template: name(v.templateId),
    templateId: v.templateId,
    ...(spec.cloneOf !== undefined ? { cloneOf: { id: spec.cloneOf.vmId, name: spec.cloneOf.vmName } } : {}),
    state: v.state,
    stateReason: v.stateReason,
    host: name(v.hostId),
    // Where it runs; without a host, where it will (what it asked for), if anything.
    cluster: (v.hostId !== null ? clusters.get(v.hostId) : undefined) ?? spec.demand?.cluster ?? null,
    vcpus: spec.demand?.vcpus ?? 0,
    memoryMiB: spec.demand?.memoryMiB ?? 0,
    datastore: spec.agent?.disk.datastore === 'shared' ? 'shared' : 'local',
    // Only what a user can ask for through this API, and nothing while an operation is in flight —
    // except a VM waiting in `pending` for a host, which may still be terminated (the orchestrator accepts it).
    allowedActions: v.operation === null || v.state === 'pending' ? allowedActions(v.state).filter((a) => API_ACTIONS.has(a)) : [],
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  };
}

function hostViewOf(h: Host, viewer: Pick<User, 'role'>, vms: number): HostView {
  return {
    id: h.id,
    name: h.name,
    state: h.state,
    agentUrl: viewer.role === 'admin' ? h.agentUrl : null,
    cpuModel: h.cpuModel === '' ? null : h.cpuModel,
    total: { cpus: h.total.cpus, memoryMiB: h.total.memoryMib, diskMiB: h.total.diskMib },
    reserved: { cpus: h.reserved.cpus, memoryMiB: h.reserved.memoryMib, diskMiB: h.reserved.diskMib },
    usage: h.usage,
    lastHeartbeatAt: h.lastHeartbeatAt,
    vms,
    cpuOvercommit: h.cpuOvercommit,
    maintenance: h.maintenance?.state ?? null,
    standbySince: h.standbySince,
    degraded: h.degraded,
    cluster: h.cluster,
  };
}
