import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import type { Store } from '../store/open-store.js';
import type { Cloud } from '../store/repositories/clouds-repository.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Failpoints } from '../util/failpoints.js';
import type { Catalog } from './catalog.js';
import type { CloudBursting } from './cloud-bursting.js';
import type { CloudBurstingOptions } from './cloud-bursting-options.js';
import type { UploadTarget } from './cloud-image-upload.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import type { ImageStore } from './image-store.js';

export interface CloudMigratorOptions {
  readonly store: Store;
  readonly clouds: CloudBursting;
  readonly images: ImageStore;
  readonly catalog: Catalog;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /**
   * Out: `cloud.migrate.upload` (before the disk goes to S3), `.register`, `.launch`, `.launched` (RunInstances answered,
   * its instance not yet recorded), `.release` (before the local copy is let go). Back: `cloud.migrate.image`
   * (before CreateImage), `.export`, `.exported`, `.downloaded` (the local image made, not yet journaled), `.place`,
   * `.terminate` (the VM placed locally, before the remote copy is ended).
   */
  readonly failpoints?: Failpoints | undefined;
  /** Drives a VM's operation (the orchestrator's kick): a VM back from a cloud is placed as a new one is. */
  readonly kick: (vmId: string) => void;
  /** How long a remote instance, an export or a local placement has to get where a step waits for it (default 10 min). */
  readonly stateTimeoutMs?: number | undefined;
}

/** What a step of a cloud migration did: the step journaled next and what it adds to the migration's data. */
export interface CloudMigrationStep {
  step: string;
  data?: Record<string, string>;
}

/** The cloud's S3 bucket the disks go through; a cloud without one refuses the migration. */
export function migrationS3(o: CloudMigratorOptions, cloud: Cloud): UploadTarget {
  const t = o.clouds.s3Of(cloud);
  if (t === undefined) throw new CloudRefusedError(cloud.name, 'NoImageBucket', 'the cloud has no S3 endpoint and bucket');
  return t;
}

/** What `bringInstanceTo` and `terminateCloudInstances` use of the bursting options: a migration seals no secrets and frees no room. */
export function migrationBringOptions(o: CloudMigratorOptions): CloudBurstingOptions {
  return { store: o.store, logger: o.logger, stateTimeoutMs: o.stateTimeoutMs, cipher: undefined as never, onRoom: () => undefined };
}
