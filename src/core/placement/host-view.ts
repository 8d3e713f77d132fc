import type { HostCapacity } from './host-capacity.js';

/**
 * Host states as the scheduler sees them (after OpenNebula): only `enabled`
 * hosts take new VMs.
 * - `init`: registered, no monitoring report yet;
 * - `disabled`: an operator took it out of scheduling (its VMs keep running);
 * - `error`: monitoring failed or the agent reported a fault;
 * - `offline`: taken out of service (maintenance, powered down).
 */
export const HOST_STATES = ['init', 'enabled', 'disabled', 'error', 'offline'] as const;

export type HostState = (typeof HOST_STATES)[number];

/** Everything the scheduler knows about a host: plain data, read from the store. */
export interface HostView extends HostCapacity {
  readonly name: string;
  readonly state: HostState;
  /** The CPU model of the host itself (for the `cpu_model` requirement). */
  readonly cpuModel: string;
  /** QEMU CPU models a guest may be given on this host. */
  readonly supportedCpuModels: readonly string[];
  readonly cpuFlags: readonly string[];
  /** CPU usage, 0..1, from the last monitoring report. */
  readonly load: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Ids of the datastores the host reaches. */
  readonly datastores: readonly string[];
  /** Ids of the virtual networks present on the host. */
  readonly networks: readonly string[];
  /** The host is (going) in maintenance: it takes no new VMs, whatever its state. */
  readonly maintenance?: boolean | undefined;
  /** On standby (the rebalancer's consolidation emptied it): skipped unless nothing else fits. */
  readonly standby?: boolean;
  /** Why its own health check fails (proactive HA): it takes no VMs until it is healthy again. */
  readonly degraded?: string | undefined;
  /** Set only on the view of a remote cloud (bursting): its name, what the `cloud` requirement compares. */
  readonly cloud?: string | undefined;
  /** The cluster it belongs to; undefined: `default` (DEFAULT_CLUSTER). */
  readonly cluster?: string | undefined;
}
