import { errorMessage } from '../errors/nubo-error.js';
import type { Cloud } from '../store/repositories/clouds-repository.js';
import type { CloudMigration } from '../store/repositories/cloud-migrations-repository.js';
import { migrationBringOptions, migrationS3, type CloudMigratorOptions } from './cloud-migrator-options.js';
import { deleteFromCloudS3 } from './cloud-s3-object.js';
import { backImageName } from './step-cloud-migration-back.js';
import { OUT_PREFIX } from './step-cloud-migration-out.js';
import { terminateCloudInstances } from './terminate-cloud-instances.js';

/** What a refused migration made is undone; the VM stays where it was, as it was. */
export async function rollBackCloudMigration(o: CloudMigratorOptions, m: CloudMigration, cloud: Cloud, signal: AbortSignal): Promise<void> {
  const ec2 = o.clouds.ec2Of(cloud);
  const vm = await o.store.vms.get(m.vmId);
  const s3 = cloud.imageUpload === null ? undefined : migrationS3(o, cloud);
  const quietly = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    await f().catch((err: unknown) => o.logger.warn({ vmId: vm.id, cloud: cloud.name, err: errorMessage(err) }, `rolling back: ${what} failed; left on the cloud`));
  };
  if (m.direction === 'out') {
    const b = await o.store.clouds.binding(vm.id);
    // Any instance this migration launched carries the VM's tag (the VM was local, so it had none before).
    if (b !== undefined) await terminateCloudInstances(migrationBringOptions(o), vm, { ...b, instanceId: m.data['instanceId'] ?? null }, ec2, signal);
    if (m.data['ami'] !== undefined) await quietly('DeregisterImage', () => ec2.deregisterImage(m.data['ami']!, signal));
    if (s3 !== undefined) await quietly('deleting the uploaded disk', () => deleteFromCloudS3(s3, `${OUT_PREFIX}-${vm.id}-g${m.generation}.qcow2`, signal));
  } else {
    if (m.data['backAmi'] !== undefined) await quietly('DeregisterImage', () => ec2.deregisterImage(m.data['backAmi']!, signal));
    if (s3 !== undefined && m.data['backKey'] !== undefined) await quietly('deleting the exported disk', () => deleteFromCloudS3(s3, m.data['backKey']!, signal));
    const img = await o.store.images.findByName(vm.ownerId, backImageName(vm, m.generation));
    if (img !== undefined) await o.images.delete(img.id).catch(() => undefined);
  }
}
