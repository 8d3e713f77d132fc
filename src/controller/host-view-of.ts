import type { HostView } from '../core/placement/host-view.js';
import type { Host } from '../store/repositories/hosts-repository.js';

/** What the last heartbeat reported, as the controller records it in `hosts.usage`. */
export interface HostUsage {
  readonly load?: number;
  readonly cpuModels?: readonly string[];
  readonly kvm?: boolean;
  readonly usedMemoryMiB?: number;
  readonly usedDiskMiB?: number;
  /** Bridges the host's VMs can attach to (absent from agents that do not say). */
  readonly bridges?: readonly string[];
  readonly migration?: { readonly address?: string; readonly tls?: boolean; readonly sharedDatastore?: boolean };
}

/** The scheduler's view of a stored host: plain data for core/placement. */
export function hostViewOf(h: Host): HostView {
  const usage = (h.usage ?? {}) as HostUsage;
  return {
    id: h.id,
    name: h.name,
    state: h.state,
    cpuModel: h.cpuModel,
    supportedCpuModels: usage.cpuModels ?? [],
    cpuFlags: h.cpuFlags,
    load: usage.load ?? 0,
    labels: h.labels,
    datastores: usage.migration?.sharedDatastore === true ? ['local', 'shared'] : ['local'],
    networks: [...(usage.bridges ?? [])],
    totalCpus: h.total.cpus,
    totalMemoryMiB: h.total.memoryMib,
    totalDiskMiB: h.total.diskMib,
    reservedCpus: h.reserved.cpus,
    reservedMemoryMiB: h.reserved.memoryMib,
    reservedDiskMiB: h.reserved.diskMib,
    ...(h.cpuOvercommit !== null ? { cpuOvercommit: h.cpuOvercommit } : {}),
    ...(h.maintenance !== null ? { maintenance: true } : {}),
    ...(h.standbySince !== null ? { standby: true } : {}),
    ...(h.degraded !== null ? { degraded: h.degraded } : {}),
    cluster: h.cluster,
  };
}
