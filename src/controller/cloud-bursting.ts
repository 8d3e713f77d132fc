import type { Logger } from 'pino';
import { chooseCloud, UPLOAD_PREFIX, type CloudCandidate } from '../core/placement/choose-cloud.js';
import { uploadToCloudS3 } from './cloud-image-upload.js';
import type { VmDemand } from '../core/placement/vm-demand.js';
import { applyEvent, type VmEvent } from '../core/vm-events.js';
import type { VmPhase } from '../core/vm-state.js';
import { errorMessage } from '../errors/nubo-error.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import type { Store } from '../store/open-store.js';
import type { Cloud, CloudVm } from '../store/repositories/clouds-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { StaleStateError } from '../store/store-errors.js';
import { sleep } from '../util/deadline.js';
import type { Failpoints } from '../util/failpoints.js';
import { TimeoutError } from '../errors/timeout-error.js';
import type { AccessKeyCipher } from './access-key-cipher.js';
import { CloudEc2Client, type RemoteInstance } from './cloud-ec2-client.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';

export interface CloudBurstingOptions {
  readonly store: Store;
  /** The access keys' cipher: a cloud's secret is sealed as theirs are, under the same key file. */
  readonly cipher: AccessKeyCipher;
  readonly logger: Logger;
  /**
   * `cloud.launch` before RunInstances, `cloud.launch.done` after it answered and before the instance id is recorded;
   * for an image made available on demand `cloud.image.upload` before the S3 upload, `cloud.image.register` before
   * RegisterImage, `cloud.image.register.done` after it and before the AMI is cached.
   */
  readonly failpoints?: Failpoints | undefined;
  /** How often each cloud's instances are read (DescribeInstances) and reconciled (default 5 s). */
  readonly pollMs?: number | undefined;
  /** How long a cloud that refused a launch for want of capacity is left alone (default 30 s). */
  readonly refusedBackoffMs?: number | undefined;
  /** Per EC2 request (default 15 s). */
  readonly requestTimeoutMs?: number | undefined;
  /** How long a remote instance has to reach the state a step waits for (default 10 min). */
  readonly stateTimeoutMs?: number | undefined;
  /** A cloud may take VMs again (reachable again, a refusal waited out): the VMs waiting for room are tried again. */
  readonly onRoom: () => void;
}

/** What a cloud's step tells the orchestrator: done, or the launch was refused and the VM goes back to waiting for a place (the reason). */
export type CloudStepOutcome = { readonly done: true } | { readonly requeue: string };

/** What the controller last learnt of a cloud's endpoint. */
export interface CloudHealth {
  readonly reachable: boolean | null;
  readonly checkedAt: string | null;
  readonly error: string | null;
}

/**
 * Hybrid cloud bursting: remote EC2 clouds as places for VMs that no local
 * host takes (policy `when-full`) or that ask for one by name. A VM bound to
 * a cloud (store `cloud_vms`) has its life cycle driven through the cloud's
 * EC2 API — RunInstances with the VM id as ClientToken and the config
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
   * against the cloud's limit in the binding's transaction), or why none
   * does, appended to the local hosts' reason.
   */
  async place(vm: Vm, demand: VmDemand, localSummary: string): Promise<{ bound: CloudVm; cloud: string } | { summary: string }> {
    const clouds = await this.#o.store.clouds.list();
    if (clouds.length === 0) return { summary: localSummary };
    const spec = vm.spec as unknown as ControllerVmSpec;
    const imageId = spec.agent.disk.image.id;
    const image = await findOrUndefined(this.#o.store.images.get(imageId));
    for (let attempt = 0; attempt < 3; attempt++) {
      const bound = new Map<string, number>();
      for (const b of await this.#o.store.clouds.bindings()) bound.set(b.cloudId, (bound.get(b.cloudId) ?? 0) + 1);
      const candidates: CloudCandidate[] = clouds.map((c) => ({
        id: c.id, name: c.name, burst: c.burst, capacityVms: c.capacityVms, bound: bound.get(c.id) ?? 0, pricePerHour: c.pricePerHour,
        instanceTypes: c.instanceTypes, images: c.images, uploadsImages: c.imageUpload !== null, unavailable: this.#unavailable(c.id),
      }));
      const choice = chooseCloud({ vcpus: demand.vcpus, memoryMiB: demand.memoryMiB, requirements: demand.requirements, image: { id: imageId, name: image?.name } }, candidates);
      if (choice.cloudId === undefined) return { summary: `${localSummary}; no cloud takes it (${choice.reasons.join('; ')})` };
      const b = await this.#o.store.clouds.bind({ vmId: vm.id, cloudId: choice.cloudId, instanceType: choice.instanceType, imageId: choice.imageId });
      if (!('full' in b)) return { bound: b, cloud: choice.name };
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
          await this.#bringTo(vm, b, cloud, ec2, 'running', signal);
          return { done: true };
        case 'shutdown':
        case 'shutdown-hard':
          await this.#bringTo(vm, b, cloud, ec2, 'stopped', signal, phase === 'shutdown-hard');
          return { done: true };
        case 'reboot':
        case 'reboot-hard':
          await ec2.reboot(this.#instanceOf(b, cloud), signal);
          return { done: true };
        case 'epilog':
          await this.#terminate(vm, b, ec2, signal);
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
      inst = await ec2.launch({ clientToken: vm.id, imageId, instanceType: b.instanceType, userData: spec.agent.context.userData, hostname: spec.agent.context.hostname, vmId: vm.id }, signal);
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

  /** Starts or stops the instance as needed and waits until the cloud reports `want`. */
  async #bringTo(vm: Vm, b: CloudVm, cloud: Cloud, ec2: CloudEc2Client, want: 'running' | 'stopped', signal: AbortSignal, force = false): Promise<void> {
    const id = this.#instanceOf(b, cloud);
    const until = Date.now() + (this.#o.stateTimeoutMs ?? 600_000);
    let asked = false;
    // EC2 is polled soon after the request, then less often: a fast cloud is seen at once, a slow one not hammered.
    let waitMs = 100;
    for (;;) {
      const [inst] = await ec2.describe(signal, { instanceIds: [id] });
      const state = inst?.state ?? 'missing';
      if (state !== b.remoteState) await this.#o.store.clouds.recordInstance(vm.id, { remoteState: state });
      if (state === want) return;
      if (state === 'terminated' || state === 'shutting-down' || state === 'missing') {
        throw new CloudRefusedError(cloud.name, 'IncorrectInstanceState', `instance ${id} is ${state}`);
      }
      // Asked once per step, and only from a state it is allowed from; a transitional state (pending, stopping) is waited out.
      if (!asked && want === 'running' && state === 'stopped') {
        await ec2.start(id, signal);
        asked = true;
      } else if (!asked && want === 'stopped' && (state === 'running' || (force && state === 'stopping'))) {
        await ec2.stop(id, force, signal);
        asked = true;
      }
      if (Date.now() > until) throw new TimeoutError(`instance ${id} on cloud ${cloud.name} to be ${want}`, this.#o.stateTimeoutMs ?? 600_000);
      await sleep(waitMs, signal);
      waitMs = Math.min(2_000, waitMs * 2);
    }
  }

  /** Terminates the VM's instance — found by its tag when its id was never recorded (a crash after the launch) — and gives its place back. */
  async #terminate(vm: Vm, b: CloudVm, ec2: CloudEc2Client, signal: AbortSignal): Promise<void> {
    const ids = b.instanceId !== null ? [b.instanceId] : (await ec2.describe(signal, { vmId: vm.id })).filter((i) => i.state !== 'terminated').map((i) => i.instanceId);
    const until = Date.now() + (this.#o.stateTimeoutMs ?? 600_000);
    for (const id of ids) {
      for (;;) {
        try {
          await ec2.terminate(id, signal);
          break;
        } catch (err) {
          // Gone already (terminated outside nubo, long purged): nothing is left to end.
          if (err instanceof CloudRefusedError && err.awsCode.startsWith('InvalidInstanceID')) break;
          // Busy in a step of its own there (pending, stopping): asked again once that is over.
          if (!(err instanceof CloudRefusedError && err.awsCode === 'IncorrectInstanceState') || Date.now() > until) throw err;
          await sleep(1_000, signal);
        }
      }
    }
    // Terminated in nubo means terminated there (no longer billed, its place free): waited for, as EC2's own waiter does.
    for (let waitMs = 100; ids.length > 0; waitMs = Math.min(2_000, waitMs * 2)) {
      const left = (await ec2.describe(signal, { vmId: vm.id })).filter((i) => ids.includes(i.instanceId) && i.state !== 'terminated');
      if (left.length === 0) break;
      if (Date.now() > until) throw new TimeoutError(`instance ${left.map((i) => i.instanceId).join(', ')} to be terminated`, this.#o.stateTimeoutMs ?? 600_000);
      await sleep(waitMs, signal);
    }
    if (ids.length > 0) await this.#o.store.clouds.recordInstance(vm.id, { remoteState: 'terminated' });
    await this.#o.store.clouds.unbind(vm.id);
    this.#o.logger.info({ vmId: vm.id, instances: ids }, 'cloud instance terminated');
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
      // A VM with an operation in flight is its step's to settle.
      if (vm === undefined || vm.operation !== null) continue;
      await this.#settle(vm, cloud, b.instanceId, state);
    }
  }

  /** A VM at rest whose instance changed outside nubo: the same events a host's report gives. */
  async #settle(vm: Vm, cloud: Cloud, instanceId: string, state: string): Promise<void> {
    let event: VmEvent | undefined;
    let from = vm.state;
    if (vm.state === 'running' && state === 'stopped') event = { type: 'process-exited', clean: true };
    else if ((vm.state === 'running' || vm.state === 'poweroff') && (state === 'terminated' || state === 'missing')) {
      event = { type: 'host-back', report: 'missing' };
      from = 'unknown';
    } else if ((vm.state === 'poweroff' || vm.state === 'failed') && state === 'running') {
      event = { type: 'host-back', report: 'running' };
      from = 'unknown';
    }
    if (event === undefined) return;
    const out = applyEvent(from, event);
    if (out.state === vm.state) return;
    const reason = `cloud ${cloud.name}: instance ${instanceId} is ${state}, changed outside nubo`;
    try {
      await this.#o.store.vms.transition(vm.id, {
        from: [vm.state], to: out.state, action: 'cloud-monitor', expectedVersion: vm.version, reason,
        patch: { stateReason: out.failedPhase !== undefined ? `${out.failedPhase}: ${reason}` : null },
      });
      this.#o.logger.info({ vmId: vm.id, from: vm.state, to: out.state, reason }, 'vm state');
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
    }
  }
}
