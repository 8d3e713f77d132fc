import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { PLACE_OPERATION } from '../core/vm-actions.js';
import { InvalidStateError } from '../core/invalid-state-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { Store } from '../store/open-store.js';
import type { Cloud } from '../store/repositories/clouds-repository.js';
import { isCloudMigrationInFlight, type CloudMigration } from '../store/repositories/cloud-migrations-repository.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { ConflictError, NotFoundError, StaleStateError } from '../store/store-errors.js';
import { sleep } from '../util/deadline.js';
import type { Failpoints } from '../util/failpoints.js';
import { agentVmId } from './agent-vm-id.js';
import { bringInstanceTo } from './bring-instance-to.js';
import { captureVmDisk } from './capture-vm-disk.js';
import type { Catalog } from './catalog.js';
import type { CloudBursting } from './cloud-bursting.js';
import type { CloudEc2Client } from './cloud-ec2-client.js';
import type { CloudBurstingOptions } from './cloud-bursting-options.js';
import { uploadToCloudS3, type UploadTarget } from './cloud-image-upload.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import { deleteFromCloudS3, downloadFromCloudS3 } from './cloud-s3-object.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { ImageStore } from './image-store.js';
import { terminateCloudInstances } from './terminate-cloud-instances.js';

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

/** The prefix of the objects and AMI names a migration makes on the remote; with the VM id and generation they are its own. */
const OUT_PREFIX = 'nubo-migrate';
const BACK_PREFIX = 'nubo-back/';

/**
 * Cross-cloud cold migration (issue 18): a powered-off VM moves from a
 * local host to a remote EC2 cloud (`out`: its disk captured as a standalone
 * qcow2, uploaded to the cloud's S3, RegisterImage, RunInstances with a
 * ClientToken of the VM id and the migration's generation, then bound to the
 * cloud like a burst VM) and back (`back`: CreateImage of the stopped
 * instance, ExportImage into the cloud's bucket, the object downloaded and
 * checked against its sha256, registered as a local image the VM is placed
 * on, and only then the remote instance terminated, the AMI deregistered and
 * the object deleted).
 *
 * Every step is journaled (store `cloud_migrations`) before its side effect;
 * a controller that restarts resumes at the journaled step, and every step
 * finds what an earlier try of it made (by name, token or tag) instead of
 * making it twice. At every moment one copy is authoritative: the local one
 * until the remote instance is confirmed (a failure before rolls back:
 * instance terminated, AMI deregistered, object deleted, the VM as it was),
 * the remote one until the VM is placed locally again. A cloud that does not
 * answer is waited for (the VM's reason says so); one that refuses ends the
 * migration with its reason, rolled back.
 */
export class CloudMigrator {
  readonly #o: CloudMigratorOptions;
  readonly #driving = new Map<string, Promise<void>>();
  readonly #stopping = new AbortController();

  constructor(o: CloudMigratorOptions) {
    this.#o = o;
  }

  /** The VM's migration (in flight or the last one), if it had one. */
  get(vmId: string): Promise<CloudMigration | undefined> {
    return this.#o.store.cloudMigrations.get(vmId);
  }

  /** Whether the VM is migrating between clouds now (its other actions wait). */
  async inFlight(vmId: string): Promise<boolean> {
    return isCloudMigrationInFlight(await this.#o.store.cloudMigrations.get(vmId));
  }

  /** Starts moving a powered-off VM from its local host to `cloudName`; every refusal is made before anything is journaled. */
  async migrateOut(vm: Vm, cloudName: string, o: { start: boolean }): Promise<CloudMigration> {
    const cloud = await this.#o.store.clouds.findByName(cloudName);
    if (cloud === undefined) throw new NotFoundError('cloud', cloudName);
    if (vm.state !== 'poweroff' || vm.operation !== null || vm.hostId === null) throw new InvalidStateError('migrate to a cloud', vm.state, ['poweroff'], 'migrate to a cloud a');
    const bound = await this.#o.store.clouds.binding(vm.id);
    if (bound !== undefined) throw new ConflictError('VM', 'cloud', cloudName, 'is on a remote cloud already: migrate it back first');
    if (cloud.imageUpload === null) throw new ConflictError('cloud', 'imageBucket', cloud.name, 'has no S3 endpoint and bucket to upload the VM\'s disk to (cloud add --s3-endpoint --image-bucket)');
    const spec = vm.spec as unknown as ControllerVmSpec;
    const size = `${spec.demand.vcpus}x${spec.demand.memoryMiB}`;
    if (!Object.hasOwn(cloud.instanceTypes, size)) throw new ConflictError('cloud', 'instanceTypes', cloud.name, `maps no instance type to the VM's size ${size}`);
    if (spec.agent.disk.datastore === 'shared') throw new ConflictError('VM', 'datastore', 'shared', 'cannot migrate to a cloud: its disk is on the shared datastore');
    const volumes = (await this.#o.store.volumes.list({ vmId: vm.id })).map((v) => v.name);
    if (volumes.length > 0) throw new ConflictError('VM', 'volumes', volumes.join(', '), 'cannot migrate to a cloud: volumes are files of their host; detach them first');
    const m = await this.#o.store.cloudMigrations.begin({ vmId: vm.id, direction: 'out', cloudId: cloud.id, start: o.start, data: { hostId: vm.hostId, instanceType: cloud.instanceTypes[size]! } });
    await this.#stillAtRest(vm, m);
    this.#o.logger.info({ vmId: vm.id, cloud: cloud.name, generation: m.generation }, 'cloud migration out begun');
    await this.#explain(vm.id, `migrating to cloud ${cloud.name}: ${m.step}`);
    this.#kick(vm.id);
    return m;
  }

  /** Starts bringing a powered-off VM on a remote cloud back to a local host (`hostId`: that one, else the placement rules choose). */
  async migrateBack(vm: Vm, o: { start: boolean; hostId?: string | undefined }): Promise<CloudMigration> {
    const bound = await this.#o.store.clouds.binding(vm.id);
    if (bound === undefined) throw new ConflictError('VM', 'cloud', 'local', 'is on no remote cloud: migrate it to a host instead');
    if (vm.state !== 'poweroff' || vm.operation !== null) throw new InvalidStateError('migrate back from a cloud', vm.state, ['poweroff'], 'migrate back from a cloud a');
    const cloud = await this.#o.store.clouds.get(bound.cloudId);
    if (bound.instanceId === null) throw new ConflictError('VM', 'cloud', cloud.name, 'has no instance on the cloud yet');
    if (cloud.imageUpload === null) throw new ConflictError('cloud', 'imageBucket', cloud.name, 'has no S3 bucket to export the VM\'s disk into (cloud add --s3-endpoint --image-bucket)');
    const m = await this.#o.store.cloudMigrations.begin({ vmId: vm.id, direction: 'back', cloudId: cloud.id, start: o.start, data: { instanceId: bound.instanceId, ...(o.hostId !== undefined ? { hostId: o.hostId } : {}) } });
    await this.#stillAtRest(vm, m);
    this.#o.logger.info({ vmId: vm.id, cloud: cloud.name, generation: m.generation }, 'cloud migration back begun');
    await this.#explain(vm.id, `migrating back from cloud ${cloud.name}: ${m.step}`);
    this.#kick(vm.id);
    return m;
  }

  /**
   * An action that began between the checks and the journal (the journal is what keeps actions out): the migration
   * ends at once, having done nothing. @throws InvalidStateError then
   */
  async #stillAtRest(vm: Vm, m: CloudMigration): Promise<void> {
    const now = await this.#o.store.vms.get(vm.id);
    if (now.state === 'poweroff' && now.operation === null && now.hostId === vm.hostId) return;
    await this.#o.store.cloudMigrations.advance(vm.id, m.generation, 'failed', {}, `${m.step}: the VM changed state (${now.state}) as the migration began`);
    throw new InvalidStateError('migrate between clouds', now.state, ['poweroff'], 'migrate between clouds a');
  }

  /** After a restart (the leader's): every migration in flight is driven on from its journaled step. */
  async resumeAll(): Promise<void> {
    for (const m of await this.#o.store.cloudMigrations.inFlight()) this.#kick(m.vmId);
  }

  async stop(): Promise<void> {
    this.#stopping.abort(new Error('the controller is stopping'));
    await Promise.allSettled([...this.#driving.values()]);
  }

  #kick(vmId: string): void {
    if (this.#driving.has(vmId) || this.#stopping.signal.aborted) return;
    const p = this.#drive(vmId)
      .catch((err: unknown) => this.#o.logger.error({ vmId, err: errorMessage(err) }, 'driving the cloud migration failed; it goes on at the next start'))
      .finally(() => this.#driving.delete(vmId));
    this.#driving.set(vmId, p);
  }

  async #drive(vmId: string): Promise<void> {
    const signal = this.#stopping.signal;
    let waitMs = 500;
    for (;;) {
      if (signal.aborted) return;
      const m = await this.#o.store.cloudMigrations.get(vmId);
      if (!isCloudMigrationInFlight(m)) return;
      const cloud = await this.#o.store.clouds.get(m.cloudId);
      try {
        const next = m.direction === 'out' ? await this.#stepOut(m, cloud, signal) : await this.#stepBack(m, cloud, signal);
        // The reason first: whoever sees the migration ended sees the VM's reason of its end.
        await this.#explain(vmId, next.step === 'done' ? null : `${m.direction === 'out' ? 'migrating to' : 'migrating back from'} cloud ${cloud.name}: ${next.step}`);
        await this.#o.store.cloudMigrations.advance(vmId, m.generation, next.step, next.data ?? {});
        this.#o.logger.info({ vmId, cloud: cloud.name, direction: m.direction, done: m.step, next: next.step }, 'cloud migration step');
        waitMs = 500;
        if (next.step === 'done') return;
      } catch (err) {
        if (signal.aborted) return;
        const reason = errorMessage(err);
        // No verdict from the cloud (or the local side busy): the step is tried again, its reason shown meanwhile.
        if (err instanceof CloudUnreachableError || err instanceof TimeoutError || !this.#mayGiveUp(m)) {
          this.#o.logger.warn({ vmId, cloud: cloud.name, step: m.step, err: reason }, 'cloud migration step failed; retried');
          await this.#explain(vmId, `${m.direction === 'out' ? 'migrating to' : 'migrating back from'} cloud ${cloud.name}: ${m.step} waits: ${reason}; retried`);
          await sleep(waitMs, signal).catch(() => undefined);
          waitMs = Math.min(5_000, waitMs * 2);
          continue;
        }
        this.#o.logger.warn({ vmId, cloud: cloud.name, step: m.step, err: reason }, 'cloud migration refused; rolled back');
        await this.#rollBack(m, cloud, signal);
        await this.#explain(vmId, `migration ${m.direction === 'out' ? 'to' : 'back from'} cloud ${cloud.name} failed at ${m.step} and was rolled back: ${reason}`);
        await this.#o.store.cloudMigrations.advance(vmId, m.generation, 'failed', {}, `${m.step}: ${reason}`);
        return;
      }
    }
  }

  /** Up to the confirmation of the remote copy (out) or the local placement (back), a refusal rolls back; after it, only going on is left. */
  #mayGiveUp(m: CloudMigration): boolean {
    return m.direction === 'out' ? m.step !== 'release' : m.step !== 'place' && m.step !== 'cleanup';
  }

  // ---- out: local host → cloud ----

  /**
   * How the cloud is to boot the VM's exported disk. A VM that boots a kernel
   * (and initrd) of its own has a disk that boots nothing by itself: the AMI
   * the cloud's image map gives for its image boots that image there, so the
   * migrated disk is registered with that AMI's kernel and ramdisk. Without
   * such an AMI the disk would be registered unbootable: refused instead.
   */
  async #bootOnCloud(cloud: Cloud, ec2: CloudEc2Client, vm: Vm, signal: AbortSignal): Promise<{ kernel?: string; ramdisk?: string }> {
    const spec = vm.spec as unknown as ControllerVmSpec;
    if (spec.agent.kernel === undefined) return {};
    const imageId = spec.agent.disk.image.id;
    const imageName = (await findOrUndefined(this.#o.store.images.get(imageId)))?.name;
    const own = (k: string | undefined): string | undefined => (k !== undefined && Object.hasOwn(cloud.images, k) ? cloud.images[k] : undefined);
    const ami = own(imageId) ?? own(imageName);
    if (ami === undefined || !ami.startsWith('ami-')) {
      throw new CloudRefusedError(cloud.name, 'InvalidParameterValue', `VM ${vm.name} boots a kernel and cloud ${cloud.name}'s image map has no AMI for its image ${imageName ?? imageId} to boot it with`);
    }
    return ec2.bootOf(ami, signal);
  }

  async #stepOut(m: CloudMigration, cloud: Cloud, signal: AbortSignal): Promise<{ step: string; data?: Record<string, string> }> {
    const vm = await this.#o.store.vms.get(m.vmId);
    const ec2 = this.#o.clouds.ec2Of(cloud);
    const name = `${OUT_PREFIX}-${vm.id}-g${m.generation}`;
    const key = `${name}.qcow2`;
    switch (m.step) {
      case 'export': {
        // The disk as it is now (overlay flattened onto its base), then to the cloud's S3; a retry captures and uploads again.
        const s3 = this.#s3(cloud);
        const sent = await this.#o.images.withTempDir(async (dir) => {
          const file = join(dir, 'disk.qcow2');
          const got = await captureVmDisk(this.#o, vm, file, { signal });
          await this.#o.failpoints?.hit('cloud.migrate.upload');
          const up = await uploadToCloudS3(s3, file, key, signal);
          return { ...got, parts: up.parts };
        });
        this.#o.logger.info({ vmId: vm.id, cloud: cloud.name, bytes: sent.sizeBytes, parts: sent.parts, sha256: sent.sha256 }, 'vm disk exported to the cloud');
        return { step: 'register', data: { key, sha256: sent.sha256, sizeBytes: String(sent.sizeBytes) } };
      }
      case 'register': {
        await this.#o.failpoints?.hit('cloud.migrate.register');
        let ami = await ec2.findImage(name, signal);
        if (ami === undefined) {
          try {
            ami = await ec2.registerImage(name, `${this.#s3(cloud).bucket}/${key}`, signal, await this.#bootOnCloud(cloud, ec2, vm, signal));
          } catch (err) {
            if (!(err instanceof CloudRefusedError && err.awsCode === 'InvalidAMIName.Duplicate')) throw err;
            ami = await ec2.findImage(name, signal);
            if (ami === undefined) throw err;
          }
        }
        // Registered: the remote keeps its own copy of the bytes, the uploaded object is no longer needed.
        await deleteFromCloudS3(this.#s3(cloud), key, signal);
        return { step: 'launch', data: { ami } };
      }
      case 'launch': {
        const ami = m.data['ami']!;
        const b = await this.#o.store.clouds.bindMigrating({ vmId: vm.id, cloudId: cloud.id, instanceType: m.data['instanceType']!, imageId: ami });
        if ('full' in b) throw new CloudRefusedError(cloud.name, 'CloudFull', `cloud ${cloud.name} is at its limit (${b.full} of ${cloud.capacityVms} VMs)`);
        await this.#o.failpoints?.hit('cloud.migrate.launch');
        const spec = vm.spec as unknown as ControllerVmSpec;
        // The token is the VM's and the migration's: a retry gets the same instance, a later migration of the VM a new one.
        const inst = await ec2.launch({ clientToken: `${vm.id}/m${m.generation}`, imageId: ami, instanceType: b.instanceType, userData: spec.agent.context.userData, hostname: spec.agent.context.hostname, vmId: vm.id }, signal);
        await this.#o.failpoints?.hit('cloud.migrate.launched');
        await this.#o.store.clouds.recordInstance(vm.id, { instanceId: inst.instanceId, remoteState: inst.state });
        return { step: 'confirm', data: { instanceId: inst.instanceId } };
      }
      case 'confirm': {
        const b = await this.#o.store.clouds.binding(vm.id);
        const id = m.data['instanceId']!;
        if (b === undefined) throw new CloudRefusedError(cloud.name, 'IncorrectInstanceState', 'the VM\'s binding to the cloud is gone');
        const opts = this.#bringOptions();
        await bringInstanceTo(opts, vm, b, id, cloud, ec2, 'running', signal);
        // EC2 launches running; a VM that left powered off arrives powered off.
        if (!m.start) await bringInstanceTo(opts, vm, { ...b, remoteState: 'running' }, id, cloud, ec2, 'stopped', signal);
        return { step: 'release' };
      }
      case 'release': {
        await this.#o.failpoints?.hit('cloud.migrate.release');
        const hostId = m.data['hostId']!;
        // The VM leaves its host in the store first: the host's next report of the VM gone is then no news.
        await this.#o.store.vms.releaseFromHost(vm.id, { reason: `migrated to cloud ${cloud.name}` });
        const host = await findOrUndefined(this.#o.store.hosts.get(hostId));
        if (host !== undefined) await this.#o.agentFor(host).delete(agentVmId(vm.id), { signal, timeoutMs: 60_000 });
        if (m.start && vm.state === 'poweroff') {
          await this.#o.store.vms.transition(vm.id, { from: ['poweroff'], to: 'running', action: 'cloud-migrate', reason: `migrated to cloud ${cloud.name} and started there` });
        }
        // The AMI was this migration's own: the instance runs on, as EC2 lets it.
        await ec2.deregisterImage(m.data['ami']!, signal).catch((err: unknown) => this.#o.logger.warn({ vmId: vm.id, err: errorMessage(err) }, 'deregistering the migration\'s AMI failed; left on the cloud'));
        this.#o.logger.info({ vmId: vm.id, cloud: cloud.name, instanceId: m.data['instanceId'] }, 'vm migrated to the cloud');
        return { step: 'done' };
      }
      default:
        throw new CloudRefusedError(cloud.name, 'InvalidStep', `unknown step ${m.step}`);
    }
  }

  // ---- back: cloud → local host ----

  async #stepBack(m: CloudMigration, cloud: Cloud, signal: AbortSignal): Promise<{ step: string; data?: Record<string, string> }> {
    const vm = await this.#o.store.vms.get(m.vmId);
    const ec2 = this.#o.clouds.ec2Of(cloud);
    const amiName = `nubo-back-${vm.id}-g${m.generation}`;
    const instanceId = m.data['instanceId']!;
    switch (m.step) {
      case 'image': {
        await this.#o.failpoints?.hit('cloud.migrate.image');
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
        await this.#o.failpoints?.hit('cloud.migrate.export');
        const s3 = this.#s3(cloud);
        const taskId = await ec2.exportImage({ imageId: m.data['backAmi']!, bucket: s3.bucket, prefix: BACK_PREFIX, format: 'QCOW2', clientToken: `${vm.id}/b${m.generation}` }, signal);
        const until = Date.now() + (this.#o.stateTimeoutMs ?? 600_000);
        for (let waitMs = 100; ; waitMs = Math.min(2_000, waitMs * 2)) {
          const t = await ec2.exportTask(taskId, signal);
          if (t.status === 'completed') break;
          if (t.status !== 'active') throw new CloudRefusedError(cloud.name, 'ExportImageFailed', `export task ${taskId} is ${t.status}: ${t.message ?? ''}`);
          if (Date.now() > until) throw new TimeoutError(`export task ${taskId} on cloud ${cloud.name}`, this.#o.stateTimeoutMs ?? 600_000);
          await sleep(waitMs, signal);
        }
        await this.#o.failpoints?.hit('cloud.migrate.exported');
        return { step: 'download', data: { exportTask: taskId, backKey: `${BACK_PREFIX}${taskId}.qcow2` } };
      }
      case 'download': {
        const name = backImageName(vm, m.generation);
        // Made by a try that died before its journal entry: taken as it is (its sha256 was checked before it was made).
        let image = await this.#o.store.images.findByName(vm.ownerId, name);
        let sha256 = image?.sha256;
        if (image === undefined) {
          const made = await this.#o.images.withTempDir(async (dir) => {
            const file = join(dir, 'disk.qcow2');
            const got = await downloadFromCloudS3(this.#s3(cloud), m.data['backKey']!, file, signal);
            if (got.claimed === undefined) this.#o.logger.warn({ vmId: vm.id, key: m.data['backKey'] }, 'the exported object carries no sha256 to check the download against');
            const img = await this.#o.images.add({ name, ownerId: vm.ownerId, file, format: 'qcow2', displayName: `the disk of VM ${vm.name} from cloud ${cloud.name}` }, { signal });
            return { img, sha256: got.sha256 };
          });
          if (made.img.sha256 !== made.sha256) throw new CloudRefusedError(cloud.name, 'BadDigest', `the image made of the download has sha256 ${made.img.sha256}, the download ${made.sha256}`);
          image = made.img;
          sha256 = made.sha256;
        }
        await this.#o.failpoints?.hit('cloud.migrate.downloaded');
        return { step: 'place', data: { localImage: image.id, backSha256: sha256 ?? '' } };
      }
      case 'place': {
        await this.#o.failpoints?.hit('cloud.migrate.place');
        // Placed once: a VM already past this (pending, prolog, boot, or arrived) is only waited for.
        if (await this.#o.store.clouds.binding(vm.id) !== undefined || (vm.state === 'poweroff' && vm.hostId === null && vm.operation === null)) {
          await this.#placeLocally(vm, m);
        }
        await this.#waitPlaced(vm.id, cloud, signal);
        return { step: 'cleanup' };
      }
      case 'cleanup': {
        await this.#o.failpoints?.hit('cloud.migrate.terminate');
        // The VM runs from its local copy now: the remote one is ended, then what was made to bring it back.
        const b = { vmId: vm.id, cloudId: cloud.id, instanceType: '', imageId: '', instanceId, remoteState: null, createdAt: '', updatedAt: '' };
        await terminateCloudInstances(this.#bringOptions(), vm, b, ec2, signal);
        await ec2.deregisterImage(m.data['backAmi']!, signal).catch((err: unknown) => {
          if (!(err instanceof CloudRefusedError && err.awsCode.startsWith('InvalidAMIID'))) throw err;
        });
        await deleteFromCloudS3(this.#s3(cloud), m.data['backKey']!, signal);
        this.#o.logger.info({ vmId: vm.id, cloud: cloud.name, image: m.data['localImage'] }, 'vm migrated back from the cloud');
        return { step: 'done' };
      }
      default:
        throw new CloudRefusedError(cloud.name, 'InvalidStep', `unknown step ${m.step}`);
    }
  }

  /** The VM leaves the cloud's books (its instance id is in the journal) and is placed as a new VM is, on its image from the cloud. */
  async #placeLocally(vm: Vm, m: CloudMigration): Promise<void> {
    await this.#o.store.clouds.unbind(vm.id);
    const spec = vm.spec as unknown as ControllerVmSpec;
    const image = await this.#o.catalog.imageRefOf(m.data['localImage']!);
    const hostId = m.data['hostId'];
    const next: ControllerVmSpec = {
      ...spec, agent: { ...spec.agent, disk: { ...spec.agent.disk, image } },
      ...(hostId !== undefined ? { deploy: { hostId } } : {}),
    };
    await this.#o.store.vms.transition(vm.id, {
      from: ['poweroff'], to: 'pending', action: 'cloud-migrate', expectedVersion: vm.version, reason: `migrating back from a remote cloud`,
      patch: { spec: next as never, operation: m.start ? { action: 'create', from: 'pending' } : PLACE_OPERATION },
    });
    this.#o.kick(vm.id);
  }

  async #waitPlaced(vmId: string, cloud: Cloud, signal: AbortSignal): Promise<void> {
    const until = Date.now() + (this.#o.stateTimeoutMs ?? 600_000);
    for (let waitMs = 100; ; waitMs = Math.min(2_000, waitMs * 2)) {
      const vm = await this.#o.store.vms.get(vmId);
      if (vm.operation === null && vm.hostId !== null && (vm.state === 'poweroff' || vm.state === 'running')) return;
      // Failed on its local host: the remote copy is kept (cleanup never runs), the VM says why.
      if (vm.state === 'failed' || vm.state === 'terminated') throw new ConflictError('VM', 'state', vm.state, `did not arrive on a local host (${vm.stateReason ?? ''}); its copy on cloud ${cloud.name} is kept`);
      if (Date.now() > until) throw new TimeoutError(`VM ${vm.name} to be placed on a local host`, this.#o.stateTimeoutMs ?? 600_000);
      await sleep(waitMs, signal);
    }
  }

  /** What a refused migration made is undone; the VM stays where it was, as it was. */
  async #rollBack(m: CloudMigration, cloud: Cloud, signal: AbortSignal): Promise<void> {
    const ec2 = this.#o.clouds.ec2Of(cloud);
    const vm = await this.#o.store.vms.get(m.vmId);
    const s3 = cloud.imageUpload === null ? undefined : this.#s3(cloud);
    const quietly = async (what: string, f: () => Promise<unknown>): Promise<void> => {
      await f().catch((err: unknown) => this.#o.logger.warn({ vmId: vm.id, cloud: cloud.name, err: errorMessage(err) }, `rolling back: ${what} failed; left on the cloud`));
    };
    if (m.direction === 'out') {
      const b = await this.#o.store.clouds.binding(vm.id);
      // Any instance this migration launched carries the VM's tag (the VM was local, so it had none before).
      if (b !== undefined) await terminateCloudInstances(this.#bringOptions(), vm, { ...b, instanceId: m.data['instanceId'] ?? null }, ec2, signal);
      if (m.data['ami'] !== undefined) await quietly('DeregisterImage', () => ec2.deregisterImage(m.data['ami']!, signal));
      if (s3 !== undefined) await quietly('deleting the uploaded disk', () => deleteFromCloudS3(s3, `${OUT_PREFIX}-${vm.id}-g${m.generation}.qcow2`, signal));
    } else {
      if (m.data['backAmi'] !== undefined) await quietly('DeregisterImage', () => ec2.deregisterImage(m.data['backAmi']!, signal));
      if (s3 !== undefined && m.data['backKey'] !== undefined) await quietly('deleting the exported disk', () => deleteFromCloudS3(s3, m.data['backKey']!, signal));
      const img = await this.#o.store.images.findByName(vm.ownerId, backImageName(vm, m.generation));
      if (img !== undefined) await this.#o.images.delete(img.id).catch(() => undefined);
    }
  }

  #s3(cloud: Cloud): UploadTarget {
    const t = this.#o.clouds.s3Of(cloud);
    if (t === undefined) throw new CloudRefusedError(cloud.name, 'NoImageBucket', 'the cloud has no S3 endpoint and bucket');
    return t;
  }

  #bringOptions(): CloudBurstingOptions {
    return { store: this.#o.store, logger: this.#o.logger, stateTimeoutMs: this.#o.stateTimeoutMs, cipher: undefined as never, onRoom: () => undefined };
  }

  /** The VM's state reason (null clears it), written only when it changes. */
  async #explain(vmId: string, full: string | null): Promise<void> {
    // A state reason is at most 1024 characters; a cloud's message may be longer.
    const reason = full === null || full.length <= 1000 ? full : `${full.slice(0, 999)}…`;
    const fresh = await findOrUndefined(this.#o.store.vms.get(vmId));
    if (fresh === undefined || fresh.stateReason === reason || fresh.operation !== null) return;
    try {
      await this.#o.store.vms.transition(vmId, { from: [fresh.state], to: fresh.state, action: 'cloud-migrate', expectedVersion: fresh.version, patch: { stateReason: reason } });
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
    }
  }
}

/** The local image a VM's disk comes back as: its name and the migration's generation. */
export function backImageName(vm: Pick<Vm, 'name'>, generation: number): string {
  const suffix = `-from-cloud-${generation}`;
  return `${vm.name.slice(0, 63 - suffix.length)}${suffix}`;
}
