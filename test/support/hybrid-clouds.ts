import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { FakeFleet } from '../../src/agent/fake-fleet.js';
import { AccessKeyClient } from '../../src/client/access-key-client.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import type { CreateCloudBody } from '../../src/contract/cloud-schemas.js';
import { runCommand } from '../../src/util/run-command.js';
import { freePort, startControllerProcess, type ControllerProcess } from './controller-process.js';

const CLI = join(import.meta.dirname, '../../src/cli/nubo.js');

/**
 * Two nubo sites on loopback for hybrid bursting: `remote` plays the public
 * cloud (its EC2 listener, an access key of its admin, the template `small`
 * as an AMI, one fake host with room for many VMs) and `local` is the site
 * that bursts (one fake host with room for `localCpus` 1-vCPU VMs, templates
 * `small` and `cloudy` — the latter asks for the cloud `burst-1` by name).
 * Each controller is a process of its own, restartable on its own port and
 * data directory (agents beat to the port). Shared by test/hybrid.e2e.test.ts
 * and bench/burst.ts.
 */
export class HybridClouds {
  remote!: ControllerProcess;
  local!: ControllerProcess;
  remoteFleet!: FakeFleet;
  localFleet!: FakeFleet;
  ec2!: EC2Client;
  ami = '';
  key = { id: '', secret: '' };
  remoteAdminId = '';
  readonly #root: string;
  readonly #ports: { remote: number; remoteEc2: number; remoteS3: number; local: number };
  readonly #localArgs: readonly string[];

  private constructor(root: string, ports: { remote: number; remoteEc2: number; remoteS3: number; local: number }, localArgs: readonly string[]) {
    this.#root = root;
    this.#ports = ports;
    this.#localArgs = localArgs;
  }

  get remoteApi(): NuboClient { return new NuboClient(this.remote.url, this.remote.adminToken); }
  get localApi(): NuboClient { return new NuboClient(this.local.url, this.local.adminToken); }
  get localDbPath(): string { return join(this.#root, 'local', 'nubo.db'); }
  get remoteEc2Url(): string { return `http://127.0.0.1:${this.#ports.remoteEc2}`; }
  get remoteS3Url(): string { return `http://127.0.0.1:${this.#ports.remoteS3}`; }
  get remoteDbPath(): string { return join(this.#root, 'remote', 'nubo.db'); }

  /** `localArgs`: more flags of the local controller (its cloud poll and back-off). */
  /** `realDisks`: both fleets make real qcow2 overlays (a disk's bytes travel between the sites). */
  static async start(o: { root: string; localCpus: number; logger: Logger; localArgs?: readonly string[]; realDisks?: boolean }): Promise<HybridClouds> {
    const h = new HybridClouds(o.root, { remote: await freePort(), remoteEc2: await freePort(), remoteS3: await freePort(), local: await freePort() }, o.localArgs ?? []);
    try {
      await h.#setUp(o);
      return h;
    } catch (err) {
      await h.close();
      throw err;
    }
  }

  async #setUp(o: { root: string; localCpus: number; logger: Logger; realDisks?: boolean }): Promise<void> {
    await mkdir(o.root, { recursive: true });
    const disk = join(o.root, 'disk.qcow2');
    await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M'], { timeoutMs: 30_000 });
    this.remote = await this.startRemote();
    const rApi = this.remoteApi;
    this.remoteFleet = await FakeFleet.start({ hosts: 1, namePrefix: 'r', rootDir: join(o.root, 'remote-fleet'), capacity: { cpus: 16, memoryMiB: 32_768, diskMiB: 1_000_000 }, controllerUrl: this.remote.url, heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 30_000, logger: o.logger, realDisks: o.realDisks });
    for (const host of this.remoteFleet.hosts) await rApi.registerHost({ name: host.name, agentUrl: host.url, agentToken: host.token });
    await this.remoteFleet.beatAll();
    this.remoteFleet.startBeating();
    await rApi.uploadImage({ name: 'disk', file: disk });
    await rApi.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });
    this.remoteAdminId = (await rApi.whoami()).id;
    const made = await new AccessKeyClient(this.remote.url, this.remote.adminToken).create(this.remoteAdminId, { description: 'bursting from the local nubo' });
    this.key = { id: made.accessKeyId, secret: made.secretAccessKey };
    this.ec2 = new EC2Client({ endpoint: this.remoteEc2Url, region: 'nubo-1', credentials: { accessKeyId: this.key.id, secretAccessKey: this.key.secret }, maxAttempts: 1 });
    this.ami = (await this.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['small'] }] }))).Images?.[0]?.ImageId ?? '';
    if (!/^ami-[0-9a-f]+$/.test(this.ami)) throw new Error(`no AMI for the remote template small: ${JSON.stringify(this.ami)}`);

    this.local = await this.startLocal();
    const lApi = this.localApi;
    this.localFleet = await FakeFleet.start({ hosts: 1, namePrefix: 'l', rootDir: join(o.root, 'local-fleet'), capacity: { cpus: o.localCpus, memoryMiB: 16_384, diskMiB: 1_000_000 }, controllerUrl: this.local.url, heartbeatIntervalMs: 2_000, heartbeatTimeoutMs: 30_000, logger: o.logger, realDisks: o.realDisks });
    for (const host of this.localFleet.hosts) await lApi.registerHost({ name: host.name, agentUrl: host.url, agentToken: host.token });
    await this.localFleet.beatAll();
    this.localFleet.startBeating();
    await lApi.uploadImage({ name: 'disk', file: disk });
    await lApi.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });
    // An image the remote has no AMI for: made available there on demand (S3 upload, RegisterImage).
    const disk2 = join(o.root, 'disk2.qcow2');
    await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk2, '3M'], { timeoutMs: 30_000 });
    await lApi.uploadImage({ name: 'disk2', file: disk2 });
    await lApi.createTemplate({ name: 'cloudy2', vcpus: 1, memoryMiB: 128, image: 'disk2', requirements: 'cloud == "burst-1"' });
    // Its requirements ask for the cloud burst-1 by name: its VMs run only there (the template flag `burst` is test/burst-wait.e2e.test.ts).
    await lApi.createTemplate({ name: 'cloudy', vcpus: 1, memoryMiB: 128, image: 'disk', requirements: 'cloud == "burst-1"' });
  }

  /** The remote controller, on its ports and data directory (again, after a stop: `adminToken` of the first start). */
  startRemote(adminToken?: string): Promise<ControllerProcess> {
    return startControllerProcess({
      cli: CLI, dataDir: join(this.#root, 'remote'), home: join(this.#root, 'remote-home'), heartbeatMs: 30_000, port: this.#ports.remote,
      args: ['--ec2-listen', `127.0.0.1:${this.#ports.remoteEc2}`, '--s3-listen', `127.0.0.1:${this.#ports.remoteS3}`], ...(adminToken !== undefined ? { adminToken } : {}),
    });
  }

  /** The local controller (again, after a stop: `adminToken`), with failpoints armed when given; `args` after the `localArgs` (a flag given again there wins). */
  startLocal(o: { adminToken?: string; failpoints?: string; args?: readonly string[] } = {}): Promise<ControllerProcess> {
    return startControllerProcess({
      cli: CLI, dataDir: join(this.#root, 'local'), home: join(this.#root, 'local-home'), heartbeatMs: 30_000, port: this.#ports.local, args: [...this.#localArgs, ...(o.args ?? [])],
      ...(o.adminToken !== undefined ? { adminToken: o.adminToken } : {}), ...(o.failpoints !== undefined ? { env: { NUBO_FAILPOINTS: o.failpoints } } : {}),
    });
  }

  /** The registration of the remote as `burst-1` (1 vCPU/128 MiB → nubo.tiny, disk → the AMI, up to 4 VMs, other images uploaded to its S3 on demand). */
  cloudBody(o: Partial<CreateCloudBody> = {}): CreateCloudBody {
    return {
      name: 'burst-1', endpoint: this.remoteEc2Url, region: 'nubo-1', accessKeyId: this.key.id, secretAccessKey: this.key.secret,
      instanceTypes: { '1x128': 'nubo.tiny' }, images: { disk: this.ami }, capacity: 4, pricePerHour: 0.05, s3Endpoint: this.remoteS3Url, imageBucket: 'nubo-burst', ...o,
    };
  }

  /** The remote's instances carrying this VM's tag (terminated ones too, unless `live`). */
  async instancesOf(vmId: string, o: { live?: boolean } = {}): Promise<{ id: string; state: string }[]> {
    const out = await this.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:nubo-vm-id', Values: [vmId] }] }));
    const all = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => ({ id: i.InstanceId ?? '', state: i.State?.Name ?? '' }));
    return o.live === true ? all.filter((i) => i.state !== 'terminated') : all;
  }

  /** Everything started, in reverse order; the root directory is the caller's. */
  async close(): Promise<void> {
    this.ec2?.destroy();
    await this.localFleet?.close();
    await this.local?.stop();
    await this.remoteFleet?.close();
    await this.remote?.stop();
  }
}
