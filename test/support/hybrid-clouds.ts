import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { AgentDaemon } from '../../src/agent/agent-daemon.js';
import { FakeFleet } from '../../src/agent/fake-fleet.js';
import { AccessKeyClient } from '../../src/client/access-key-client.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import type { CreateCloudBody } from '../../src/contract/cloud-schemas.js';
import { buildTinyImage } from '../../src/storage/tiny-image/build-tiny-image.js';
import { pollUntil } from '../../src/util/deadline.js';
import { imageCacheDir } from '../../src/util/nubo-home.js';
import { runCommand } from '../../src/util/run-command.js';
import { freePort, startControllerProcess, type ControllerProcess } from './controller-process.js';
import { tinyBoot, uploadTinyImages } from './tiny-images.js';

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
 *
 * With `qemu`, each site has instead one real agent (`r1`, `l1`: QEMU under
 * TCG, in this process) and the templates boot the nubo-tiny guest (its
 * images `tiny-disk`, `tiny-kernel`, `tiny-initrd` on both sites; the
 * remote's `small` is the AMI `tiny-disk` maps to): test/hybrid-qemu.e2e.test.ts.
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
  /** With `qemu`: the real agents (`r1` on the remote, `l1` on the local site), their data and run directories under the root. */
  remoteAgent: AgentDaemon | undefined;
  localAgent: AgentDaemon | undefined;
  /** The local image the remote's AMI stands for (`disk`, or `tiny-disk` with `qemu`). */
  diskImage = 'disk';
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
  /** `qemu`: one real QEMU agent a site instead of the fake fleets (`localCpus` and `realDisks` do not apply). */
  static async start(o: { root: string; localCpus: number; logger: Logger; localArgs?: readonly string[]; realDisks?: boolean; qemu?: boolean }): Promise<HybridClouds> {
    const h = new HybridClouds(o.root, { remote: await freePort(), remoteEc2: await freePort(), remoteS3: await freePort(), local: await freePort() }, o.localArgs ?? []);
    try {
      if (o.qemu === true) await h.#setUpQemu(o);
      else await h.#setUp(o);
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
    await this.#remoteKeyAndAmi();

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

  async #setUpQemu(o: { root: string; logger: Logger }): Promise<void> {
    await mkdir(o.root, { recursive: true });
    const tiny = await buildTinyImage({ cacheDir: imageCacheDir() });
    this.diskImage = 'tiny-disk';
    this.remote = await this.startRemote();
    const rApi = this.remoteApi;
    this.remoteAgent = await this.#startAgent(rApi, 'r1', this.remote.url, o.logger);
    await uploadTinyImages(rApi, tiny);
    await rApi.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, ...tinyBoot(tiny) });
    await this.#remoteKeyAndAmi();

    this.local = await this.startLocal();
    const lApi = this.localApi;
    this.localAgent = await this.#startAgent(lApi, 'l1', this.local.url, o.logger);
    await uploadTinyImages(lApi, tiny);
    await lApi.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, ...tinyBoot(tiny) });
    await lApi.createTemplate({ name: 'cloudy', vcpus: 1, memoryMiB: 128, ...tinyBoot(tiny), requirements: 'cloud == "burst-1"' });
  }

  /** A real agent `name` registered with the site and enabled (its heartbeat arrived). */
  async #startAgent(api: NuboClient, name: string, controllerUrl: string, logger: Logger): Promise<AgentDaemon> {
    const agentToken = randomBytes(24).toString('hex');
    const port = await freePort();
    await api.registerHost({ name, agentUrl: `http://127.0.0.1:${port}`, agentToken });
    const agent = await AgentDaemon.start({
      name, dataDir: this.agentDir(name), runDir: this.agentRunDir(name), listen: { host: '127.0.0.1', port }, token: agentToken, controllerUrl, heartbeatIntervalMs: 1_000, logger,
    });
    await pollUntil(`host ${name} enabled`, async () => ((await api.getHost(name)).state === 'enabled' ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 });
    return agent;
  }

  /** A real agent's data directory (its VMs' disks under `vms/<agent VM id>/`) and run directory (QEMU's pid file, console log). */
  agentDir(name: string): string { return join(this.#root, `agent-${name}`); }
  agentRunDir(name: string): string { return join(this.#root, `run-${name}`); }

  /** The remote admin's access key, the EC2 client over it, and the AMI of the remote template `small`. */
  async #remoteKeyAndAmi(): Promise<void> {
    this.remoteAdminId = (await this.remoteApi.whoami()).id;
    const made = await new AccessKeyClient(this.remote.url, this.remote.adminToken).create(this.remoteAdminId, { description: 'bursting from the local nubo' });
    this.key = { id: made.accessKeyId, secret: made.secretAccessKey };
    this.ec2 = new EC2Client({ endpoint: this.remoteEc2Url, region: 'nubo-1', credentials: { accessKeyId: this.key.id, secretAccessKey: this.key.secret }, maxAttempts: 1 });
    this.ami = (await this.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['small'] }] }))).Images?.[0]?.ImageId ?? '';
    if (!/^ami-[0-9a-f]+$/.test(this.ami)) throw new Error(`no AMI for the remote template small: ${JSON.stringify(this.ami)}`);
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
      instanceTypes: { '1x128': 'nubo.tiny' }, images: { [this.diskImage]: this.ami }, capacity: 4, pricePerHour: 0.05, s3Endpoint: this.remoteS3Url, imageBucket: 'nubo-burst', ...o,
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
    // Real guests are QEMU processes an agent's stop leaves running: ended first, on both sites.
    for (const [api, agent] of [[this.local ? this.localApi : undefined, this.localAgent], [this.remote ? this.remoteApi : undefined, this.remoteAgent]] as const) {
      if (api === undefined || agent === undefined) continue;
      const live = (await api.listVms().catch(() => [])).filter((v) => v.state !== 'terminated');
      for (const v of live) await api.vmAction(v.id, 'terminate-hard').catch(() => undefined);
      await pollUntil('every VM terminated', async () => ((await api.listVms().catch(() => [])).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 }).catch(() => undefined);
    }
    await this.localAgent?.stop();
    await this.remoteAgent?.stop();
    await this.localFleet?.close();
    await this.local?.stop();
    await this.remoteFleet?.close();
    await this.remote?.stop();
  }
}
