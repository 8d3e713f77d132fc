import { join } from 'node:path';
import { PLACE_OPERATION } from '../core/vm-actions.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { Cloud } from '../store/repositories/clouds-repository.js';
import type { CloudMigration } from '../store/repositories/cloud-migrations-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { ConflictError } from '../store/store-errors.js';
import { sleep } from '../util/deadline.js';
import { migrationBringOptions, migrationS3, type CloudMigrationStep, type CloudMigratorOptions } from './cloud-migrator-options.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import { deleteFromCloudS3, downloadFromCloudS3 } from './cloud-s3-object.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { terminateCloudInstances } from './terminate-cloud-instances.js';

/** Where ExportImage puts the VM's disk in the cloud's bucket, apart from the objects a migration out uploads. */
const BACK_PREFIX = 'nubo-back/';

/**
 * One step of a migration back (cloud → local host): image, export, download, place, cleanup. The remote copy is
 * ended only in cleanup, once the VM is placed locally: until then it is the authoritative one.
 */
export async function stepCloudMigrationBack(o: CloudMigratorOptions, m: CloudMigration, cloud: Cloud, signal: AbortSignal): Promise<CloudMigrationStep> {
  const vm = await o.store.vms.get(m.vmId);
  const ec2 = o.clouds.ec2Of(cloud);
  const amiName = `nubo-back-${vm.id}-g${m.generation}`;
  const instanceId = m.data['instanceId']!;
  switch (m.step) {
    case 'image': {
      await o.failpoints?.hit('cloud.migrate.image');
      let ami = await ec2.findImage(amiName, signal);
      if (ami === undefined) {
        try {
          ami = await ec2.createImage(instanceId, amiName, signal);
        } catch (err) {
          if (!(err instanceof CloudRefusedError && err.awsCode === 'InvalidAMIName.Duplicate')) throw err;
          ami = await ec2.findImage(amiName, signal);
          if (ami === undefined) throw err;
        }
      }
      return { step: 'export', data: { backAmi: ami } };
    }
    case 'export': {
      await o.failpoints?.hit('cloud.migrate.export');
      const s3 = migrationS3(o, cloud);
      const taskId = await ec2.exportImage({ imageId: m.data['backAmi']!, bucket: s3.bucket, prefix: BACK_PREFIX, format: 'QCOW2', clientToken: `${vm.id}/b${m.generation}` }, signal);
      const until = Date.now() + (o.stateTimeoutMs ?? 600_000);
      for (let waitMs = 100; ; waitMs = Math.min(2_000, waitMs * 2)) {
        const t = await ec2.exportTask(taskId, signal);
        if (t.status === 'completed') break;
        if (t.status !== 'active') throw new CloudRefusedError(cloud.name, 'ExportImageFailed', `export task ${taskId} is ${t.status}: ${t.message ?? ''}`);
        if (Date.now() > until) throw new TimeoutError(`export task ${taskId} on cloud ${cloud.name}`, o.stateTimeoutMs ?? 600_000);
        await sleep(waitMs, signal);
      }
      await o.failpoints?.hit('cloud.migrate.exported');
      return { step: 'download', data: { exportTask: taskId, backKey: `${BACK_PREFIX}${taskId}.qcow2` } };
    }
    case 'download': {
      const name = backImageName(vm, m.generation);
      // Made by a try that died before its journal entry: taken as it is (its sha256 was checked before it was made).
      let image = await o.store.images.findByName(vm.ownerId, name);
      let sha256 = image?.sha256;
      if (image === undefined) {
        const made = await o.images.withTempDir(async (dir) => {
          const file = join(dir, 'disk.qcow2');
          const got = await downloadFromCloudS3(migrationS3(o, cloud), m.data['backKey']!, file, signal);
          if (got.claimed === undefined) o.logger.warn({ vmId: vm.id, key: m.data['backKey'] }, 'the exported object carries no sha256 to check the download against');
          const img = await o.images.add({ name, ownerId: vm.ownerId, file, format: 'qcow2', displayName: `the disk of VM ${vm.name} from cloud ${cloud.name}` }, { signal });
          return { img, sha256: got.sha256 };
        });
        if (made.img.sha256 !== made.sha256) throw new CloudRefusedError(cloud.name, 'BadDigest', `the image made of the download has sha256 ${made.img.sha256}, the download ${made.sha256}`);
        image = made.img;
        sha256 = made.sha256;
      }
      await o.failpoints?.hit('cloud.migrate.downloaded');
      return { step: 'place', data: { localImage: image.id, backSha256: sha256 ?? '' } };
    }
    case 'place': {
      await o.failpoints?.hit('cloud.migrate.place');
      // Placed once: a VM already past this (pending, prolog, boot, or arrived) is only waited for.
      if (await o.store.clouds.binding(vm.id) !== undefined || (vm.state === 'poweroff' && vm.hostId === null && vm.operation === null)) {
        await placeLocally(o, vm, m);
      }
      await waitPlaced(o, vm.id, cloud, signal);
      return { step: 'cleanup' };
    }
    case 'cleanup': {
      await o.failpoints?.hit('cloud.migrate.terminate');
      // The VM runs from its local copy now: the remote one is ended, then what was made to bring it back.
      const b = { vmId: vm.id, cloudId: cloud.id, instanceType: '', imageId: '', instanceId, remoteState: null, createdAt: '', updatedAt: '' };
      await terminateCloudInstances(migrationBringOptions(o), vm, b, ec2, signal);
      await ec2.deregisterImage(m.data['backAmi']!, signal).catch((err: unknown) => {
        if (!(err instanceof CloudRefusedError && err.awsCode.startsWith('InvalidAMIID'))) throw err;
      });
      await deleteFromCloudS3(migrationS3(o, cloud), m.data['backKey']!, signal);
      o.logger.info({ vmId: vm.id, cloud: cloud.name, image: m.data['localImage'] }, 'vm migrated back from the cloud');
      return { step: 'done' };
    }
    default:
      throw new CloudRefusedError(cloud.name, 'InvalidStep', `unknown step ${m.step}`);
  }
}

/** The VM leaves the cloud's books (its instance id is in the journal) and is placed as a new VM is, on its image from the cloud. */
async function placeLocally(o: CloudMigratorOptions, vm: Vm, m: CloudMigration): Promise<void> {
  await o.store.clouds.unbind(vm.id);
  const spec = vm.spec as unknown as ControllerVmSpec;
  const image = await o.catalog.imageRefOf(m.data['localImage']!);
  const hostId = m.data['hostId'];
  const next: ControllerVmSpec = {
    ...spec, agent: { ...spec.agent, disk: { ...spec.agent.disk, image } },
    ...(hostId !== undefined ? { deploy: { hostId } } : {}),
  };
  await o.store.vms.transition(vm.id, {
    from: ['poweroff'], to: 'pending', action: 'cloud-migrate', expectedVersion: vm.version, reason: `migrating back from a remote cloud`,
    patch: { spec: next as never, operation: m.start ? { action: 'create', from: 'pending' } : PLACE_OPERATION },
  });
  o.kick(vm.id);
}

async function waitPlaced(o: CloudMigratorOptions, vmId: string, cloud: Cloud, signal: AbortSignal): Promise<void> {
  const until = Date.now() + (o.stateTimeoutMs ?? 600_000);
  for (let waitMs = 100; ; waitMs = Math.min(2_000, waitMs * 2)) {
    const vm = await o.store.vms.get(vmId);
    if (vm.operation === null && vm.hostId !== null && (vm.state === 'poweroff' || vm.state === 'running')) return;
    // Failed on its local host: the remote copy is kept (cleanup never runs), the VM says why.
    if (vm.state === 'failed' || vm.state === 'terminated') throw new ConflictError('VM', 'state', vm.state, `did not arrive on a local host (${vm.stateReason ?? ''}); its copy on cloud ${cloud.name} is kept`);
    if (Date.now() > until) throw new TimeoutError(`VM ${vm.name} to be placed on a local host`, o.stateTimeoutMs ?? 600_000);
    await sleep(waitMs, signal);
  }
}

/** The local image a VM's disk comes back as: its name and the migration's generation. */
export function backImageName(vm: Pick<Vm, 'name'>, generation: number): string {
  const suffix = `-from-cloud-${generation}`;
  return `${vm.name.slice(0, 63 - suffix.length)}${suffix}`;
}
