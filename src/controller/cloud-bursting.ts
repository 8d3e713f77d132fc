import { burstTiming } from '../core/placement/burst-timing.js';
import { chooseCloud, UPLOAD_PREFIX, type CloudCandidate } from '../core/placement/choose-cloud.js';
import { pendingSince } from '../core/placement/pending-since.js';
import { uploadToCloudS3, type UploadTarget } from './cloud-image-upload.js';
import type { VmDemand } from '../core/placement/vm-demand.js';
import type { VmPhase } from '../core/vm-state.js';
import { errorMessage } from '../errors/nubo-error.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import type { Cloud, CloudVm } from '../store/repositories/clouds-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { StaleStateError } from '../store/store-errors.js';
import { isCloudMigrationInFlight } from '../store/repositories/cloud-migrations-repository.js';
import { bringInstanceTo } from './bring-instance-to.js';
import type { CloudBurstingOptions } from './cloud-bursting-options.js';
import { CloudEc2Client, type RemoteInstance } from './cloud-ec2-client.js';
import type { CloudHealth } from './cloud-health.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import type { CloudStepOutcome } from './cloud-step-outcome.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { settleCloudVm } from './settle-cloud-vm.js';
import { terminateCloudInstances } from './terminate-cloud-instances.js';

/**
 * Hybrid cloud bursting: remote EC2 clouds as places for VMs that no local
 * host takes (policy `when-full`) or that ask for one by name. A VM bound to
 * a cloud (store `cloud_vms`) has its life cycle driven through the cloud's
 * EC2 API — RunInstances with the VM id and its binding's time as ClientToken and the config
 * drive's user data, Stop/Start/Reboot/Terminate — and a poller reconciles
 * what DescribeInstances says with the VMs' states, as heartbeats do for
 * hosts.
 */
export class CloudBursting {
  readonly #o: CloudBurstingOptions;
  readonly #clients = new Map<string, { key: string; client: CloudEc2Client; secret: string }>();
  /** Images being made available on a cloud, by cloud and image: VMs that need the same one wait for one upload. */
  readonly #making = new Map<string, Promise<string>>();
  readonly #health = new Map<string, CloudHealth>();
  /** Clouds that refused a launch for want of capacity, left alone until `until`. */
  readonly #refused = new Map<string, { until: number; reason: string }>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  readonly #stopping = new AbortController();

  constructor(o: CloudBurstingOptions) {
    this.#o = o;
  }

  /** The sealed form of a cloud's secret (its id is the cipher's associated data: a sealed secret moved to another cloud's row does not open). */
  seal(cloudId: string, secret: string): string {
    return this.#o.cipher.seal(`cloud:${cloudId}`, secret);
  }

  health(cloudId: string): CloudHealth {
    return this.#health.get(cloudId) ?? { reachable: null, checkedAt: null, error: null };
  }

  binding(vmId: string): Promise<CloudVm | undefined> {
    return this.#o.store.clouds.binding(vmId);
  }

  /**
   * A VM no local host takes: bound to a cloud that takes it (counted
   * against the cloud's limit in the binding's transaction; `why` what the
   * wait policy says of it), or why none does, appended to the local hosts'
   * reason (`retryInMs`: when the wait policy may let it go).
   */
  async place(vm: Vm, demand: VmDemand, localSummary: string): Promise<{ bound: CloudVm; cloud: string; why?: string | undefined } | { summary: string; retryInMs?: number | undefined }> {
    const clouds = await this.#o.store.clouds.list();
    if (clouds.length === 0) return { summary: localSummary };
    const spec = vm.spec as unknown as ControllerVmSpec;
    const imageId = spec.agent.disk.image.id;
    const image = await findOrUndefined(this.#o.store.images.get(imageId));
    const policy = this.#o.policy ?? { kind: 'when-full' };
    // Measured from the VM's stored history: a controller that restarts does not make it wait again from the start.
    const timing = policy.kind === 'when-full' ? burstTiming(policy, undefined, 0) : burstTiming(policy, pendingSince(await this.#o.store.vms.history(vm.id)), (this.#o.now ?? Date.now)());
    for (let attempt = 0; attempt < 3; attempt++) {
      const bound = new Map<string, number>();
      for (const b of await this.#o.store.clouds.bindings()) bound.set(b.cloudId, (bound.get(b.cloudId) ?? 0) + 1);
      const candidates: CloudCandidate[] = clouds.map((c) => ({
        id: c.id, name: c.name, burst: c.burst, capacityVms: c.capacityVms, bound: bound.get(c.id) ?? 0, pricePerHour: c.pricePerHour,
        instanceTypes: c.instanceTypes, images: c.images, uploadsImages: c.imageUpload !== null, unavailable: this.#unavailable(c.id),
      }));
      const choice = chooseCloud({
        vcpus: demand.vcpus, memoryMiB: demand.memoryMiB, requirements: demand.requirements, image: { id: imageId, name: image?.name }, burst: spec.demand.burst,
        notYet: timing.now ? undefined : timing.reason,
      }, candidates);
      if (choice.cloudId === undefined) return { summary: `${localSummary}; no cloud takes it (${choice.reasons.join('; ')})`, retryInMs: timing.now ? undefined : timing.retryInMs };
      const b = await this.#o.store.clouds.bind({ vmId: vm.id, cloudId: choice.cloudId, instanceType: choice.instanceType, imageId: choice.imageId });
      if (!('full' in b)) return { bound: b, cloud: choice.name, why: choice.asked || !timing.now ? undefined : timing.why };
      // Another VM took the last place between the count and the binding: count again.
    }
    return { summary: `${localSummary}; the clouds filled up while it was being placed` };
  }

  /** Runs one step of a cloud-bound VM's operation against its cloud. */
  async runPhase(vm: Vm, b: CloudVm, phase: VmPhase, signal: AbortSignal): Promise<CloudStepOutcome> {
    const cloud = await this.#o.store.clouds.get(b.cloudId);
    const ec2 = this.#client(cloud);
    try {
      switch (phase) {
        case 'prolog':
          return await this.#launch(vm, b, cloud, ec2, signal);
        case 'boot':
          await bringInstanceTo(this.#o, vm, b, this.#instanceOf(b, cloud), cloud, ec2, 'running', signal);
          return { done: true };
        case 'shutdown':
        case 'shutdown-hard':
          await bringInstanceTo(this.#o, vm, b, this.#instanceOf(b, cloud), cloud, ec2, 'stopped', signal, phase === 'shutdown-hard');
          return { done: true };
        case 'reboot':
        case 'reboot-hard':
          await ec2.reboot(this.#instanceOf(b, cloud), signal);
          return { done: true };
        case 'epilog':
          await terminateCloudInstances(this.#o, vm, b, ec2, signal);
          return { done: true };
        default:
          throw new UnsupportedError(phase, `VM ${vm.name} runs on cloud ${cloud.name}, which nubo drives through EC2 (launch, stop, start, reboot, terminate only)`);
      }
    } catch (err) {
      // No verdict from the cloud: the orchestrator retries the step; the VM says why it waits meanwhile.
      if (err instanceof CloudUnreachableError && !signal.aborted) await this.#explain(vm, `${phase} waits for cloud ${cloud.name}: ${err.reason}; retried`);
      throw err;
    }
  }

  async #launch(vm: Vm, b: CloudVm, cloud: Cloud, ec2: CloudEc2Client, signal: AbortSignal): Promise<CloudStepOutcome> {
    if (b.instanceId !== null) return { done: true };
    const spec = vm.spec as unknown as ControllerVmSpec;
    let inst: RemoteInstance;
    try {
      let imageId = b.imageId;
      if (imageId.startsWith(UPLOAD_PREFIX)) {
        imageId = await this.#imageOn(cloud, ec2, imageId.slice(UPLOAD_PREFIX.length), signal);
        await this.#o.store.clouds.setBindingImage(vm.id, imageId);
      }
      await this.#o.failpoints?.hit('cloud.launch');
      // The binding's time in the token: a retry of this launch gets its instance back, while a VM that comes home and bursts
      // again (a new binding) gets a new instance, not its terminated one (EC2 keeps a token's answer).
      inst = await ec2.launch({ clientToken: `${vm.id}/${Date.parse(b.createdAt).toString(36)}`, imageId, instanceType: b.instanceType, userData: spec.agent.context.userData, hostname: spec.agent.context.hostname, vmId: vm.id }, signal);
    } catch (err) {
      if (!(err instanceof CloudRefusedError)) throw err;
      // The cloud said no: no instance was made. Its place is given back and the VM is placed again — on a local
      // host if one has room by now, on another cloud, or it waits; this cloud is left alone for a while.
      const backoffMs = this.#o.refusedBackoffMs ?? 30_000;
      this.#refused.set(cloud.id, { until: Date.now() + backoffMs, reason: `it refused a launch ${new Date().toISOString()}: ${err.awsCode}; tried again after ${Math.round(backoffMs / 1000)} s` });
      await this.#o.store.clouds.unbind(vm.id);
      this.#o.logger.warn({ vmId: vm.id, cloud: cloud.name, awsCode: err.awsCode, err: err.message }, 'cloud refused the launch; the VM is placed again');
      return { requeue: `cloud ${cloud.name} refused the launch: ${err.awsCode}: ${err.message}` };
    }
    await this.#o.failpoints?.hit('cloud.launch.done');
    await this.#o.store.clouds.recordInstance(vm.id, { instanceId: inst.instanceId, remoteState: inst.state });
    this.#o.logger.info({ vmId: vm.id, cloud: cloud.name, instanceId: inst.instanceId }, 'instance launched on cloud');
    return { done: true };
  }

  /** The AMI of a nubo image on the cloud, made available first if need be (one upload at a time per image and cloud). */
  #imageOn(cloud: Cloud, ec2: CloudEc2Client, imageId: string, signal: AbortSignal): Promise<string> {
    const key = `${cloud.id} ${imageId}`;
    let p = this.#making.get(key);
    if (p === undefined) {
      p = this.#makeImage(cloud, ec2, imageId, signal).finally(() => this.#making.delete(key));
      this.#making.set(key, p);
    }
    return p;
  }

  /**
   * Uploads the image's file to the cloud's S3 (multipart), registers it
   * (RegisterImage, named after the image's id) and caches the AMI in the
   * cloud's image map. An AMI of that name found first is taken as it is: a
   * controller that crashed after RegisterImage does not register twice.
   */
  async #makeImage(cloud: Cloud, ec2: CloudEc2Client, imageId: string, signal: AbortSignal): Promise<string> {
    // Cached by a VM before this one (the map is re-read: the cloud row passed in may be older than that).
    const images = (await this.#o.store.clouds.get(cloud.id)).images;
    if (Object.hasOwn(images, imageId)) return images[imageId]!;
    const image = await this.#o.store.images.get(imageId);
    const name = `nubo-${image.id}`;
    let ami = await ec2.findImage(name, signal);
    if (ami === undefined) {
      const upload = cloud.imageUpload;
      if (upload === null) throw new CloudRefusedError(cloud.name, 'InvalidAMIID.NotFound', `no AMI for image ${image.name} and no S3 endpoint to make one`);
      const key = `${name}.${image.format}`;
      await this.#o.failpoints?.hit('cloud.image.upload');
      const t0 = Date.now();
      const sent = await uploadToCloudS3({ cloud: cloud.name, s3Endpoint: upload.s3Endpoint, region: cloud.region, accessKeyId: cloud.accessKeyId, secretAccessKey: this.#secret(cloud), bucket: upload.bucket }, image.path, key, signal);
      this.#o.logger.info({ cloud: cloud.name, image: image.name, bytes: sent.bytes, parts: sent.parts, ms: Date.now() - t0 }, 'image uploaded to the cloud');
      await this.#o.failpoints?.hit('cloud.image.register');
      try {
        ami = await ec2.registerImage(name, `${upload.bucket}/${key}`, signal);
      } catch (err) {
        // Registered by an earlier attempt whose answer was lost: the name says which.
        if (!(err instanceof CloudRefusedError && err.awsCode === 'InvalidAMIName.Duplicate')) throw err;
        ami = await ec2.findImage(name, signal);
        if (ami === undefined) throw err;
      }
      await this.#o.failpoints?.hit('cloud.image.register.done');
    }
    const kept = await this.#o.store.clouds.cacheImage(cloud.id, image.id, ami);
    this.#o.logger.info({ cloud: cloud.name, image: image.name, ami: kept }, 'image available on the cloud');
    return kept;
  }

  #instanceOf(b: CloudVm, cloud: Cloud): string {
    if (b.instanceId === null) throw new CloudRefusedError(cloud.name, 'IncorrectInstanceState', 'the VM has no instance on the cloud yet');
    return b.instanceId;
  }

  /** The VM's state reason, written only when it changes (the orchestrator writes the step's result on the fresh version). */
  async #explain(vm: Vm, reason: string): Promise<void> {
    const fresh = await findOrUndefined(this.#o.store.vms.get(vm.id));
    if (fresh === undefined || fresh.stateReason === reason || fresh.state !== vm.state) return;
    try {
      await this.#o.store.vms.transition(vm.id, { from: [fresh.state], to: fresh.state, action: 'cloud-wait', expectedVersion: fresh.version, patch: { stateReason: reason } });
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
    }
  }

  #unavailable(cloudId: string): string | undefined {
    const r = this.#refused.get(cloudId);
    if (r !== undefined && r.until > Date.now()) return r.reason;
    const h = this.#health.get(cloudId);
    if (h?.reachable === false) return `unreachable since the last check (${h.checkedAt ?? '?'}): ${h.error ?? ''}`;
    return undefined;
  }

  #client(c: Cloud): CloudEc2Client {
    return this.#clientOf(c).client;
  }

  /** The cloud's EC2 client (one per cloud, made on first use): for the cross-cloud migrator. */
  ec2Of(c: Cloud): CloudEc2Client {
    return this.#client(c);
  }

  /** Where and as whom the cloud's S3 is reached (`imageUpload`'s endpoint and bucket); undefined when it has none. */
  s3Of(c: Cloud): UploadTarget | undefined {
    if (c.imageUpload === null) return undefined;
    return { cloud: c.name, s3Endpoint: c.imageUpload.s3Endpoint, region: c.region, accessKeyId: c.accessKeyId, secretAccessKey: this.#secret(c), bucket: c.imageUpload.bucket };
  }

  #secret(c: Cloud): string {
    return this.#clientOf(c).secret;
  }

  #clientOf(c: Cloud): { client: CloudEc2Client; secret: string } {
    const key = `${c.endpoint} ${c.region} ${c.accessKeyId} ${c.secretSealed}`;
    const had = this.#clients.get(c.id);
    if (had?.key === key) return had;
    had?.client.destroy();
    const secret = this.#o.cipher.open(`cloud:${c.id}`, c.secretSealed);
    if (secret === undefined) throw new CloudRefusedError(c.name, 'AuthFailure', 'the stored secret does not open with this controller\'s key file (access-keys.key)');
    const client = new CloudEc2Client({ name: c.name, endpoint: c.endpoint, region: c.region, accessKeyId: c.accessKeyId, secretAccessKey: secret, requestTimeoutMs: this.#o.requestTimeoutMs });
    const entry = { key, client, secret };
    this.#clients.set(c.id, entry);
    return entry;
  }

  /** Starts the poller (the leader's). */
  start(): void {
    if (this.#timer !== undefined) return;
    const tick = (): void => {
      this.#polling = this.reconcileNow().catch((err: unknown) => this.#o.logger.error({ err: errorMessage(err) }, 'cloud reconciliation failed'));
      void this.#polling.finally(() => {
        if (!this.#stopping.signal.aborted) this.#timer = setTimeout(tick, this.#o.pollMs ?? 5_000);
      });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.#stopping.abort(new Error('the controller is stopping'));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#polling;
    for (const { client } of this.#clients.values()) client.destroy();
    this.#clients.clear();
  }

  /** One round: every cloud's instances read, its health noted, its VMs' states reconciled. */
  async reconcileNow(): Promise<void> {
    let room = false;
    for (const [id, r] of this.#refused) {
      if (r.until <= Date.now()) {
        this.#refused.delete(id);
        room = true;
      }
    }
    for (const cloud of await this.#o.store.clouds.list()) {
      if (this.#stopping.signal.aborted) return;
      const was = this.#health.get(cloud.id)?.reachable ?? null;
      let seen: RemoteInstance[];
      try {
        seen = await this.#client(cloud).describe(this.#stopping.signal);
      } catch (err) {
        if (this.#stopping.signal.aborted) return;
        this.#health.set(cloud.id, { reachable: false, checkedAt: new Date().toISOString(), error: errorMessage(err) });
        if (was !== false) this.#o.logger.warn({ cloud: cloud.name, err: errorMessage(err) }, 'cloud unreachable');
        continue;
      }
      this.#health.set(cloud.id, { reachable: true, checkedAt: new Date().toISOString(), error: null });
      if (was !== true) {
        room = true;
        if (was === false) this.#o.logger.info({ cloud: cloud.name }, 'cloud reachable again');
      }
      await this.#reconcileCloud(cloud, seen);
    }
    if (room) this.#o.onRoom();
  }

  async #reconcileCloud(cloud: Cloud, seen: readonly RemoteInstance[]): Promise<void> {
    const byId = new Map(seen.map((i) => [i.instanceId, i]));
    const live = new Map<string, number>();
    for (const i of seen) if (i.vmId !== undefined && i.state !== 'terminated') live.set(i.vmId, (live.get(i.vmId) ?? 0) + 1);
    for (const b of await this.#o.store.clouds.bindings(cloud.id)) {
      if ((live.get(b.vmId) ?? 0) > 1) this.#o.logger.error({ vmId: b.vmId, cloud: cloud.name }, 'more than one live instance carries this VM\'s tag');
      if (b.instanceId === null) continue;
      const state = byId.get(b.instanceId)?.state ?? 'missing';
      if (state !== b.remoteState) await this.#o.store.clouds.recordInstance(b.vmId, { remoteState: state });
      const vm = await findOrUndefined(this.#o.store.vms.get(b.vmId));
      // A VM with an operation in flight is its step's to settle; one migrating between clouds its migration's.
      if (vm === undefined || vm.operation !== null) continue;
      if (isCloudMigrationInFlight(await this.#o.store.cloudMigrations.get(vm.id))) continue;
      await settleCloudVm(this.#o, vm, cloud, b.instanceId, state);
    }
  }
}
