import { capacityShortfall, freeCapacity, type CapacityDemand } from '../placement/host-capacity.js';
import { enabledFilter, maintenanceFilter } from '../placement/host-filters.js';
import type { HostView } from '../placement/host-view.js';
import { clusterMismatch, DEFAULT_CLUSTER, type ClusterBinding } from '../placement/cluster-fit.js';
import { placeVm } from '../placement/place-vm.js';
import type { PlacementPolicy } from '../placement/placement-policy.js';
import type { VmDemand } from '../placement/vm-demand.js';
import { compileRequirements } from '../placement/requirements-expression.js';
import type { VmState } from '../vm-state.js';

export const MIGRATION_CHECKS = ['vm-state', 'host-unknown', 'same-host', 'host-state', 'cluster', 'cpu', 'network', 'storage', 'tls', 'requirements', 'capacity'] as const;

/** Which pre-check refused a migration; the API maps every one to a 409/422 naming it. */
export type MigrationCheck = (typeof MIGRATION_CHECKS)[number];

/** The VM as a migration sees it. */
export interface MigratingVm {
  readonly id: string;
  /** Its owner's name for it, which refusals name it by; undefined: they name its id. */
  readonly name?: string | undefined;
  readonly state: VmState;
  /** Its host (the source); null for a VM on none. */
  readonly hostId: string | null;
  readonly demand: {
    readonly vcpus: number;
    readonly memoryMiB: number;
    /** Size of its disks; only needs room at the destination when they are local. */
    readonly diskMiB: number;
    /** Undefined: the hypervisor's default model, which every host offers. */
    readonly cpuModel?: string | undefined;
  };
  /** The networks its NICs attach to — the same kind of name as `MigrationHostFacts.networks`. */
  readonly networks: readonly string[];
  /** `shared`: one datastore every host reaches (nothing to copy); `local`: the disks are mirrored over NBD. */
  readonly storage: 'shared' | 'local';
  /** Its placement requirements expression: still applies when a destination is chosen for it. */
  readonly requirements?: string | undefined;
  /** Disk snapshots in its disk file (qcow2 internal); undefined when not known (not asked). */
  readonly snapshots?: number | undefined;
  /** The cluster it asked for at creation; undefined: any. */
  readonly cluster?: string | undefined;
  /** Its networks and datastore that are bound to a cluster (as they are now). */
  readonly bindings?: readonly ClusterBinding[] | undefined;
}

/** What a host's agent reports that matters to a migration. */
export interface MigrationHostFacts {
  /** QEMU CPU models the host can give a guest. */
  readonly cpuModels: readonly string[];
  /** Networks (bridges) present on the host; undefined when its agent does not report them. */
  readonly networks: readonly string[] | undefined;
  readonly sharedDatastore: boolean;
  /** Migration streams in and out of this host are TLS. */
  readonly tls: boolean;
}

export interface MigrationCheckInput {
  readonly vm: MigratingVm;
  /** The VM's host; undefined when the store knows none. */
  readonly source: HostView | undefined;
  /** The requested destination; undefined when no such host exists. */
  readonly dest: HostView | undefined;
  readonly sourceFacts: MigrationHostFacts | undefined;
  readonly destFacts: MigrationHostFacts | undefined;
  /** The placement policy's, so that "fits" means what it means at placement. */
  readonly cpuOvercommit: number;
  /**
   * `live` (default): a running VM, moved by QEMU's migration stream. `cold`:
   * a powered-off or suspended VM whose files the agents copy over HTTP — no
   * QEMU stream, so the hosts' migration TLS does not have to match.
   */
  readonly kind?: 'live' | 'cold' | undefined;
  /**
   * An admin's `force`: the destination need not meet the VM's requirements
   * expression (every other check still applies). Only for an explicit
   * destination — a chosen one always meets them.
   */
  readonly ignoreRequirements?: boolean | undefined;
  /**
   * The destination was chosen, not named: it must be in the source's
   * cluster. A named one may cross when nothing of the VM's is bound to its
   * cluster (checked whether or not this is set).
   */
  readonly sameClusterOnly?: boolean | undefined;
}

/** The states a cold migration moves a VM from: nothing runs, its files are at rest on the source. */
export const COLD_MIGRATION_STATES: readonly VmState[] = Object.freeze(['poweroff', 'suspended']);

/**
 * `field` is the request field (`to`, the destination) or the VM attribute
 * at fault (`state`, `cpuModel`, `networks`, `storage`, `tls`, `vcpus`,
 * `memoryMiB`, `diskMiB`); `message` names the hosts and the numbers.
 */
export type MigrationCheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly check: MigrationCheck; readonly field: string; readonly message: string };

const OK: MigrationCheckResult = Object.freeze({ ok: true });

const refuse = (check: MigrationCheck, field: string, message: string): MigrationCheckResult => Object.freeze({ ok: false, check, field, message });

// These models pass the host's own CPU through (under KVM): the guest's CPUID changes unless both hosts have the same CPU.
const HOST_CPU_MODELS: ReadonlySet<string> = new Set(['host', 'max']);

// Same slack as host-capacity's: 3 × 1.1 must fit 3.3.
const EPSILON = 1e-9;

const amount = (n: number): string => String(Math.max(0, Number(n.toFixed(2))));

const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many);

/** What the VM reserves at the destination: its disks only when they are copied there. */
export function migrationDemand(vm: MigratingVm): CapacityDemand {
  return { vcpus: vm.demand.vcpus, memoryMiB: vm.demand.memoryMiB, diskMiB: vm.storage === 'local' ? vm.demand.diskMiB : 0 };
}

function capacityRefusal(host: HostView, vm: MigratingVm, cpuOvercommit: number): MigrationCheckResult {
  const demand = migrationDemand(vm);
  // capacityShortfall decides, exactly as at placement; the numbers below only explain it.
  if (capacityShortfall(host, demand, cpuOvercommit) === undefined) return OK;
  const free = freeCapacity(host, cpuOvercommit);
  const name = host.name;
  if (demand.vcpus > free.cpus + EPSILON) {
    return refuse('capacity', 'vcpus', `host ${name} has ${amount(free.cpus)} vCPUs free, the VM needs ${demand.vcpus}`);
  }
  if (demand.memoryMiB > free.memoryMiB + EPSILON) {
    return refuse('capacity', 'memoryMiB', `host ${name} has ${amount(free.memoryMiB)} MiB memory free, the VM needs ${demand.memoryMiB} MiB`);
  }
  return refuse('capacity', 'diskMiB', `host ${name} has ${amount(free.diskMiB)} MiB disk free, the VM needs ${demand.diskMiB} MiB for its local disks`);
}

/**
 * Why a VM that is not running is refused a live migration. A user's `vm migrate` moves a VM at
 * rest cold, so for a state that neither way takes, say both (a stopped one: where it is instead).
 */
function notMigratable(state: VmState): string {
  if (COLD_MIGRATION_STATES.includes(state)) return 'live migration needs a running VM';
  const stopped = state === 'stopped' ? '; a stopped VM is in the controller\'s system store, and `resume` places it on a host' : '';
  return `a running VM migrates live, a powered-off or suspended one cold${stopped}`;
}

/**
 * Whether `vm` can be migrated (live, or cold: `input.kind`) to `dest` now. Checks what cannot change
 * (the VM, the hosts, CPU, networks, storage, TLS) before what can (free
 * capacity), so the first refusal says whether retrying later can help.
 */
export function checkMigration(input: MigrationCheckInput): MigrationCheckResult {
  const { vm, source, dest, sourceFacts, destFacts } = input;
  const label = `VM ${vm.name ?? vm.id}`;
  if (input.kind === 'cold') {
    if (!COLD_MIGRATION_STATES.includes(vm.state)) return refuse('vm-state', 'state', `${label} is ${vm.state}: cold migration needs a powered-off or suspended VM`);
  } else if (vm.state !== 'running') return refuse('vm-state', 'state', `${label} is ${vm.state}: ${notMigratable(vm.state)}`);
  if (vm.hostId === null || source === undefined || sourceFacts === undefined) {
    return refuse('vm-state', 'hostId', `${label} is on no known host`);
  }
  if (source.id !== vm.hostId) return refuse('vm-state', 'hostId', `${label} is on host ${vm.hostId}, not on ${source.name}`);
  if (dest === undefined) return refuse('host-unknown', 'to', 'there is no such destination host');
  if (dest.id === vm.hostId) return refuse('same-host', 'to', `${label} ${vm.state === 'running' ? 'already runs' : 'is already'} on host ${dest.name}`);
  const noDemand = { vcpus: 0, memoryMiB: 0, diskMiB: 0, networks: [] };
  const state = enabledFilter(dest, noDemand, { cpuOvercommit: input.cpuOvercommit }) ?? maintenanceFilter(dest, noDemand, { cpuOvercommit: input.cpuOvercommit });
  if (state !== undefined) return refuse('host-state', 'to', `host ${dest.name} cannot take VMs: ${state}`);
  if (destFacts === undefined) return refuse('host-state', 'to', `host ${dest.name} has not reported what it can run yet`);

  // Clusters (issue 18): a VM stays in its cluster unless what it uses is available in the other one too.
  const from = source.cluster ?? DEFAULT_CLUSTER;
  const to = dest.cluster ?? DEFAULT_CLUSTER;
  if (from !== to) {
    if (input.sameClusterOnly === true) return refuse('cluster', 'to', `host ${dest.name} is in cluster ${to}, the VM's host ${source.name} in cluster ${from}: a chosen destination stays in the VM's cluster (name one to cross)`);
    const why = clusterMismatch(to, vm);
    if (why !== undefined) return refuse('cluster', 'to', `host ${dest.name} is in cluster ${to}, the VM's host ${source.name} in cluster ${from}, and ${why}`);
  }

  const model = vm.demand.cpuModel;
  if (model !== undefined && !destFacts.cpuModels.includes(model)) {
    const offers = destFacts.cpuModels.length > 0 ? destFacts.cpuModels.join(', ') : 'none';
    return refuse('cpu', 'cpuModel', `host ${dest.name} cannot run CPU model ${model} (it offers ${offers})`);
  }
  if (model !== undefined && HOST_CPU_MODELS.has(model) && dest.cpuModel !== source.cpuModel) {
    return refuse('cpu', 'cpuModel', `CPU model ${model} exposes the host's CPU: host ${dest.name} has ${dest.cpuModel}, host ${source.name} has ${source.cpuModel}`);
  }

  const wanted = [...new Set(vm.networks)];
  if (wanted.length > 0 && destFacts.networks === undefined) {
    return refuse('network', 'networks', `host ${dest.name} does not report its networks; the VM needs ${wanted.join(', ')}`);
  }
  const missing = wanted.filter((n) => !(destFacts.networks ?? []).includes(n));
  if (missing.length > 0) {
    return refuse('network', 'networks', `${plural(missing.length, 'network', 'networks')} ${missing.join(', ')} ${plural(missing.length, 'is', 'are')} not present on host ${dest.name}`);
  }

  if (vm.storage === 'shared' && !destFacts.sharedDatastore) {
    return refuse('storage', 'storage', `host ${dest.name} does not reach the shared datastore the VM's disks are on`);
  }

  // A live migration to another host's local datastore mirrors the disk's current data into a new file: its internal snapshots would stay behind.
  if (input.kind !== 'cold' && vm.storage === 'local' && (vm.snapshots ?? 0) > 0) {
    return refuse('storage', 'snapshots', `${label} has ${vm.snapshots} disk ${plural(vm.snapshots ?? 0, 'snapshot', 'snapshots')}, which a live migration of a local disk would lose: delete them, or migrate it cold (powered off)`);
  }

  // One end speaking TLS and the other not would refuse the stream half-way through the set-up.
  if (input.kind !== 'cold' && sourceFacts.tls !== destFacts.tls) {
    const on = (b: boolean): string => (b ? 'on' : 'off');
    return refuse('tls', 'tls', `migration TLS is ${on(sourceFacts.tls)} at host ${source.name} but ${on(destFacts.tls)} at host ${dest.name}`);
  }

  // The VM's placement requirements hold wherever it goes, not only where it was first placed (an admin may force a destination past them).
  if (vm.requirements !== undefined && input.ignoreRequirements !== true) {
    const meets = compileRequirements(vm.requirements);
    if (!meets(dest, { cpuOvercommit: input.cpuOvercommit })) {
      return refuse('requirements', 'to', `host ${dest.name} does not meet the VM's requirements (${vm.requirements})`);
    }
  }

  return capacityRefusal(dest, vm, input.cpuOvercommit);
}

export type DestinationChoice =
  | {
      readonly hostId: string;
      /** Why each other host was not chosen. */
      readonly reasons: Readonly<Record<string, string>>;
    }
  | {
      readonly hostId: undefined;
      /** host id → why it cannot take the VM, for every host but the source. */
      readonly reasons: Readonly<Record<string, string>>;
      /** "no host can take the VM: host h2 has 96 MiB memory free, …; host h3 cannot take VMs: disabled". */
      readonly summary: string;
      /** The check every host failed, when they all failed the same one. */
      readonly check?: MigrationCheck;
    };

/**
 * Chooses where to live-migrate a VM: every candidate but the VM's own host
 * — in the source's cluster: a chosen destination never crosses one — goes
 * through the pre-checks, the ones that pass through the placement rules
 * (its requirements, then the policy's ranking). `candidates` are the inputs
 * of `checkMigration` with each host as `dest`, for one and the same VM.
 * Does not reserve: the caller reserves in the transaction that records the
 * migration.
 */
export function chooseMigrationDestination(candidates: readonly MigrationCheckInput[], policy: PlacementPolicy): DestinationChoice {
  const vm = candidates[0]?.vm;
  const refused: [string, string][] = [];
  const checks = new Set<MigrationCheck>();
  const fit: HostView[] = [];
  for (const c of candidates) {
    if (c.dest === undefined || c.dest.id === c.vm.hostId) continue;
    const verdict = checkMigration({ ...c, sameClusterOnly: true });
    if (verdict.ok) fit.push(c.dest);
    else {
      refused.push([c.dest.id, verdict.message]);
      checks.add(verdict.check);
    }
  }
  // The checks already judged CPU, networks, storage and capacity on the agents' facts; placement adds the requirements and the ranking.
  const demand: VmDemand =
    vm?.requirements === undefined ? { ...migrationDemandOrZero(vm), networks: [] } : { ...migrationDemandOrZero(vm), networks: [], requirements: vm.requirements };
  const placed = placeVm(demand, fit, policy);
  const entries = [...refused, ...Object.entries(placed.reasons).map(([id, why]): [string, string] => [id, `host ${nameOf(fit, id)}: ${why}`])];
  // fromEntries defines own properties (a host called __proto__ stays a key); id order whatever the input order.
  const reasons = Object.freeze(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  if (placed.hostId !== undefined) return Object.freeze({ hostId: placed.hostId, reasons });
  const list = Object.values(reasons);
  const summary = list.length > 0 ? `no host can take the VM: ${list.join('; ')}` : 'no host can take the VM: there is no other host';
  const check = checks.size === 1 && Object.keys(placed.reasons).length === 0 ? [...checks][0] : undefined;
  return Object.freeze(check === undefined ? { hostId: undefined, reasons, summary } : { hostId: undefined, reasons, summary, check });
}

function migrationDemandOrZero(vm: MigratingVm | undefined): CapacityDemand {
  return vm === undefined ? { vcpus: 0, memoryMiB: 0, diskMiB: 0 } : migrationDemand(vm);
}

function nameOf(hosts: readonly HostView[], id: string): string {
  return hosts.find((h) => h.id === id)?.name ?? id;
}
