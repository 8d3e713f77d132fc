import { mkdtemp, rm } from 'node:fs/promises';
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

/** An in-process controller and one agent (`h1`) with real QEMU, no lab: for suites that need one host. */
export interface OneHostCloud {
  readonly root: string;
  readonly image: TinyImage;
  readonly controller: ControllerDaemon;
  readonly agent: AgentDaemon;
  /** The admin's client. */
  readonly api: NuboClient;
  /** The agent's data directory (its VMs are under `vms/<agent VM id>/`). */
  readonly hostDir: string;
  /** Terminates every VM, stops both daemons and removes everything under `root`. */
  stop(): Promise<void>;
}

/**
 * Starts the cloud in a fresh temporary directory and registers the nubo-tiny
 * guest as images `tiny-disk`, `tiny-kernel`, `tiny-initrd` and the template
 * `tiny` (1 vCPU, 128 MiB, one NIC on no network).
 */
export async function startOneHostCloud(o: { readonly prefix: string; readonly logger: Logger }): Promise<OneHostCloud> {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  const root = await mkdtemp(join(tmpdir(), o.prefix));
  const controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 1000, logger: o.logger });
  const api = new NuboClient(controller.url, (await controller.bootstrapAdmin())!);
  const agentToken = randomBytes(24).toString('hex');
  const port = await freePort();
  await api.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${port}`, agentToken });
  const hostDir = join(root, 'h1');
  const agent = await AgentDaemon.start({
    name: 'h1', dataDir: hostDir, runDir: join(root, 'run'), listen: { host: '127.0.0.1', port }, token: agentToken, controllerUrl: controller.url, heartbeatIntervalMs: 500, logger: o.logger,
  });
  await pollUntil('host h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 20_000 });
  await api.registerImage({ name: 'tiny-disk', path: image.dataDisk });
  await api.registerImage({ name: 'tiny-kernel', path: image.kernel, format: 'kernel' });
  await api.registerImage({ name: 'tiny-initrd', path: image.initrd, format: 'initrd' });
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline });
  return {
    root, image, controller, agent, api, hostDir,
    async stop() {
      for (const vm of await api.listVms().catch(() => [])) {
        if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
      }
      await controller.orchestrator.idle();
      await agent.stop();
      await controller.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
