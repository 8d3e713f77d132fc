import type { Logger } from 'pino';
import type { MigrationQueueLimits } from '../core/migration/migration-queue-plan.js';
import { compileQueueLimits } from '../core/migration/queue-limits.js';
import type { AgentClient } from '../client/agent-client.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Failpoints } from '../util/failpoints.js';
import { HostMaintenance } from './host-maintenance.js';
import { MigrationPlanner } from './migration-planner.js';
import { MigrationQueue } from './migration-queue.js';
import type { MigrationService } from './migration-service.js';

export interface ControllerPlanningOptions {
  readonly store: Store;
  readonly agentFor: (h: Host) => AgentClient;
  readonly service: MigrationService;
  readonly schedulePending: () => Promise<void>;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  readonly limits?: Partial<MigrationQueueLimits> | undefined;
}

/** The planner, the migration queue and host maintenance, built together (the controller daemon's one seam for them). */
export interface ControllerPlanning {
  readonly planner: MigrationPlanner;
  readonly queue: MigrationQueue;
  readonly maintenance: HostMaintenance;
  start(): void;
  stop(): Promise<void>;
}

export function controllerPlanning(o: ControllerPlanningOptions): ControllerPlanning {
  const planner = new MigrationPlanner({ store: o.store, agentFor: o.agentFor, logger: o.logger });
  const queue = new MigrationQueue({ store: o.store, service: o.service, planner, limits: compileQueueLimits(o.limits), logger: o.logger, failpoints: o.failpoints });
  const maintenance = new HostMaintenance({ store: o.store, queue, service: o.service, planner, schedulePending: o.schedulePending, logger: o.logger, failpoints: o.failpoints });
  return {
    planner, queue, maintenance,
    start: () => {
      queue.start();
      maintenance.start();
    },
    stop: async () => {
      await maintenance.stop();
      await queue.stop();
    },
  };
}
