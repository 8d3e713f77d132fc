import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ControllerDaemon } from '../../src/controller/controller-daemon.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import type { VmDetailView } from '../../src/contract/vm-schemas.js';
import { buildDebianImage, type DebianImage } from '../../src/storage/debian-image/build-debian-image.js';
import { imageCacheDir } from '../../src/util/nubo-home.js';
import { pollUntil } from '../../src/util/deadline.js';
import { runCommand } from '../../src/util/run-command.js';
import { labDown, labFabricUp, labUp } from '../../src/lab/lab.js';
import { FABRIC_ADDRESS } from '../../src/lab/lab-state.js';

/**
 * A one-host lab with the lab's controller in process and the nubo-debian
 * guest registered: for what only real cloud-init (and a guest reachable over
 * the network, e.g. by ssh) proves. Run under `flock /tmp/nubo-lab.lock`.
 */
export interface DebianLabCloud {
  readonly image: DebianImage;
  readonly controller: ControllerDaemon;
  /** The admin's client. */
  readonly api: NuboClient;
  /** The VMs' owner: a user with one ssh key, whose private half is `<ownerHome>/.ssh/id_ed25519`. */
  readonly owner: { readonly name: string; readonly token: string; readonly api: NuboClient; readonly home: string; readonly publicKey: string };
  /** The network the template's NIC is on; its gateway address is on the fabric bridge, so this machine reaches the guests. */
  readonly network: { readonly name: string; readonly cidr: string; readonly gateway: string };
  /** The template: 1 vCPU, 512 MiB (cloud-init and systemd under TCG), one NIC on the network. */
  readonly template: string;
  stop(): Promise<void>;
}

export interface BootedDebianVm {
  readonly vm: VmDetailView;
  /** From the create request to cloud-init's "finished" line on the console. */
  readonly requestToFinishedMs: number;
  /** The guest's own uptime when cloud-init finished, as it reports it. */
  readonly guestUpSeconds: number;
  readonly console: string;
}

const NUBO_CLI = fileURLToPath(new URL('../../src/cli/nubo.js', import.meta.url));
const NETWORK = { name: 'deb', cidr: '198.18.67.0/24', gateway: '198.18.67.254' } as const;

export async function startDebianLabCloud(o: { prefix: string; logger: Logger; onBuildStep?: (step: string) => void }): Promise<DebianLabCloud> {
  // Shared through the image cache: built once per machine, not per suite.
  const image = await buildDebianImage({ cacheDir: imageCacheDir(), ...(o.onBuildStep ? { onProgress: (p) => o.onBuildStep?.(p.step) } : {}) });
  const root = await mkdtemp(join(tmpdir(), 'nubo-debian-'));
  const dir = join(root, 'lab');
  let controller: ControllerDaemon | undefined;
  try {
    await labFabricUp(o.prefix, dir);
    controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 500, imageImportDir: imageCacheDir(), logger: o.logger });
    const token = (await controller.bootstrapAdmin())!;
    const api = new NuboClient(controller.url, token);
    const r = await labUp({ prefix: o.prefix, dir, hosts: 1, controller: { url: controller.url, token }, heartbeatMs: 500, migrationTls: false });
    for (const h of r.state.hosts) await pollUntil(`host ${h.name} enabled`, async () => ((await api.getHost(h.name)).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
    // The guests' gateway on the fabric: this machine is then on their subnet (the bridge is removed by lab down).
    await runCommand('ip', ['addr', 'add', `${NETWORK.gateway}/24`, 'dev', r.state.fabricBridge]);

    const home = join(root, 'owner-home');
    await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    const keyFile = join(home, '.ssh', 'id_ed25519');
    await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'owner@nubo-test', '-f', keyFile]);
    const publicKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
    const name = `owner-${randomBytes(3).toString('hex')}`;
    const owner = await controller.store.users.create({ name });
    // Registered as a user does it, before creating a VM: `nubo user ssh-key add` takes ~/.ssh/id_ed25519.pub.
    await runCommand(process.execPath, [NUBO_CLI, 'user', 'ssh-key', 'add'], { env: { ...process.env, HOME: home, NUBO_URL: controller.url, NUBO_TOKEN: owner.token } });
    const registered = await new NuboClient(controller.url, owner.token).whoami();
    if (registered.sshKeys.join('\n') !== publicKey) throw new Error(`nubo user ssh-key add registered ${JSON.stringify(registered.sshKeys)}, not ${publicKey}`);

    await api.registerImage({ name: 'debian-root', path: image.rootDisk });
    await api.registerImage({ name: 'debian-kernel', path: image.kernel, format: 'kernel' });
    await api.registerImage({ name: 'debian-initrd', path: image.initrd, format: 'initrd' });
    await api.createNetwork({ name: NETWORK.name, cidr: NETWORK.cidr, gateway: NETWORK.gateway });
    await api.createTemplate({
      name: 'debian', vcpus: 1, memoryMiB: 512, image: 'debian-root', kernel: 'debian-kernel', initrd: 'debian-initrd', cmdline: image.cmdline,
      nics: [{ network: NETWORK.name }],
    });
    const c = controller;
    return {
      image, controller: c, api, template: 'debian', network: NETWORK,
      owner: { name, token: owner.token, api: new NuboClient(c.url, owner.token), home, publicKey },
      async stop() {
        for (const vm of await api.listVms().catch(() => [])) {
          if (vm.state !== 'terminated') await api.vmAction(vm.id, 'terminate-hard').catch(() => {});
        }
        await c.orchestrator.idle().catch(() => {});
        await labDown(dir).catch(() => {});
        await c.stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await labDown(dir).catch(() => {});
    await controller?.stop().catch(() => {});
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** cloud-init's final message (its `final_message` default), which ends with the guest's uptime. */
const FINISHED = /Cloud-init v\. \S+ finished at .*?Up ([\d.]+) seconds/;

/**
 * Creates a VM as the owner and waits for cloud-init to finish on its console.
 * Under TCG on a shared 2-core machine that is ~1 min when idle and many
 * times that when busy, hence the long default.
 */
export async function bootDebianVm(cloud: DebianLabCloud, name: string, userData: string, timeoutMs = 20 * 60_000): Promise<BootedDebianVm> {
  const t0 = performance.now();
  const created = await cloud.owner.api.createVm({ template: cloud.template, name, userData });
  let last = '';
  try {
    const { console, up } = await pollUntil(`cloud-init finished on ${name}`, async () => {
      const vm = await cloud.api.getVm(created.id);
      if (vm.state === 'failed') throw new Error(`VM ${name} failed: ${vm.stateReason}`);
      if (vm.state !== 'running') return undefined;
      last = await cloud.api.vmConsole(created.id);
      const m = FINISHED.exec(last);
      return m?.[1] ? { console: last, up: Number(m[1]) } : undefined;
    }, { timeoutMs, intervalMs: 1000 });
    const requestToFinishedMs = performance.now() - t0;
    return { vm: await cloud.api.getVm(created.id), requestToFinishedMs, guestUpSeconds: up, console };
  } catch (err) {
    throw new Error(`${String(err)}\n--- console of ${name} ---\n${last.slice(-4000)}`, { cause: err });
  }
}
