import { join } from 'node:path';
import { findOrUndefined } from '../store/find-or-undefined.js';
import type { Cloud } from '../store/repositories/clouds-repository.js';
import type { CloudMigration } from '../store/repositories/cloud-migrations-repository.js';
import { errorMessage } from '../errors/nubo-error.js';
import { agentVmId } from './agent-vm-id.js';
import { bringInstanceTo } from './bring-instance-to.js';
import { captureVmDisk } from './capture-vm-disk.js';
import { uploadToCloudS3 } from './cloud-image-upload.js';
import { migrationBringOptions, migrationS3, type CloudMigrationStep, type CloudMigratorOptions } from './cloud-migrator-options.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import { deleteFromCloudS3 } from './cloud-s3-object.js';
import type { CloudEc2Client } from './cloud-ec2-client.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { Vm } from '../store/repositories/vms-repository.js';

/** The prefix of the objects and AMI names a migration makes on the remote; with the VM id and generation they are its own. */
export const OUT_PREFIX = 'nubo-migrate';

/**
 * One step of a migration out (local host → cloud): export (capture and upload), register, launch, confirm, release.
 * Each finds what an earlier try of it made, so that a step cut short is tried again without making anything twice.
 */
export async function stepCloudMigrationOut(o: CloudMigratorOptions, m: CloudMigration, cloud: Cloud, signal: AbortSignal): Promise<CloudMigrationStep> {
  const vm = await o.store.vms.get(m.vmId);
  const ec2 = o.clouds.ec2Of(cloud);
  const name = `${OUT_PREFIX}-${vm.id}-g${m.generation}`;
  const key = `${name}.qcow2`;
  switch (m.step) {
    case 'export': {
      // The disk as it is now (overlay flattened onto its base), then to the cloud's S3; a retry captures and uploads again.
      const s3 = migrationS3(o, cloud);
      const sent = await o.images.withTempDir(async (dir) => {
        const file = join(dir, 'disk.qcow2');
        const got = await captureVmDisk(o, vm, file, { signal });
        await o.failpoints?.hit('cloud.migrate.upload');
        const up = await uploadToCloudS3(s3, file, key, signal);
        return { ...got, parts: up.parts };
      });
      o.logger.info({ vmId: vm.id, cloud: cloud.name, bytes: sent.sizeBytes, parts: sent.parts, sha256: sent.sha256 }, 'vm disk exported to the cloud');
      return { step: 'register', data: { key, sha256: sent.sha256, sizeBytes: String(sent.sizeBytes) } };
    }
    case 'register': {
      await o.failpoints?.hit('cloud.migrate.register');
      let ami = await ec2.findImage(name, signal);
      if (ami === undefined) {
        try {
          ami = await ec2.registerImage(name, `${migrationS3(o, cloud).bucket}/${key}`, signal, await bootOnCloud(o, cloud, ec2, vm, signal));
        } catch (err) {
          if (!(err instanceof CloudRefusedError && err.awsCode === 'InvalidAMIName.Duplicate')) throw err;
          ami = await ec2.findImage(name, signal);
          if (ami === undefined) throw err;
        }
      }
      // Registered: the remote keeps its own copy of the bytes, the uploaded object is no longer needed.
      await deleteFromCloudS3(migrationS3(o, cloud), key, signal);
      return { step: 'launch', data: { ami } };
    }
    case 'launch': {
      const ami = m.data['ami']!;
      const b = await o.store.clouds.bindMigrating({ vmId: vm.id, cloudId: cloud.id, instanceType: m.data['instanceType']!, imageId: ami });
      if ('full' in b) throw new CloudRefusedError(cloud.name, 'CloudFull', `cloud ${cloud.name} is at its limit (${b.full} of ${cloud.capacityVms} VMs)`);
      await o.failpoints?.hit('cloud.migrate.launch');
      const spec = vm.spec as unknown as ControllerVmSpec;
      // The token is the VM's and the migration's: a retry gets the same instance, a later migration of the VM a new one.
      const inst = await ec2.launch({ clientToken: `${vm.id}/m${m.generation}`, imageId: ami, instanceType: b.instanceType, userData: spec.agent.context.userData, hostname: spec.agent.context.hostname, vmId: vm.id }, signal);
      await o.failpoints?.hit('cloud.migrate.launched');
      await o.store.clouds.recordInstance(vm.id, { instanceId: inst.instanceId, remoteState: inst.state });
      return { step: 'confirm', data: { instanceId: inst.instanceId } };
    }
    case 'confirm': {
      const b = await o.store.clouds.binding(vm.id);
      const id = m.data['instanceId']!;
      if (b === undefined) throw new CloudRefusedError(cloud.name, 'IncorrectInstanceState', 'the VM\'s binding to the cloud is gone');
      const opts = migrationBringOptions(o);
      await bringInstanceTo(opts, vm, b, id, cloud, ec2, 'running', signal);
      // EC2 launches running; a VM that left powered off arrives powered off.
      if (!m.start) await bringInstanceTo(opts, vm, { ...b, remoteState: 'running' }, id, cloud, ec2, 'stopped', signal);
      return { step: 'release' };
    }
    case 'release': {
      await o.failpoints?.hit('cloud.migrate.release');
      const hostId = m.data['hostId']!;
      // The VM leaves its host in the store first: the host's next report of the VM gone is then no news.
      await o.store.vms.releaseFromHost(vm.id, { reason: `migrated to cloud ${cloud.name}` });
      const host = await findOrUndefined(o.store.hosts.get(hostId));
      if (host !== undefined) await o.agentFor(host).delete(agentVmId(vm.id), { signal, timeoutMs: 60_000 });
      if (m.start && vm.state === 'poweroff') {
        await o.store.vms.transition(vm.id, { from: ['poweroff'], to: 'running', action: 'cloud-migrate', reason: `migrated to cloud ${cloud.name} and started there` });
      }
      // The AMI was this migration's own: the instance runs on, as EC2 lets it.
      await ec2.deregisterImage(m.data['ami']!, signal).catch((err: unknown) => o.logger.warn({ vmId: vm.id, err: errorMessage(err) }, 'deregistering the migration\'s AMI failed; left on the cloud'));
      o.logger.info({ vmId: vm.id, cloud: cloud.name, instanceId: m.data['instanceId'] }, 'vm migrated to the cloud');
      return { step: 'done' };
    }
    default:
      throw new CloudRefusedError(cloud.name, 'InvalidStep', `unknown step ${m.step}`);
  }
}

/**
 * How the cloud is to boot the VM's exported disk. A VM that boots a kernel
 * (and initrd) of its own has a disk that boots nothing by itself: the AMI
 * the cloud's image map gives for its image boots that image there, so the
 * migrated disk is registered with that AMI's kernel and ramdisk. Without
 * such an AMI the disk would be registered unbootable: refused instead.
 */
async function bootOnCloud(o: CloudMigratorOptions, cloud: Cloud, ec2: CloudEc2Client, vm: Vm, signal: AbortSignal): Promise<{ kernel?: string; ramdisk?: string }> {
  const spec = vm.spec as unknown as ControllerVmSpec;
  if (spec.agent.kernel === undefined) return {};
  const imageId = spec.agent.disk.image.id;
  const imageName = (await findOrUndefined(o.store.images.get(imageId)))?.name;
  const own = (k: string | undefined): string | undefined => (k !== undefined && Object.hasOwn(cloud.images, k) ? cloud.images[k] : undefined);
  const ami = own(imageId) ?? own(imageName);
  if (ami === undefined || !ami.startsWith('ami-')) {
    throw new CloudRefusedError(cloud.name, 'InvalidParameterValue', `VM ${vm.name} boots a kernel and cloud ${cloud.name}'s image map has no AMI for its image ${imageName ?? imageId} to boot it with`);
  }
  return ec2.bootOf(ami, signal);
}
