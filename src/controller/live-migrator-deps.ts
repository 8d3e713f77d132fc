import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { Failpoints } from '../util/failpoints.js';

export interface LiveMigratorOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** How often the source's progress is read during pre-copy. */
  readonly pollIntervalMs?: number;
  /** Whether hosts can switch to post-copy (userfaultfd; only sensible with KVM). */
  readonly postcopySupported?: boolean;
  /** Fault injection for tests: `migration.<stage>` is hit right after each stage is journalled. */
  readonly failpoints?: Failpoints | undefined;
}

/** One migration's record as it was when its drive began, and the two agents it runs between. */
export interface Ends {
  readonly m: MigrationRecord;
  readonly src: AgentClient;
  readonly dst: AgentClient;
  /** The VM's id on the agents. */
  readonly id: string;
}
