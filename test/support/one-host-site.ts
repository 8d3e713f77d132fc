import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pollUntil } from '../../src/util/deadline.js';
import { freePort } from '../../src/util/free-port.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import { TenancyClient } from '../../src/client/tenancy-client.js';
import { buildTinyImage } from '../../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../../src/util/nubo-home.js';
import { DaemonProcess } from './daemon-process.js';
import { tinyBoot, uploadTinyImages } from './tiny-images.js';

/** A controller and one real-QEMU agent as processes on loopback (no lab), a `tiny` template and a second user bob. */
export interface OneHostSite {
  readonly root: string;
  readonly controllerPort: number;
  readonly agentPort: number;
  readonly controller: DaemonProcess;
  readonly agent: DaemonProcess;
  readonly api: NuboClient;
  readonly url: string;
  readonly adminToken: string;
  readonly bobToken: string;
}

/** The controller of a site in `root` on `port`, as every start and restart of it runs (`env`: e.g. failpoints; `args`: more options, e.g. `--ec2-listen`). */
export function startSiteController(root: string, port: number, env: NodeJS.ProcessEnv = {}, args: readonly string[] = []): DaemonProcess {
  return DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--data-dir', join(root, 'controller'), '--heartbeat-ms', '1000', ...args], env);
}

/** `controllerArgs`: more options of the first controller (a restart passes its own to startSiteController). */
export async function startOneHostSite(tmpPrefix: string, o: { readonly controllerArgs?: readonly string[] } = {}): Promise<OneHostSite> {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  const root = await mkdtemp(join(tmpdir(), tmpPrefix));
  const controllerPort = await freePort();
  const agentPort = await freePort();
  const tokenFile = join(root, 'agent-token');
  await writeFile(tokenFile, randomBytes(24).toString('hex'));
  const controller = startSiteController(root, controllerPort, {}, o.controllerArgs);
  const adminToken = await controller.waitFor(/its token \(shown once\): (\S+)/, 120_000);
  await controller.waitFor(/controller listening/, 120_000);
  const url = `http://127.0.0.1:${controllerPort}`;
  const api = new NuboClient(url, adminToken);
  await api.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${agentPort}`, agentToken: await readFile(tokenFile, 'utf8') });
  const agent = DaemonProcess.start([
    'agent', '--name', 'h1', '--listen', `127.0.0.1:${agentPort}`, '--token-file', tokenFile,
    '--controller', url, '--data-dir', join(root, 'h1'), '--run-dir', join(root, 'run'), '--heartbeat-ms', '500',
  ]);
  await pollUntil('h1 enabled', async () => ((await api.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
  await uploadTinyImages(api, image);
  await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, ...tinyBoot(image) });
  const bobToken = (await new TenancyClient(url, adminToken).createUser({ name: 'bob' })).token;
  return { root, controllerPort, agentPort, controller, agent, api, url, adminToken, bobToken };
}

/**
 * Every VM terminated, the processes stopped, the directory removed. Tolerates a set-up that failed half-way
 * (whatever was made is still removed): `controller` is the one running now (a test may have restarted it).
 */
export async function closeOneHostSite(s: { api?: NuboClient | undefined; controller?: DaemonProcess | undefined; agent?: DaemonProcess | undefined; root?: string | undefined }): Promise<void> {
  if (s.api && s.controller?.alive) {
    for (const vm of await s.api.listVms().catch(() => [])) if (vm.state !== 'terminated') await s.api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    await pollUntil('every VM terminated', async () => ((await s.api!.listVms().catch(() => [])).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 60_000 }).catch(() => {});
  }
  await s.controller?.stop();
  await s.agent?.stop();
  if (s.root) await rm(s.root, { recursive: true, force: true });
}
