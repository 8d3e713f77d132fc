import { InvalidStateError } from '../core/invalid-state-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { isCloudMigrationInFlight, type CloudMigration } from '../store/repositories/cloud-migrations-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { ConflictError, NotFoundError, StaleStateError } from '../store/store-errors.js';
import { sleep } from '../util/deadline.js';
import type { CloudMigratorOptions } from './cloud-migrator-options.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { rollBackCloudMigration } from './roll-back-cloud-migration.js';
import { stepCloudMigrationBack } from './step-cloud-migration-back.js';
import { stepCloudMigrationOut } from './step-cloud-migration-out.js';

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
        const next = m.direction === 'out' ? await stepCloudMigrationOut(this.#o, m, cloud, signal) : await stepCloudMigrationBack(this.#o, m, cloud, signal);
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
        await rollBackCloudMigration(this.#o, m, cloud, signal);
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
