import type { Command } from 'commander';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { ControllerDaemon } from '../../controller/controller-daemon.js';
import type { AgentDaemon } from '../../agent/agent-daemon.js';
import { NuboClient } from '../../client/nubo-client.js';
import { buildTinyImage, type TinyImage } from '../../storage/tiny-image/build-tiny-image.js';
import { imageCacheDir, nuboHome } from '../../util/nubo-home.js';
import { pollUntil } from '../../util/deadline.js';
import { runCliAction } from '../run-cli-action.js';
import { daemonLogger, untilStopped } from '../daemon-support.js';
import { credentialsFile } from '../credentials.js';
import { EXIT } from '../exit-codes.js';
import { ValidationError } from '../../errors/validation-error.js';
import { DEFAULT_NETWORK, ensureDefaultBridge } from '../../network/default-network.js';
import { PRICES_FILE_HELP, PRICES_HELP, pricesFromFlags } from '../prices-flags.js';
import { TINY_IMAGE_MIN_MEMORY_MIB } from '../../core/memory-minimum.js';
import { MIGRATION_BANDWIDTH_HELP, MIGRATION_MAX_PER_HOST_HELP, queueLimitsFromFlags, type MigrationQueueFlags } from '../migration-queue-flags.js';

interface UpFlags extends MigrationQueueFlags { s3Port: string; ec2Port: string; port: string; listen: string; logLevel: string; bridge: string; prices?: string; pricesFile?: string }

/** vCPUs per core on the local host: tiny test VMs idle, and a 2-core laptop should run more than two. */
const LOCAL_CPU_OVERCOMMIT = 4;

const HOST = 'local';

/**
 * `nubo up`: the all-in-one cloud — the controller with SQLite, one agent for
 * this machine, the nubo-tiny image and a `tiny` template — in the foreground.
 * Ctrl-C stops the controller and the agent; running VMs keep running and the
 * next `nubo up` adopts them.
 */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the all-in-one cloud (controller + local agent, SQLite, nubo-tiny image and `tiny` template) until Ctrl-C')
    .option('--port <port>', 'API port (the agent uses the next one)', '7480')
    .option('--s3-port <port>', 'port of the S3-compatible API (SigV4 with `nubo user access-key` keys); 0: none', '7491')
    .option('--ec2-port <port>', 'port of the EC2-compatible Query API (SigV4 with `nubo user access-key` keys; security groups enforced on the VMs\' TAPs with nftables); 0: none', '7490')
    .option('--listen <address>', 'address the API listens on (e.g. 198.18.0.1 for `nubo lab` hosts; the local agent stays on 127.0.0.1)', '127.0.0.1')
    .option('--log-level <level>', 'daemon log level written to $NUBO_HOME/nubo.log', 'info')
    .option('--bridge <name>', `bridge of the \`default\` network (${DEFAULT_NETWORK.cidr}; this machine is ${DEFAULT_NETWORK.gateway})`, DEFAULT_NETWORK.bridge)
    .option('--prices <spec>', PRICES_HELP)
    .option('--prices-file <file>', PRICES_FILE_HELP)
    .option('--migration-max-per-host <n>', MIGRATION_MAX_PER_HOST_HELP)
    .option('--migration-bandwidth-mibps <MiB/s>', MIGRATION_BANDWIDTH_HELP)
    .addHelpText(
      'after',
      [
        '',
        'Ctrl-C stops the controller and the agent. VMs keep running; the next `nubo up` adopts them.',
        'The admin credentials are written to $NUBO_HOME/credentials.json for the other commands.',
        `The \`default\` network: bridge ${DEFAULT_NETWORK.bridge} (made if missing, kept after Ctrl-C since VMs keep running on it;`,
        `\`ip link del ${DEFAULT_NETWORK.bridge}\` once no VM runs) with ${DEFAULT_NETWORK.hostAddress}; VMs lease ${DEFAULT_NETWORK.range.first}-${DEFAULT_NETWORK.range.last}`,
        'and answer from this machine, e.g. `curl http://198.19.0.2/`. The local host places 4 vCPUs per core (`nubo host update`).',
      ].join('\n'),
    )
    .action(runCliAction(async (signal, o: UpFlags) => up(signal, o)));
}

async function up(signal: AbortSignal, o: UpFlags): Promise<number> {
  // Checked before anything is built or started.
  const usagePrices = await pricesFromFlags(o);
  const migrationQueue = queueLimitsFromFlags(o);
  const ec2Port = portFlag('--ec2-port', o.ec2Port);
  const s3Port = portFlag('--s3-port', o.s3Port);
  const say = (s: string): boolean => process.stdout.write(`${s}\n`);
  const home = nuboHome();
  // The controller's database, the credentials and the tenants' disks (QEMU and qemu-img inherit it): the owner's only.
  process.umask(0o077);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const image = await buildImageWithProgress(signal);
  // Before the agent starts, so that its first report already lists the bridge placement looks for.
  await ensureDefaultBridge(o.bridge, { signal });
  // Daemon logs go to a file so that the terminal shows what a person needs.
  const logFile = join(home, 'nubo.log');
  const logger = daemonLogger(logFile, o.logLevel);
  const port = Number(o.port);
  // Loaded here, not at the top: every other `nubo` command starts without the daemons' modules.
  const [{ ControllerDaemon }, { AgentDaemon }] = await Promise.all([import('../../controller/controller-daemon.js'), import('../../agent/agent-daemon.js')]);
  const controller = await ControllerDaemon.start({ dataDir: join(home, 'controller'), listen: { host: o.listen, port }, ...(s3Port > 0 ? { s3: { host: o.listen, port: s3Port } } : {}), ...(ec2Port > 0 ? { ec2: { listen: { host: o.listen, port: ec2Port } } } : {}), heartbeatIntervalMs: 2_000, usagePrices, migrationQueue, logger: logger.child({ part: 'controller' }) });
  let agent: AgentDaemon | undefined;
  try {
    const token = await adminToken(controller);
    const api = new NuboClient(controller.url, token);
    const agentToken = await secret(join(home, 'agent-token'));
    const agentUrl = `http://127.0.0.1:${port + 1}`;
    await controller.store.hosts.register({ name: HOST, agentUrl, agentToken, totalCpus: 0, totalMemoryMib: 0, totalDiskMib: 0, cpuOvercommit: LOCAL_CPU_OVERCOMMIT });
    agent = await AgentDaemon.start({
      name: HOST,
      dataDir: join(home, 'hosts', HOST),
      runDir: runDirFor(home),
      listen: { host: '127.0.0.1', port: port + 1 },
      token: agentToken,
      controllerUrl: controller.url,
      heartbeatIntervalMs: 2_000,
      logger: logger.child({ part: 'agent' }),
    });
    await pollUntil('the local host to report', async () => ((await api.getHost(HOST)).state === 'enabled' ? true : undefined), { timeoutMs: 30_000, signal });
    await ensureDefaultNetwork(api, o.bridge);
    await registerTiny(api, image);
    say(`\nnubo is up — API ${controller.url}  (OpenAPI: ${controller.url}/api/v1/openapi.json)`);
    say(`OCCI 1.2 endpoint ${controller.url}/occi/1.2/  (the same token as the API; query interface: ${controller.url}/occi/1.2/-/)`);
    if (controller.ec2) say(`EC2 endpoint ${controller.ec2.url}  (region nubo-1; keys: nubo user access-key create; aws --endpoint-url ${controller.ec2.url} ec2 describe-instances)`);
    if (controller.s3) say(`S3 endpoint ${controller.s3.url}  (region nubo-1; keys: nubo user access-key create)`);
    say(`credentials: ${credentialsFile()}   logs: ${logFile}`);
    say(`dashboard: ${controller.url}/   (sign in with the token in ${credentialsFile()})`);
    say('next:  bin/nubo vm create --template tiny --name web --wait');
    say(`       bin/nubo vm show web    (its address on network ${DEFAULT_NETWORK.name}, ${DEFAULT_NETWORK.cidr}: curl http://<address>/ from here)`);
    say('       bin/nubo vm console web --attach    (Enter for a shell; Ctrl-] detaches)');
    say('Ctrl-C stops nubo; running VMs keep running and are adopted by the next `nubo up`.');
    await untilStopped(signal);
    say('stopping nubo (VMs keep running)…');
    return EXIT.OK;
  } finally {
    // The controller first: it must not see the agent vanish and record failures.
    await controller.stop();
    await agent?.stop();
  }
}

async function buildImageWithProgress(signal: AbortSignal): Promise<TinyImage> {
  const bar = new cliProgress.SingleBar({ format: 'building nubo-tiny [{bar}] {value}/{total} {step}', hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  try {
    return await buildTinyImage({
      cacheDir: imageCacheDir(),
      signal,
      onProgress: ({ step, index, total }) => {
        if (!started) bar.start(total, index, { step });
        else bar.update(index, { step });
        started = true;
      },
    });
  } finally {
    if (started) bar.stop();
  }
}

/** The admin token: created with the first admin, else read back from the credentials file, else a new admin. */
async function adminToken(controller: ControllerDaemon): Promise<string> {
  const file = credentialsFile();
  const created = await controller.bootstrapAdmin();
  let token = created;
  if (token === undefined) {
    const stored = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { token?: string }, () => undefined);
    if (stored?.token !== undefined && (await controller.store.users.findByToken(stored.token))) token = stored.token;
  }
  // The database has users but this machine lost their token: make another admin rather than lock the owner out.
  token ??= (await controller.store.users.create({ name: `admin-${randomBytes(3).toString('hex')}`, role: 'admin' })).token;
  await writeFile(file, `${JSON.stringify({ url: controller.url, token }, null, 2)}\n`, { mode: 0o600 });
  return token;
}

/** A port flag: 0 (none) to 65535; anything else stops `nubo up` before it starts, naming the flag. */
export function portFlag(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new ValidationError('nubo up', [{ field: flag, message: `${JSON.stringify(value)} is not a port (0-65535; 0: none)` }]);
  return Number(value);
}

/** A secret kept in a file (0600), made on first use. */
async function secret(file: string): Promise<string> {
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.trim().length >= 32) return existing.trim();
  const s = randomBytes(32).toString('hex');
  await writeFile(file, s, { mode: 0o600 });
  return s;
}

/** QEMU's unix sockets need a short directory. */
function runDirFor(home: string): string {
  const dir = join(home, 'run');
  return dir.length <= 40 ? dir : join('/tmp', `nubo-run-${createHash('sha256').update(home).digest('hex').slice(0, 8)}`);
}

async function registerTiny(api: NuboClient, image: TinyImage): Promise<void> {
  const images = await api.listImages();
  const have = (name: string): boolean => images.some((i) => i.name === name);
  // Uploaded like any image: the controller reads no path of this machine.
  if (!have('nubo-tiny-disk')) await api.uploadImage({ name: 'nubo-tiny-disk', file: image.dataDisk, format: 'qcow2' });
  if (!have('nubo-tiny-kernel')) await api.uploadImage({ name: 'nubo-tiny-kernel', file: image.kernel, format: 'kernel', minMemoryMiB: TINY_IMAGE_MIN_MEMORY_MIB });
  if (!have('nubo-tiny-initrd')) await api.uploadImage({ name: 'nubo-tiny-initrd', file: image.initrd, format: 'initrd', minMemoryMiB: TINY_IMAGE_MIN_MEMORY_MIB });
  if (!(await api.listTemplates()).some((t) => t.name === 'tiny')) {
    await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'nubo-tiny-disk', kernel: 'nubo-tiny-kernel', initrd: 'nubo-tiny-initrd', cmdline: image.cmdline, nics: [{ network: DEFAULT_NETWORK.name }] });
  }
}

/** The `default` network on the bridge, registered once: a later `nubo up` finds it (and its leases) as they were. */
async function ensureDefaultNetwork(api: NuboClient, bridge: string): Promise<void> {
  if ((await api.listNetworks()).some((n) => n.name === DEFAULT_NETWORK.name)) return;
  const { name, cidr, gateway, range } = DEFAULT_NETWORK;
  await api.createNetwork({ name, cidr, gateway, range: { ...range }, bridge });
}
