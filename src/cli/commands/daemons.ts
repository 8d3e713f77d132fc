import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { nuboHome } from '../../util/nubo-home.js';
import { runCliAction } from '../run-cli-action.js';
import { daemonLogger, parseListen, untilStopped } from '../daemon-support.js';
import { readHostSecretFile } from '../host-secret-file.js';
import { UsageError } from '../usage-error.js';
import { EXIT } from '../exit-codes.js';
import { Failpoints } from '../../util/failpoints.js';
import { PRICES_FILE_HELP, PRICES_HELP, pricesFromFlags } from '../prices-flags.js';
import { leasePolicyArg, leaseRateArg } from './lease-flags.js';
import { BURST_POLICY_KINDS, type BurstPolicy } from '../../core/placement/burst-timing.js';
import { MIGRATION_BANDWIDTH_HELP, MIGRATION_MAX_PER_HOST_HELP, queueLimitsFromFlags, type MigrationQueueFlags } from '../migration-queue-flags.js';

interface AgentFlags { name: string; listen: string; controller?: string; token?: string; tokenFile?: string; dataDir?: string; runDir?: string; netns?: string; heartbeatMs: string; sharedDir?: string; migrationAddress?: string; migrationTlsDir?: string; healthCommand?: string; saveFormat?: string; ramCopyThreads?: string }
interface ControllerFlags extends MigrationQueueFlags { s3Listen?: string; ec2Listen?: string; listen: string; dataDir: string; postgres?: string; advertiseUrl?: string; heartbeatMs: string; eventMaxAgeDays: string; eventMaxRows: string; imageImportDir?: string; leaseMs?: string; prices?: string; pricesFile?: string; leasePolicy?: Record<string, string>; leaseRate?: Record<string, number | boolean>; cloudPollMs?: string; cloudBackoffMs?: string; burstPolicy?: string; burstMaxWaitS?: string }

/** `nubo controller` and `nubo agent`: the two daemons, each in the foreground until SIGINT/SIGTERM. */
export function registerDaemonCommands(program: Command): void {
  program
    .command('controller')
    .description('run the controller (state store, scheduler, orchestrators, API) in the foreground')
    .option('--listen <host:port>', 'address of the API', '127.0.0.1:7480')
    .option('--s3-listen <host:port>', 'address of the S3-compatible API (e.g. 127.0.0.1:7491), from which hosts also fetch images by presigned GET; default: none (images stay objects of the same store, served by the API listener)')
    .option('--ec2-listen <host:port>', 'address of the EC2-compatible Query API (e.g. 127.0.0.1:7490; SigV4 with `nubo user access-key` keys); default: none')
    .option('--data-dir <dir>', 'state (SQLite database, image store)', join(nuboHome(), 'controller'))
    .option('--postgres <url>', 'keep the state in PostgreSQL instead of SQLite (e.g. postgresql:///nubo?host=/run/postgresql); several controllers may share one: the holder of the leadership lease orchestrates, the others serve reads and forward writes to it (README: Several controllers)')
    .option('--advertise-url <url>', 'the URL agents reach the controller at (default: the listen address)')
    .option('--heartbeat-ms <ms>', 'expected agent heartbeat interval', '5000')
    .option('--image-import-dir <dir>', 'admins may register images and import templates by path from this directory only (symlinks and .. resolved); default: none, images and templates are uploaded')
    .option('--event-max-age-days <days>', 'events older than this are pruned (at start and every 10 minutes)', '7')
    .option('--event-max-rows <n>', 'at most this many events are kept, the newest', '100000')
    .option('--lease-ms <ms>', 'with --postgres: the leadership lease, renewed every third of it; a failover takes about this long (default 10000)')
    .option('--prices <spec>', PRICES_HELP)
    .option('--prices-file <file>', PRICES_FILE_HELP)
    .option('--lease-policy <kind=name>', 'a capacity lease policy by name, repeatable: admission, preemptability, hostSelection, backfilling, suspension, migration, unsuspendable, preemptionAgeLimitS (docs/leases.md; e.g. migration=yes, suspension=none, unsuspendable=cancel, admission=quota-aware)', leasePolicyArg)
    .option('--lease-rate <name=value>', 'a capacity lease enactment rate, repeatable (docs/leases.md; e.g. bootS=20, suspendMiBps=100, suspendTo=local|shared: the default for a lease whose VM datastore is unknown — otherwise it follows from the disks of its VMs)', leaseRateArg)
    .option('--migration-max-per-host <n>', MIGRATION_MAX_PER_HOST_HELP)
    .option('--migration-bandwidth-mibps <MiB/s>', MIGRATION_BANDWIDTH_HELP)
    .option('--cloud-poll-ms <ms>', 'how often each remote cloud\'s instances are read (DescribeInstances) and reconciled with their VMs (bursting; `nubo cloud`)', '5000')
    .option('--cloud-backoff-ms <ms>', 'how long a remote cloud that refused a launch (InsufficientInstanceCapacity …) gets no new VMs', '30000')
    .option('--burst-policy <policy>', 'when a VM no local host takes goes to a remote cloud it does not ask for by requirement: when-full (at once) or when-wait-exceeds (once it has waited --burst-max-wait-s for a local host; README: Hybrid cloud)', 'when-full')
    .option('--burst-max-wait-s <s>', 'with --burst-policy when-wait-exceeds: how long a VM waits for a local host before it bursts (default 60)')
    .action(
      runCliAction(async (signal, o: ControllerFlags) => {
        // Everything the controller and its children (qemu-img) write is the owner's only: the database holds the hosts' tokens.
        process.umask(0o077);
        const logger = daemonLogger();
        if (o.leaseMs !== undefined && o.postgres === undefined) throw new UsageError('BAD_FLAG', '--lease-ms is the leadership lease of several controllers, which needs --postgres (SQLite is one controller)');
        const leaseMs = o.leaseMs === undefined ? undefined : positiveFlag(o.leaseMs, '--lease-ms');
        const usagePrices = await pricesFromFlags(o);
        const migrationQueue = queueLimitsFromFlags(o);
        // Loaded here, not at the top: every other `nubo` command starts without the daemons' modules.
        const { ControllerDaemon } = await import('../../controller/controller-daemon.js');
        const ctl = await ControllerDaemon.start({
          dataDir: o.dataDir,
          listen: parseListen(o.listen, '--listen'),
          ...(o.s3Listen !== undefined ? { s3: parseListen(o.s3Listen, '--s3-listen') } : {}),
          ...(o.ec2Listen !== undefined ? { ec2: { listen: parseListen(o.ec2Listen, '--ec2-listen') } } : {}),
          advertiseUrl: o.advertiseUrl,
          heartbeatIntervalMs: Number(o.heartbeatMs),
          imageImportDir: o.imageImportDir === undefined ? undefined : resolve(o.imageImportDir),
          eventRetention: { maxAgeMs: positiveFlag(o.eventMaxAgeDays, '--event-max-age-days') * 24 * 3600_000, maxRows: Math.ceil(positiveFlag(o.eventMaxRows, '--event-max-rows')) },
          ...(o.postgres !== undefined ? { store: { kind: 'postgres' as const, connectionString: o.postgres } } : {}),
          // Tests crash the controller at chosen points (see src/util/failpoints.ts); unset in normal use.
          failpoints: Failpoints.fromSpec(process.env['NUBO_FAILPOINTS']),
          leaseMs,
          usagePrices,
          // The lab's fence method lives with the lab (the controller does not import it); `lab` fence configs name the lab's directory.
          labFence: (await import('../../lab/lab-fence.js')).labFence,
          leases: { policies: o.leasePolicy, rates: o.leaseRate },
          migrationQueue,
          clouds: { pollMs: positiveFlag(o.cloudPollMs ?? '5000', '--cloud-poll-ms'), refusedBackoffMs: positiveFlag(o.cloudBackoffMs ?? '30000', '--cloud-backoff-ms'), policy: burstPolicyOf(o) },
          // Exit at once: no promise of the lost term may run on; restarted, the controller comes back as a follower.
          onLeadershipLost: (reason) => {
            process.stderr.write(`nubo controller: leadership lost (${reason}); exiting\n`);
            process.exit(EXIT.FAILED);
          },
          logger,
        });
        const token = await ctl.bootstrapAdmin();
        if (token !== undefined) process.stderr.write(`created the admin user; its token (shown once): ${token}\n`);
        logger.info({ reason: await untilStopped(signal) }, 'controller stopping');
        await ctl.stop();
        return EXIT.OK;
      }),
    );

  program
    .command('agent')
    .description('run a host agent (QEMU driver, image cache, VM disks) in the foreground')
    .requiredOption('--name <name>', 'this host\'s name, as registered with the controller')
    .option('--listen <host:port>', 'address of the agent API', '127.0.0.1:7481')
    .option('--controller <url[,url...]>', 'the controller(s) to send heartbeats to: with several controllers, all their URLs; beats go to the leader (named in each answer) and move to the next URL when one does not answer')
    .option('--token <token>', 'this host\'s secret (prefer --token-file)')
    .option('--token-file <file>', 'file holding this host\'s secret')
    .option('--data-dir <dir>', 'local datastore (default: $NUBO_HOME/hosts/<name>)')
    .option('--run-dir <dir>', 'QEMU sockets and pid files; short (default: /run/nubo/<name>)')
    .option('--netns <name>', 'network namespace the VMs run in (lab hosts)')
    .option('--heartbeat-ms <ms>', 'heartbeat interval', '5000')
    .option('--shared-dir <dir>', 'the shared datastore: a directory every host sees at this same path (e.g. an NFS mount); VM disks there migrate without being copied')
    .option('--migration-address <ip>', 'address peers reach this host at for incoming migrations (QEMU\'s migration stream, NBD disk copies); default: the --listen host')
    .option('--health-command <command>', 'proactive HA: a health check run with every heartbeat (split at spaces, no shell); a non-zero exit or a timeout reports the host degraded, and the controller moves its VMs away. The file <data-dir>/degraded, when present, reports it degraded too')
    .option('--migration-tls-dir <dir>', 'QEMU x509 credentials for migration (ca-cert.pem, server-/client-cert.pem and -key.pem, the server certificate naming the migration address; `nubo lab up` makes them): migrations in and out of this host then use TLS with peer verification')
    .option('--save-format <format>', 'the state file of a suspend: `ram` (format 2: the guest\'s RAM copied by nubo in parallel, QEMU streams only its device state; a VM it cannot be used for falls back to qemu) or `qemu` (QEMU\'s own whole stream); both are always resumed (docs/suspend.md)', 'ram')
    .option('--ram-copy-threads <n>', 'threads of a format-2 RAM copy, each way (1-16)', '2')
    .action(
      runCliAction(async (signal, o: AgentFlags) => {
        if (o.saveFormat !== 'ram' && o.saveFormat !== 'qemu') throw new UsageError('BAD_FLAG', `--save-format must be ram or qemu, not ${JSON.stringify(o.saveFormat)}`);
        const ramCopyThreads = Number(o.ramCopyThreads ?? '2');
        if (!Number.isInteger(ramCopyThreads) || ramCopyThreads < 1 || ramCopyThreads > 16) throw new UsageError('BAD_FLAG', `--ram-copy-threads must be a whole number from 1 to 16, not ${JSON.stringify(o.ramCopyThreads)}`);
        const token = o.token ?? (o.tokenFile !== undefined ? await readHostSecretFile(o.tokenFile) : undefined);
        if (!token) throw new UsageError('BAD_FLAG', 'the agent needs its host secret: --token-file FILE (or --token)');
        // Tenants' disks, saved memory and config drives (made by QEMU and qemu-img, which inherit it) are the owner's only.
        process.umask(0o077);
        const logger = daemonLogger();
        const { AgentDaemon } = await import('../../agent/agent-daemon.js');
        const agent = await AgentDaemon.start({
          name: o.name,
          dataDir: o.dataDir ?? join(nuboHome(), 'hosts', o.name),
          runDir: o.runDir ?? join('/run/nubo', o.name),
          listen: parseListen(o.listen, '--listen'),
          token,
          // A comma-separated list; checked by the agent before anything starts.
          controllerUrl: o.controller,
          heartbeatIntervalMs: Number(o.heartbeatMs),
          netns: o.netns,
          // Absolute: QEMU gets these paths, and the shared datastore must be the same path on every host.
          sharedDir: o.sharedDir === undefined ? undefined : resolve(o.sharedDir),
          migrationAddress: o.migrationAddress,
          migrationTlsDir: o.migrationTlsDir === undefined ? undefined : resolve(o.migrationTlsDir),
          healthCommand: o.healthCommand?.split(' ').filter((w) => w !== ''),
          saveFormat: o.saveFormat,
          ramCopyThreads,
          // Tests crash the agent at chosen points (see src/util/failpoints.ts); unset in normal use.
          failpoints: Failpoints.fromSpec(process.env['NUBO_FAILPOINTS']),
          logger,
        });
        logger.info({ reason: await untilStopped(signal) }, 'agent stopping (VMs keep running)');
        await agent.stop();
        return EXIT.OK;
      }),
    );
}

/** `--burst-policy` and `--burst-max-wait-s`, checked together. */
function burstPolicyOf(o: ControllerFlags): BurstPolicy {
  const kind = o.burstPolicy ?? 'when-full';
  if (kind === 'when-full') {
    if (o.burstMaxWaitS !== undefined) throw new UsageError('BAD_FLAG', '--burst-max-wait-s goes with --burst-policy when-wait-exceeds');
    return { kind };
  }
  if (kind === 'when-wait-exceeds') return { kind, maxWaitS: positiveFlag(o.burstMaxWaitS ?? '60', '--burst-max-wait-s') };
  throw new UsageError('BAD_FLAG', `--burst-policy must be one of ${BURST_POLICY_KINDS.join(', ')}, not ${JSON.stringify(kind)}`);
}

function positiveFlag(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError('BAD_FLAG', `${flag} must be a positive number, not ${JSON.stringify(text)}`);
  return n;
}
