import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ControllerDaemon } from '../../src/controller/controller-daemon.js';
import { AgentDaemon } from '../../src/agent/agent-daemon.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import { buildTinyImage, type TinyImage } from '../../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../../src/util/nubo-home.js';
import { freePort } from '../../src/util/free-port.js';
import { pollUntil } from '../../src/util/deadline.js';
import type { Failpoints } from '../../src/util/failpoints.js';
import type { UsagePrices } from '../../src/core/usage/usage-prices.js';
import type { ControllerDaemonOptions } from '../../src/controller/controller-daemon.js';
import { tinyBoot, uploadTinyImages } from './tiny-images.js';

/** An in-process controller and agents (`h1`, `h2` …) with real QEMU on loopback, no lab: for suites that need no guest network. */
export interface InProcessCloud {
  readonly root: string;
  readonly image: TinyImage;
  /** Replaced by `restartController`. */
  readonly controller: ControllerDaemon;
  readonly agents: readonly AgentDaemon[];
  /** The admin's client (the controller keeps its URL across a restart). */
  readonly api: NuboClient;
  /** The shared datastore every agent has, when asked for. */
  readonly sharedDir: string | undefined;
  /** A host's data directory (its VMs are under `vms/<agent VM id>/`). */
  hostDir(name: string): string;
  /** Stops the controller and starts a new one on the same store and port (operations in flight resume). */
  restartController(failpoints?: Failpoints): Promise<ControllerDaemon>;
  /** Terminates every VM, stops the daemons and removes everything under `root`. */
  stop(): Promise<void>;
}

export interface InProcessCloudOptions {
  readonly prefix: string;
  readonly logger: Logger;
  /** How many hosts (default 1). */
  readonly hosts?: number;
  /** Give every agent one shared datastore (and wait until the controller knows it). */
  readonly shared?: boolean;
  readonly failpoints?: Failpoints;
  /** The controller's grace for a guest to shut down on `reboot` (its default otherwise). */
  readonly rebootGraceS?: number;
  /** The controller's showback prices (none: everything costs 0). */
  readonly usagePrices?: UsagePrices;
  /** How often agents sample and the controller collects metrics (their defaults otherwise). */
  readonly metricsIntervalMs?: number;
  /** Serve the EC2 Query API too (the controller's `ec2` option). */
  readonly ec2?: ControllerDaemonOptions['ec2'];
  /** Capacity lease policies, rates and tick (the controller's `leases` option). */
  readonly leases?: ControllerDaemonOptions['leases'];
  /** Serve the S3 API too (the controller's `s3` option). */
  readonly s3?: ControllerDaemonOptions['s3'];
  /** How often autoscaling groups are evaluated and over what window members' CPU is averaged (the controller's defaults otherwise). */
  readonly autoscale?: ControllerDaemonOptions['autoscale'];
  /** The agents' state-file format and RAM-copy threads (AgentDaemonOptions; their defaults otherwise). */
  readonly saveFormat?: 'ram' | 'qemu';
  readonly ramCopyThreads?: number;
}

/**
 * Starts the cloud in a fresh temporary directory and registers the nubo-tiny
 * guest as images `tiny-disk`, `tiny-kernel`, `tiny-initrd` and the template
 * `tiny` (1 vCPU, 128 MiB, one NIC on no network).
 */
export async function startInProcessCloud(o: InProcessCloudOptions): Promise<InProcessCloud> {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  const root = await mkdtemp(join(tmpdir(), o.prefix));
  const sharedDir = o.shared === true ? join(root, 'shared') : undefined;
  if (sharedDir !== undefined) await mkdir(sharedDir);
  const dataDir = join(root, 'controller');
  const start = (port: number, failpoints?: Failpoints): Promise<ControllerDaemon> =>
    ControllerDaemon.start({ dataDir, listen: { host: '127.0.0.1', port }, heartbeatIntervalMs: 1000, logger: o.logger, ...(o.metricsIntervalMs !== undefined ? { metrics: { intervalMs: o.metricsIntervalMs } } : {}), ...(failpoints ? { failpoints } : {}), ...(o.rebootGraceS !== undefined ? { rebootGraceS: o.rebootGraceS } : {}), ...(o.usagePrices !== undefined ? { usagePrices: o.usagePrices } : {}), ...(o.ec2 !== undefined ? { ec2: o.ec2 } : {}), ...(o.leases !== undefined ? { leases: o.leases } : {}), ...(o.s3 !== undefined ? { s3: o.s3 } : {}), ...(o.autoscale !== undefined ? { autoscale: o.autoscale } : {}) });
  let controller = await start(0, o.failpoints);
  const api = new NuboClient(controller.url, (await controller.bootstrapAdmin())!);
  const agents: AgentDaemon[] = [];
  const names = Array.from({ length: o.hosts ?? 1 }, (_, i) => `h${i + 1}`);
  for (const name of names) {
    const agentToken = randomBytes(24).toString('hex');
    const port = await freePort();
    await api.registerHost({ name, agentUrl: `http://127.0.0.1:${port}`, agentToken });
    agents.push(await AgentDaemon.start({
      name, dataDir: join(root, name), runDir: join(root, `run-${name}`), ...(sharedDir !== undefined ? { sharedDir } : {}),
      listen: { host: '127.0.0.1', port }, token: agentToken, controllerUrl: controller.url, heartbeatIntervalMs: 500, logger: o.logger, metricsIntervalMs: o.metricsIntervalMs,
      saveFormat: o.saveFormat, ramCopyThreads: o.ramCopyThreads,
    }));
  }
  // Enabled, and (with a shared datastore) the heartbeat has told the controller about it.
  await pollUntil('every host enabled', async () => {
    for (const name of names) {
      const h = await controller.store.hosts.get((await api.getHost(name)).id);
      if (h.state !== 'enabled') return undefined;
      if (sharedDir !== undefined && (h.usage as { migration?: { sharedDatastore?: boolean } } | null)?.migration?.sharedDatastore !== true) return undefined;
    }
    return true;
  }, { timeoutMs: 20_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, ...tinyBoot(image) });
  return {
    root, image, agents, api, sharedDir,
    get controller() {
      return controller;
    },
    hostDir: (name) => join(root, name),
    async restartController(failpoints) {
      const port = Number(new URL(controller.url).port);
      await controller.stop();
      controller = await start(port, failpoints);
      return controller;
    },
    async stop() {
      for (const vm of await api.listVms().catch(() => [])) {
        if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
      }
      await controller.orchestrator.idle();
      for (const a of agents) await a.stop();
      await controller.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
