import {
  CreateImageCommand, DeregisterImageCommand, DescribeExportImageTasksCommand, ExportImageCommand, type DiskImageFormat,
  DescribeImageAttributeCommand, DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RegisterImageCommand, RebootInstancesCommand, RunInstancesCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand,
  type _InstanceType, type Filter, type Instance,
} from '@aws-sdk/client-ec2';
import { CloudRefusedError } from './cloud-refused-error.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';

/** The tag every instance nubo launches carries: the VM's id, to find an instance whose id was never recorded. */
export const VM_ID_TAG = 'nubo-vm-id';

/** An instance as nubo needs it: its id, its EC2 state name, the VM it runs (from its tag). */
export interface RemoteInstance {
  readonly instanceId: string;
  readonly state: string;
  readonly vmId: string | undefined;
}

export interface LaunchRequest {
  /** RunInstances' idempotency token: nubo's VM id, so a launch retried after a crash returns the same instance. */
  readonly clientToken: string;
  readonly imageId: string;
  readonly instanceType: string;
  /** The config drive's user data (cloud-init), sent base64 as EC2 wants it. */
  readonly userData: string | undefined;
  /** Tagged as `Name`. */
  readonly hostname: string;
  readonly vmId: string;
}

/** Where and as whom the remote is reached. */
export interface CloudEndpoint {
  readonly name: string;
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Per request: no answer within it is an unreachable cloud (default 15 s). */
  readonly requestTimeoutMs?: number | undefined;
}

/**
 * A remote cloud's EC2 API through the AWS SDK (v3), the client any EC2
 * cloud speaks to; chosen over hand-made Query requests because it signs
 * (SigV4), encodes and parses exactly as AWS clients do. Every failure is
 * turned into CloudUnreachableError (no verdict: retry) or CloudRefusedError
 * (the remote said no, with its AWS code).
 */
export class CloudEc2Client {
  readonly #ec2: EC2Client;
  readonly #name: string;

  constructor(e: CloudEndpoint) {
    this.#name = e.name;
    const timeout = e.requestTimeoutMs ?? 15_000;
    // One attempt: the orchestrator and the reconciler retry on their own schedule, with the state reason kept up to date.
    this.#ec2 = new EC2Client({
      endpoint: e.endpoint, region: e.region, credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey }, maxAttempts: 1,
      requestHandler: { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 5_000) },
    });
  }

  async launch(r: LaunchRequest, signal: AbortSignal): Promise<RemoteInstance> {
    const out = await this.#send(signal, (s) => this.#ec2.send(new RunInstancesCommand({
      ClientToken: r.clientToken, ImageId: r.imageId, InstanceType: r.instanceType as _InstanceType, MinCount: 1, MaxCount: 1,
      ...(r.userData === undefined ? {} : { UserData: Buffer.from(r.userData, 'utf8').toString('base64') }),
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: VM_ID_TAG, Value: r.vmId }, { Key: 'Name', Value: r.hostname }] }],
    }), { abortSignal: s }));
    const i = out.Instances?.[0];
    if (i?.InstanceId === undefined) throw new CloudRefusedError(this.#name, 'InvalidResponse', 'RunInstances named no instance');
    return toRemote(i);
  }

  /** The instances with these ids, or (no ids) every instance of the account; filtered to a VM's with `vmId`. */
  async describe(signal: AbortSignal, o: { instanceIds?: readonly string[]; vmId?: string } = {}): Promise<RemoteInstance[]> {
    const filters: Filter[] = o.vmId === undefined ? [] : [{ Name: `tag:${VM_ID_TAG}`, Values: [o.vmId] }];
    const out = await this.#send(signal, (s) => this.#ec2.send(new DescribeInstancesCommand({
      ...(o.instanceIds === undefined ? {} : { InstanceIds: [...o.instanceIds] }), ...(filters.length > 0 ? { Filters: filters } : {}),
    }), { abortSignal: s }));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).filter((i) => i.InstanceId !== undefined).map(toRemote);
  }

  async stop(instanceId: string, force: boolean, signal: AbortSignal): Promise<void> {
    await this.#send(signal, (s) => this.#ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: force }), { abortSignal: s }));
  }

  async start(instanceId: string, signal: AbortSignal): Promise<void> {
    await this.#send(signal, (s) => this.#ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: s }));
  }

  async reboot(instanceId: string, signal: AbortSignal): Promise<void> {
    await this.#send(signal, (s) => this.#ec2.send(new RebootInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: s }));
  }

  async terminate(instanceId: string, signal: AbortSignal): Promise<void> {
    await this.#send(signal, (s) => this.#ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: s }));
  }

  /** The AMI of this name the account sees, if any (an image made available before, perhaps by a controller that crashed before it cached it). */
  async findImage(name: string, signal: AbortSignal): Promise<string | undefined> {
    const out = await this.#send(signal, (s) => this.#ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: [name] }] }), { abortSignal: s }));
    return out.Images?.find((i) => i.Name === name && i.ImageId !== undefined)?.ImageId;
  }

  /** The kernel and ramdisk an AMI boots (DescribeImageAttribute), none for an AMI that boots its disk. */
  async bootOf(imageId: string, signal: AbortSignal): Promise<{ kernel?: string; ramdisk?: string }> {
    const kernel = (await this.#send(signal, (s) => this.#ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'kernel' }), { abortSignal: s }))).KernelId?.Value;
    const ramdisk = (await this.#send(signal, (s) => this.#ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'ramdisk' }), { abortSignal: s }))).RamdiskId?.Value;
    return { ...(kernel !== undefined && kernel !== '' ? { kernel } : {}), ...(ramdisk !== undefined && ramdisk !== '' ? { ramdisk } : {}) };
  }

  /** RegisterImage of an S3 object (`bucket/key`) under `name`, booted by `boot`'s kernel and ramdisk when given; the AMI id. */
  async registerImage(name: string, location: string, signal: AbortSignal, boot: { kernel?: string; ramdisk?: string } = {}): Promise<string> {
    const out = await this.#send(signal, (s) => this.#ec2.send(new RegisterImageCommand({
      Name: name, ImageLocation: location, Description: 'made available by nubo for bursting',
      ...(boot.kernel !== undefined ? { KernelId: boot.kernel } : {}), ...(boot.ramdisk !== undefined ? { RamdiskId: boot.ramdisk } : {}),
    }), { abortSignal: s }));
    if (out.ImageId === undefined) throw new CloudRefusedError(this.#name, 'InvalidResponse', 'RegisterImage named no AMI');
    return out.ImageId;
  }

  /** CreateImage of a (stopped) instance under `name`; the AMI id. */
  async createImage(instanceId: string, name: string, signal: AbortSignal): Promise<string> {
    const out = await this.#send(signal, (s) => this.#ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: name, Description: 'made by nubo to migrate the VM back' }), { abortSignal: s }));
    if (out.ImageId === undefined) throw new CloudRefusedError(this.#name, 'InvalidResponse', 'CreateImage named no AMI');
    return out.ImageId;
  }

  async deregisterImage(imageId: string, signal: AbortSignal): Promise<void> {
    await this.#send(signal, (s) => this.#ec2.send(new DeregisterImageCommand({ ImageId: imageId }), { abortSignal: s }));
  }

  /**
   * ExportImage of an AMI into `bucket` under `prefix`, in `format` (EC2's RAW, or QCOW2 where the cloud writes it);
   * `clientToken` makes a retry after a crash return the same task. The task's id.
   */
  async exportImage(r: { imageId: string; bucket: string; prefix: string; format: 'RAW' | 'QCOW2'; clientToken: string }, signal: AbortSignal): Promise<string> {
    const out = await this.#send(signal, (s) => this.#ec2.send(new ExportImageCommand({
      ImageId: r.imageId, DiskImageFormat: r.format as DiskImageFormat, S3ExportLocation: { S3Bucket: r.bucket, S3Prefix: r.prefix }, ClientToken: r.clientToken,
    }), { abortSignal: s }));
    if (out.ExportImageTaskId === undefined) throw new CloudRefusedError(this.#name, 'InvalidResponse', 'ExportImage named no task');
    return out.ExportImageTaskId;
  }

  /** An export task's status (active, completed, deleting, deleted) and message. */
  async exportTask(taskId: string, signal: AbortSignal): Promise<{ status: string; message: string | undefined }> {
    const out = await this.#send(signal, (s) => this.#ec2.send(new DescribeExportImageTasksCommand({ ExportImageTaskIds: [taskId] }), { abortSignal: s }));
    const t = out.ExportImageTasks?.find((x) => x.ExportImageTaskId === taskId);
    if (t === undefined) throw new CloudRefusedError(this.#name, 'InvalidExportImageTaskId.NotFound', `no export task ${taskId}`);
    return { status: t.Status ?? 'unknown', message: t.StatusMessage };
  }

  destroy(): void {
    this.#ec2.destroy();
  }

  async #send<T>(signal: AbortSignal, call: (s: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await call(signal);
    } catch (err) {
      // The controller stopping is not a verdict on the cloud.
      if (signal.aborted) throw err;
      throw classifyCloudError(this.#name, err);
    }
  }
}

function toRemote(i: Instance): RemoteInstance {
  return { instanceId: i.InstanceId ?? '', state: i.State?.Name ?? 'unknown', vmId: i.Tags?.find((t) => t.Key === VM_ID_TAG)?.Value };
}

/**
 * What an SDK failure means for nubo: an answer with an AWS error code below
 * 500 is the remote's verdict (refused); anything else — no connection, a
 * time-out, a 5xx, an answer that is not EC2's — gave none (unreachable).
 */
export function classifyCloudError(cloud: string, err: unknown): CloudRefusedError | CloudUnreachableError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; message?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown }; $fault?: unknown };
  const rawStatus = e.$metadata?.httpStatusCode;
  const status = typeof rawStatus === 'number' ? rawStatus : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const name = typeof e.name === 'string' ? e.name : 'Error';
  if (status !== undefined && status < 500 && e.$fault === 'client' && /^[A-Z][A-Za-z0-9.]+$/.test(name) && name !== 'TimeoutError') {
    return new CloudRefusedError(cloud, name, message, { cause: err });
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  return new CloudUnreachableError(cloud, status !== undefined ? `HTTP ${status}: ${message}` : `${code ?? name}: ${message}`, { cause: err });
}
