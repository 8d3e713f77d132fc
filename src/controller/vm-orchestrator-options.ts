import type { Logger } from 'pino';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { AgentClient } from '../client/agent-client.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { VmPhaseTable } from './vm-phase-table.js';
import type { Failpoints } from '../util/failpoints.js';
import type { CloudBursting } from './cloud-bursting.js';

// Its own file: runVmPhase and scheduleVm take these options too, and importing them from vm-orchestrator.ts would make an import cycle.
export interface VmOrchestratorOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly policy: PlacementPolicy;
  readonly logger: Logger;
  /**
   * The phases run by collaborators: `stop` and the resume of a stopped VM
   * (the stopper and its system store), cold and live migration (the
   * migrators). Without an entry its phase fails as unsupported.
   */
  readonly phases?: VmPhaseTable | undefined;
  /**
   * Fault injection for tests: `vm.<phase>` before a step's agent call, `vm.<phase>.done` after it returned;
   * `vm.prolog.place-again` and `vm.prolog.placed-again` around a create's re-placement (place-again.ts).
   */
  readonly failpoints?: Failpoints | undefined;
  /**
   * An agent that cannot be reached (refused, reset, timed out, 502/503/504)
   * has not said the step failed: the step is retried with a backoff from
   * `initialMs` doubling to `maxMs`, until the host monitor declares the host
   * lost or `giveUpAfterMs` has passed. Defaults: 250 ms, 5 s, 10 min.
   * A create's prolog that never reached its host (no connection made) is
   * placed again on another host instead (place-again.ts).
   */
  readonly unreachableRetry?: { readonly initialMs?: number; readonly maxMs?: number; readonly giveUpAfterMs?: number } | undefined;
  /** How long a guest has to shut down by itself on `reboot` before it is reset instead (default 60 s). */
  readonly rebootGraceS?: number | undefined;
  /** Remote clouds (bursting): where a VM no local host takes may go, and who drives the steps of a VM bound to one. */
  readonly clouds?: Pick<CloudBursting, 'binding' | 'place' | 'runPhase'> | undefined;
  /** Whether the VM is migrating between clouds (cloud-migrator.ts): its actions wait until that ends. */
  readonly migratingBetweenClouds?: ((vmId: string) => Promise<boolean>) | undefined;
}
