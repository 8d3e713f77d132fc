/** A host as the rebalancer sees it: plain data, read from the store and the metrics history. */
export interface DrsHost {
  readonly id: string;
  readonly name: string;
  /** Physical CPUs (measured CPU use is a share of these). */
  readonly cpus: number;
  readonly memoryMiB: number;
  /** vCPUs the host may hold (its CPUs × its overcommit): the allocation limit. */
  readonly vcpuLimit: number;
  /**
   * Undefined when the host may take VMs; otherwise why not (disabled,
   * in maintenance, on standby…). Its VMs stay where they are and it is
   * left out of the imbalance: evacuation is another planner's job.
   */
  readonly ineligible?: string | undefined;
}

/** A VM as the rebalancer sees it. */
export interface DrsVm {
  readonly id: string;
  readonly name: string;
  readonly hostId: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Measured CPU use in CPUs (1.5 = one and a half CPUs busy). */
  readonly cpuUse: number;
  /** Measured memory use in MiB. */
  readonly memoryUseMiB: number;
  /** When it last finished a migration (ms since the epoch), if ever. */
  readonly lastMigratedAt?: number | undefined;
  /** Undefined when it may be moved live; otherwise why not (not running, has volumes…). */
  readonly unmovable?: string | undefined;
  /**
   * The hosts its placement requirements admit (undefined: any host). A move
   * elsewhere would be refused by the migration's own pre-check, so a plan
   * that held one would be a plan that cannot be carried out.
   */
  readonly allowedHostIds?: ReadonlySet<string> | undefined;
}

export interface DrsCluster {
  readonly hosts: readonly DrsHost[];
  readonly vms: readonly DrsVm[];
  /** The planner's clock (ms since the epoch). */
  readonly now: number;
}

export const byId = <T extends { readonly id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
