import { clusterMismatch, DEFAULT_CLUSTER, fitsCluster } from './cluster-fit.js';
import { capacityShortfall, fitsCapacity } from './host-capacity.js';
import type { HostState, HostView } from './host-view.js';
import type { HostPredicate } from './requirements-expression.js';
import type { VmDemand } from './vm-demand.js';

export interface FilterContext {
  readonly cpuOvercommit: number;
  /** The demand's requirements, compiled once per placement. */
  readonly requirements?: HostPredicate;
}

/** Undefined when the host passes, otherwise why it does not (shown to the user of a pending VM). */
export type HostFilter = (host: HostView, demand: VmDemand, context: FilterContext) => string | undefined;

const STATE_REASONS: Readonly<Record<Exclude<HostState, 'enabled'>, string>> = {
  init: 'not monitored yet',
  disabled: 'disabled',
  error: 'in error',
  offline: 'offline',
};

export const enabledFilter: HostFilter = (host) => (host.state === 'enabled' ? undefined : (STATE_REASONS[host.state] ?? String(host.state)));

export const maintenanceFilter: HostFilter = (host) => (host.maintenance === true ? 'in maintenance' : undefined);
export const standbyFilter: HostFilter = (host) => (host.standby === true ? 'on standby (consolidation emptied it)' : undefined);
export const degradedFilter: HostFilter = (host) => (host.degraded !== undefined ? `degraded: ${host.degraded}` : undefined);

export const avoidedFilter: HostFilter = (host, demand) =>
  demand.avoidHosts?.includes(host.id) === true ? 'could not be reached when this VM was placed there; it is placed elsewhere' : undefined;

export const clusterFilter: HostFilter = (host, demand) => {
  const cluster = host.cluster ?? DEFAULT_CLUSTER;
  const why = clusterMismatch(cluster, demand);
  return why === undefined ? undefined : `in cluster ${cluster}: ${why}`;
};

export const cpuModelFilter: HostFilter = (host, demand) => {
  if (demand.cpuModel === undefined || host.supportedCpuModels.includes(demand.cpuModel)) return undefined;
  const has = host.supportedCpuModels.length > 0 ? host.supportedCpuModels.join(', ') : 'none';
  return `CPU model ${demand.cpuModel} not supported (has ${has})`;
};

export const networkFilter: HostFilter = (host, demand) => {
  const missing = [...new Set(demand.networks)].filter((n) => !host.networks.includes(n));
  if (missing.length === 0) return undefined;
  return `${missing.length === 1 ? 'network' : 'networks'} ${missing.join(', ')} not reachable`;
};

export const datastoreFilter: HostFilter = (host, demand) =>
  demand.datastore === undefined || host.datastores.includes(demand.datastore) ? undefined : `datastore ${demand.datastore} not reachable`;

export const capacityFilter: HostFilter = (host, demand, context) => capacityShortfall(host, demand, context.cpuOvercommit);

export const requirementsFilter: HostFilter = (host, _demand, context) =>
  context.requirements === undefined || context.requirements(host, context) ? undefined : 'requirements not met';

/**
 * The filters in the order they are tried; a host's reason is the first
 * failing one's. What cannot change (state, CPU model, reachability) comes
 * before what can (free capacity), so that the reason of a pending VM says
 * whether waiting can help.
 */
export const HOST_FILTERS: readonly { readonly name: string; readonly filter: HostFilter }[] = Object.freeze([
  { name: 'enabled', filter: enabledFilter },
  { name: 'maintenance', filter: maintenanceFilter },
  { name: 'standby', filter: standbyFilter },
  { name: 'degraded', filter: degradedFilter },
  { name: 'avoided', filter: avoidedFilter },
  { name: 'cluster', filter: clusterFilter },
  { name: 'cpu-model', filter: cpuModelFilter },
  { name: 'network', filter: networkFilter },
  { name: 'datastore', filter: datastoreFilter },
  { name: 'capacity', filter: capacityFilter },
  { name: 'requirements', filter: requirementsFilter },
]);

/** Why `host` cannot take `demand`, or undefined when every filter passes. */
export function filterHost(host: HostView, demand: VmDemand, context: FilterContext): string | undefined {
  for (const { filter } of HOST_FILTERS) {
    const reason = filter(host, demand, context);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/**
 * Whether `host` passes every filter: filterHost's verdict without its reason.
 * Placement asks it of every host for every VM, so it builds no strings and
 * no arrays; the reasons are worked out only when someone reads them.
 */
export function hostPasses(host: HostView, demand: VmDemand, context: FilterContext): boolean {
  if (host.state !== 'enabled') return false;
  if (host.maintenance === true) return false;
  if (host.standby === true) return false;
  if (host.degraded !== undefined) return false;
  if (demand.avoidHosts !== undefined && demand.avoidHosts.includes(host.id)) return false;
  if ((demand.cluster !== undefined || demand.bindings !== undefined) && !fitsCluster(host.cluster ?? DEFAULT_CLUSTER, demand)) return false;
  if (demand.cpuModel !== undefined && !host.supportedCpuModels.includes(demand.cpuModel)) return false;
  for (const n of demand.networks) if (!host.networks.includes(n)) return false;
  if (demand.datastore !== undefined && !host.datastores.includes(demand.datastore)) return false;
  if (!fitsCapacity(host, demand, context.cpuOvercommit)) return false;
  return context.requirements === undefined || Boolean(context.requirements(host, context));
}
