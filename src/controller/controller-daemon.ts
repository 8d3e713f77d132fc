import type { BurstPolicy } from '../core/placement/burst-timing.js';
import { controllerSessionSettings } from '../store/controller-session-settings.js';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openLeaseDb, openStore, type Store, type StoreConfig } from '../store/open-store.js';
import { compilePlacementPolicy, type PlacementPolicyInput } from '../core/placement/placement-policy.js';
import { AgentClient } from '../client/agent-client.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { Catalog } from './catalog.js';
import { ImageStore } from './image-store.js';
import { VmOrchestrator } from './vm-orchestrator.js';
import type { VmPhaseTable } from './vm-phase-table.js';
import { HaService } from './ha-service.js';
import { enqueueMigration } from './migration-queue.js';
import type { LabFence } from './ha-fencer.js';
import type { HaTiming } from '../core/ha/ha-step.js';
import { HostMonitor } from './host-monitor.js';
import { LiveMigrator } from './live-migrator.js';
import { ColdMigrator } from './cold-migrator.js';
import { MigrationService } from './migration-service.js';
import { controllerPlanning, type ControllerPlanning } from './controller-planning.js';
import { drsMigrationStarter } from './migration-queue.js';
import type { MigrationQueueLimits } from '../core/migration/migration-queue-plan.js';
import { snapshotCountOf } from './vm-snapshots.js';
import { SystemStore } from './system-store.js';
import { VmStopper } from './vm-stopper.js';
import type { Failpoints } from '../util/failpoints.js';
import { Views } from './api/views.js';
import { createControllerServer } from './controller-server.js';
import { EventAudience } from './event-audience.js';
import { DEFAULT_EVENT_RETENTION, EventPruner, type EventRetention } from './event-pruner.js';
import { LeadershipRepository } from '../store/repositories/leadership-repository.js';
import { Leadership } from './leadership.js';
import { leaderForwarder } from './leader-forwarder.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { UsagePrices } from '../core/usage/usage-prices.js';
import { MetricsHistory } from './metrics-history.js';
import { MetricsCollector } from './metrics-collector.js';
import { ControllerMetrics } from './controller-metrics.js';
import { compileLeasePolicies, type LeasePolicyNames } from '../core/leases/lease-policies.js';
import { compileLeaseRates, type LeaseRates } from '../core/leases/lease-rates.js';
import type { LeaseLimits } from './leases/lease-limits.js';
import { LeaseService } from './leases/lease-service.js';
import { OrchestratorLeaseActions } from './leases/orchestrator-lease-actions.js';
import { bindCheckFor } from './bind-check.js';
import { DrsService } from './drs-service.js';
import { AutoscaleService } from './autoscale-service.js';
import { AccessKeyCipher } from './access-key-cipher.js';
import { AccessKeys } from './access-keys.js';
import { NUBO_REGION, S3Listener, type S3ListenerOptions } from '../s3/s3-listener.js';
import { S3BlobStore } from '../s3/s3-blob-store.js';
import { ImageObjects } from './image-objects.js';
import { moveImageFiles } from './move-image-files.js';
import { InProcessCaller } from './api/in-process-caller.js';
import { startEc2Endpoint, type Ec2Endpoint, type Ec2EndpointOptions } from '../ec2/ec2-endpoint.js';
import type { Ec2Authenticator } from '../ec2/ec2-authenticator.js';
import { SigV4Authenticator } from '../ec2/sigv4-authenticator.js';
import { VmFirewallService } from './vm-firewall-service.js';
import { CloudBursting } from './cloud-bursting.js';
import { CloudMigrator } from './cloud-migrator.js';
import { isCloudMigrationInFlight } from '../store/repositories/cloud-migrations-repository.js';

export interface ControllerDaemonOptions {
  readonly dataDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** The URL agents use to reach the controller (image downloads); defaults to the listen address. */
  readonly advertiseUrl?: string | undefined;
  /** Defaults to SQLite in dataDir. */
  readonly store?: StoreConfig | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  /** How often the agents' metrics are pulled (default 5 s), and how many samples of each VM and host are kept (default 60). */
  readonly metrics?: { readonly intervalMs?: number | undefined; readonly samples?: number | undefined } | undefined;
  /** How long a guest has to shut down by itself on `reboot` before it is reset instead (default 60 s). */
  readonly rebootGraceS?: number | undefined;
  readonly placement?: PlacementPolicyInput | undefined;
  /** The only directory whose files an admin may register as images or import as templates by path (realpath'd); undefined: uploads only. */
  readonly imageImportDir?: string | undefined;
  /** How long and how many events are kept (default 7 days, 100,000 rows, pruned every 10 minutes and at start). */
  readonly eventRetention?: Partial<EventRetention> | undefined;
  /** Fault injection for tests (see Failpoints); `nubo controller` arms them from NUBO_FAILPOINTS. */
  readonly failpoints?: Failpoints | undefined;
  /** PostgreSQL only: how long the leadership lease lasts unrenewed (default 10 s; renewed every third of it). */
  readonly leaseMs?: number | undefined;
  /**
   * PostgreSQL only: what to do when this controller loses the leadership
   * lease. `nubo controller` exits (nothing of the old term can go on); the
   * default stops orchestrating and keeps serving reads.
   */
  readonly onLeadershipLost?: ((reason: string) => void) | undefined;
  /** The showback's prices (core/usage/usage-prices.ts); default: every figure costs 0. */
  readonly usagePrices?: UsagePrices | undefined;
  /** The lab's fence method (src/lab/lab-fence.ts), for hosts whose fence config is `lab`; the composition root hands it in. */
  readonly labFence?: LabFence | undefined;
  /** HA timing: how long a silent host is suspected before it is fenced, how soon a failed fence is retried (default: one heartbeat; 5 s). */
  readonly haTiming?: Partial<HaTiming> | undefined;
  /** Capacity leases: policies by name, enactment rates, limits (docs/leases.md); how often due steps begin (default 1 s). */
  readonly leases?: {
    readonly policies?: LeasePolicyNames | undefined;
    readonly rates?: Partial<Record<keyof LeaseRates, unknown>> | undefined;
    readonly limits?: Partial<LeaseLimits> | undefined;
    readonly tickMs?: number | undefined;
  } | undefined;
  /** The migration queue's per-host limits (default: 2 at once, 2048 MiB/s). */
  readonly migrationQueue?: Partial<MigrationQueueLimits> | undefined;
  /** How often autoscaling groups are evaluated (default 15 s) and the periodic rebalancer checks whether a round is due (default 5 s). */
  readonly autoscale?: { readonly intervalMs?: number | undefined; readonly cpuWindowMs?: number | undefined } | undefined;
  readonly drsTickMs?: number | undefined;
  /** The S3-compatible listener (SigV4 with users' access keys; objects under dataDir/s3); undefined: none. */
  readonly s3?: S3ListenerOptions | undefined;
  /** The EC2 Query API's listener (src/ec2/): where, who signed, the instance types; none: not served. */
  readonly ec2?: (Pick<Ec2EndpointOptions, 'listen' | 'instanceTypes'> & { readonly authenticator?: Ec2Authenticator | undefined }) | undefined;
  /**
   * Remote clouds (bursting): how often their instances are polled (default 5 s), how long a cloud that refused a launch is left
   * alone (default 30 s), when a VM no local host takes may go to one (`policy`, default `when-full`: at once).
   */
  readonly clouds?: { readonly pollMs?: number | undefined; readonly refusedBackoffMs?: number | undefined; readonly requestTimeoutMs?: number | undefined; readonly stateTimeoutMs?: number | undefined; readonly policy?: BurstPolicy | undefined } | undefined;
  readonly logger: Logger;
}

/** Default lease of the leader of several controllers: a failover takes about this long. */
export const DEFAULT_LEASE_MS = 10_000;

/**
 * The controller process: state store, image store, orchestrator, host
 * monitor and the HTTP API. On start it resumes every operation that was in
 * flight when it last stopped. On PostgreSQL several may run: only the holder
 * of the leadership lease orchestrates (docs/several-controllers.md); the
 * others serve reads and forward the rest to it, and campaign for the lease.
 */
export class ControllerDaemon {
  readonly #campaign = new AbortController();
  #leading: Promise<void> | undefined;
  /** The move of an older data directory's image files into objects, while it runs (move-image-files.ts). */
  moving: Promise<void> | undefined;
  /** Aborted when this controller stops orchestrating. */
  get campaignSignal(): AbortSignal {
    return this.#campaign.signal;
  }

  private constructor(
    readonly url: string,
    readonly store: Store,
    readonly orchestrator: VmOrchestrator,
    private readonly monitor: HostMonitor,
    private readonly server: FastifyInstance,
    private readonly pruner: EventPruner,
    /** Undefined on SQLite: one controller, always the leader. */
    readonly leadership: Leadership | undefined,
    private readonly collector: MetricsCollector,
    readonly ha: HaService,
    readonly leases: LeaseService,
    /** The migration queue's dispatcher and the maintenance evacuations (the leader's background work). */
    private readonly planning: ControllerPlanning,
    readonly drs: DrsService,
    readonly autoscale: AutoscaleService,
    /** Users' SigV4 access keys (the EC2 and S3 listeners verify with its lookup). */
    readonly accessKeys: AccessKeys,
    /** The S3 listener, when configured. */
    readonly s3: S3Listener | undefined,
    /** The EC2 Query API, when served. */
    readonly ec2: Ec2Endpoint | undefined,
    /** Remote clouds VMs burst to. */
    readonly clouds: CloudBursting,
    /** VMs moved between local hosts and remote clouds. */
    readonly cloudMigrator: CloudMigrator,
  ) {}

  static async start(o: ControllerDaemonOptions): Promise<ControllerDaemon> {
    // The state (database, image store, stopped VMs' files) is the owner's only, whatever the umask.
    await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
    const config = o.store ?? { kind: 'sqlite', path: join(o.dataDir, 'nubo.db') };
    const id = randomUUID();
    if (config.kind === 'postgres') {
      // Migrations first, in sessions the fence does not know: a follower may bring the schema up to date.
      await (await openStore(config)).close();
    }
    // Named for the fence trigger, and ended by PostgreSQL if stopped inside a transaction (controller-session-settings.ts).
    const leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
    const store = await openStore(config.kind === 'postgres' ? { ...config, pool: { ...config.pool, ...controllerSessionSettings(id, leaseMs) } } : config);
    let leadership: Leadership | undefined;
    try {
      const logger = o.logger;
      let daemon: ControllerDaemon | undefined = undefined;
      let advertise = o.advertiseUrl;
      const lease = config.kind === 'postgres'
        ? new Leadership({
          repo: new LeadershipRepository(openLeaseDb({ ...config, pool: { ...config.pool, ...controllerSessionSettings(id, leaseMs) } }), true), id, url: () => advertise ?? '', leaseMs, logger,
          onLost: (reason) => (o.onLeadershipLost ? o.onLeadershipLost(reason) : void daemon?.stopOrchestrating()),
        })
        : undefined;
      leadership = lease;
      const agents = new Map<string, AgentClient>();
      const agentFor = (h: Host): AgentClient => {
        const key = `${h.agentUrl} ${h.agentToken}`;
        let c = agents.get(key);
        if (!c) agents.set(key, (c = new AgentClient(h.agentUrl, h.agentToken, lease ? () => lease.check() : undefined)));
        return c;
      };
      const policy = compilePlacementPolicy(o.placement ?? {});
      const system = new SystemStore(join(o.dataDir, 'system'));
      const stopper = new VmStopper({ store, system, agentFor, logger, controllerUrl: () => advertise ?? '', failpoints: o.failpoints });
      const migrator = new LiveMigrator({ store, agentFor, logger, failpoints: o.failpoints });
      const coldMigrator = new ColdMigrator({ store, agentFor, logger });
      const phases: VmPhaseTable = {
        'epilog-stop': (vm, host, signal) => stopper.moveOff(vm, host, signal),
        'prolog-resume': (vm, host, signal) => stopper.bringBack(vm, host, signal),
        migrate: (vm, _host, signal) => coldMigrator.drive(vm, signal),
        'migrate-live': (vm, _host, signal) => migrator.drive(vm, signal),
        forget: (vmId) => stopper.forget(vmId),
      };
      // One cipher for access keys' and remote clouds' secrets: one key file to keep apart from the database.
      const cipher = await AccessKeyCipher.load(join(o.dataDir, 'access-keys.key'));
      // A cloud reachable again, or a refusal waited out: the VMs waiting for room are tried again (the orchestrator is made next).
      const wake: { pending?: () => void } = {};
      const clouds = new CloudBursting({ store, cipher, logger, failpoints: o.failpoints, ...o.clouds, onRoom: () => wake.pending?.() });
      const orchestrator = new VmOrchestrator({
        store, agentFor, policy, logger, phases, rebootGraceS: o.rebootGraceS, failpoints: o.failpoints, clouds,
        migratingBetweenClouds: async (vmId) => isCloudMigrationInFlight(await store.cloudMigrations.get(vmId)),
      });
      wake.pending = () => void orchestrator.schedulePending().catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'waking pending VMs failed'));
      const migrations = new MigrationService({ store, orchestrator, migrator, coldMigrator, policy, logger, snapshotCount: (vm) => snapshotCountOf(store, agentFor, vm) });
      const planning = controllerPlanning({ store, agentFor, service: migrations, schedulePending: () => orchestrator.schedulePending(), logger, failpoints: o.failpoints, limits: o.migrationQueue });
      const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 5_000;
      const ha = new HaService({
        store, agentFor, policy, logger, labFence: o.labFence, failpoints: o.failpoints, tickMs: heartbeatIntervalMs, timing: o.haTiming,
        // Through the queue like maintenance, so a degraded host's VMs leave within the per-host limits; the entry is the move's journal.
        evacuate: (vmId, hostId) => enqueueMigration(planning.queue, vmId, { origin: `degraded:${hostId}`, priority: 50 }),
        schedulePending: () => orchestrator.schedulePending(),
        waitingMoves: async () => (await store.migrationQueue.list({ state: 'queued' })).map((q) => q.vmId),
      });
      const firewalls = new VmFirewallService({ store, agentFor, logger, failpoints: o.failpoints });
      const monitor = new HostMonitor({ store, orchestrator, logger, heartbeatIntervalMs, agentFor, admitHeartbeat: (h, r) => ha.admitHeartbeat(h, r), keepCopy: (vmId, hostId) => ha.restartsOnto(vmId, hostId), afterHeartbeat: (h, r, bound) => firewalls.afterHeartbeat(h, r, bound), carriedOut: (vmId) => orchestrator.drives(vmId), failpoints: o.failpoints });
      // One store: every image's bytes are an object of the system bucket, whether or not the S3 listener serves it
      // (without it the image data route serves the same blobs itself). See image-objects.ts.
      const blobs = new S3BlobStore(join(o.dataDir, 's3'));
      await blobs.init();
      const s3At: { url?: string | undefined } = {};
      const imageObjects = new ImageObjects({ store, blobs, logger, failpoints: o.failpoints, s3Url: () => s3At.url, region: NUBO_REGION });
      const images = new ImageStore(join(o.dataDir, 'images'), store, imageObjects, o.imageImportDir);
      // Before anything serves, what a crash left goes: temporary directories of uploads, captures and imports
      // cut mid-way, and blobs (S3 objects' and images') written but never given a row.
      const tempSwept = await images.sweepTemp();
      const blobsSwept = await blobs.sweep(await store.s3.referencedBlobs());
      if (tempSwept + blobsSwept > 0) logger.info({ tempDirs: tempSwept, blobs: blobsSwept }, 'removed what an interrupted upload, capture or S3 write left');
      const catalog = new Catalog(store, (img) => `${advertise}/api/v1/images/${img.id}/data`);
      const cloudMigrator = new CloudMigrator({ store, clouds, images, catalog, agentFor, logger, failpoints: o.failpoints, kick: (vmId) => orchestrator.kick(vmId), stateTimeoutMs: o.clouds?.stateTimeoutMs });
      const history = new MetricsHistory(o.metrics?.samples);
      const collector = new MetricsCollector({ store, agentFor, history, logger, intervalMs: o.metrics?.intervalMs });
      const accessKeys = new AccessKeys(store, cipher);
      const drs = new DrsService({ store, history, startMigration: drsMigrationStarter(planning.queue), cpuOvercommit: policy.cpuOvercommit, logger, failpoints: o.failpoints, tickMs: o.drsTickMs });
      const autoscale = new AutoscaleService({ store, catalog, orchestrator, history, logger, intervalMs: o.autoscale?.intervalMs, cpuWindowMs: o.autoscale?.cpuWindowMs, failpoints: o.failpoints });
      const prometheus = new ControllerMetrics({ store, history, operationsInFlight: () => orchestrator.inFlight });
      // Compiled before anything starts: a bad policy name or rate stops the controller with the field named.
      const leases = new LeaseService({
        store, logger, failpoints: o.failpoints, policies: compileLeasePolicies(o.leases?.policies), rates: compileLeaseRates(o.leases?.rates), limits: o.leases?.limits, tickMs: o.leases?.tickMs, cpuOvercommit: policy.cpuOvercommit,
        actions: new OrchestratorLeaseActions({ store, catalog, orchestrator, migrations, bindCheck: bindCheckFor(policy), logger }),
      });
      const inProcess = new InProcessCaller(store);
      const server = await createControllerServer({ store, catalog, images, orchestrator, migrations, queue: planning.queue, maintenance: planning.maintenance, monitor, views: new Views(store), audience: new EventAudience(store, catalog), agentFor, logger, systemOffers: system.offers, usagePrices: o.usagePrices, leases, drs, scalingGroups: autoscale, accessKeys, inProcess, imageObjects, bindCheck: bindCheckFor(policy), placementPolicy: policy, clouds, cloudMigrator, failpoints: o.failpoints }, lease ? leaderForwarder(lease, id, logger) : undefined, { history, intervalMs: collector.intervalMs, prometheus });
      inProcess.attach(server);
      await server.listen({ host: o.listen.host, port: o.listen.port });
      const ec2 = o.ec2 ? await startEc2Endpoint({ ...o.ec2, authenticator: o.ec2.authenticator ?? new SigV4Authenticator(accessKeys.lookupSecret), store, api: inProcess, vmFirewalls: firewalls, failpoints: o.failpoints, logger }) : undefined;
      const url = `http://${o.listen.host}:${(server.server.address() as AddressInfo).port}`;
      advertise ??= url;
      const s3 = o.s3 ? await S3Listener.start({ ...o.s3, blobs, store, lookupSecret: async (id) => imageObjects.lookupSecret(id) ?? accessKeys.lookupSecret(id), logger: logger.child({ part: 's3' }), failpoints: o.failpoints }) : undefined;
      s3At.url = s3?.url;
      if (s3) logger.info({ url: s3.url }, 's3 listening');
      const pruner = new EventPruner(store, { ...DEFAULT_EVENT_RETENTION, ...o.eventRetention }, logger);
      // What only the leader does: finish what was in flight, then watch hosts and prune events.
      const lead = async (): Promise<void> => {
        await imageObjects.sweep();
        await migrator.sweepUnstarted();
        await coldMigrator.sweepUnstarted();
        await orchestrator.resumeAll();
        clouds.start();
        await cloudMigrator.resumeAll();
        await leases.start();
        planning.start();
        monitor.start();
        ha.start();
        await pruner.pruneNow();
        pruner.start();
        await drs.start();
        autoscale.start();
        // Images of a data directory from before the object store become objects, in the background (a copy-free move).
        const d = daemon;
        if (d) {
          d.moving = moveImageFiles({ imagesDir: images.dir, store, blobs, logger, failpoints: o.failpoints }, d.campaignSignal)
            .then((n) => { if (n > 0) logger.info({ moved: n }, 'image files moved into the system bucket'); })
            .catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'moving image files into the system bucket stopped; the next start goes on'));
        }
      };
      daemon = new ControllerDaemon(url, store, orchestrator, monitor, server, pruner, lease, collector, ha, leases, planning, drs, autoscale, accessKeys, s3, ec2, clouds, cloudMigrator);
      // Every controller, leader or not, keeps its own history for the reads it serves.
      collector.start();
      if (!lease || (await lease.tryAcquire())) {
        await lead();
      } else {
        logger.info({ url }, 'controller is a follower: serving reads, forwarding writes to the leader');
        daemon.#leading = lease.campaign(daemon.#campaign.signal).then(async (won) => {
          if (won) await lead();
        }).catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'taking over as leader failed'));
      }
      logger.info({ url }, 'controller listening');
      return daemon;
    } catch (err) {
      await leadership?.release();
      await store.close();
      throw err;
    }
  }

  /** Creates the first admin when there is no user yet; returns its token (shown once), else undefined. */
  async bootstrapAdmin(name = 'admin'): Promise<string | undefined> {
    // A follower writes nothing (its writes would be fenced): the leader made the first admin.
    if (this.leadership && !this.leadership.isLeader()) return undefined;
    if ((await this.store.users.list()).length > 0) return undefined;
    return (await this.store.users.create({ name, role: 'admin' })).token;
  }

  /** Stops the background work (a lost leadership): the API keeps serving reads and forwarding writes to the new leader. */
  async stopOrchestrating(): Promise<void> {
    this.#campaign.abort();
    this.monitor.stop();
    await this.ha.stop();
    this.pruner.stop();
    await this.leases.stop();
    await this.planning.stop();
    await this.autoscale.stop();
    await this.drs.stop();
    // The orchestrator first: its cloud steps in flight end (aborted) before the cloud clients go.
    await this.orchestrator.close();
    await this.cloudMigrator.stop();
    await this.clouds.stop();
  }

  /** Stops the API and the background work, and hands the leadership on at once; VMs keep running on their hosts. */
  async stop(): Promise<void> {
    this.#campaign.abort();
    await this.#leading;
    await this.moving;
    await this.collector.stop();
    this.monitor.stop();
    await this.ha.stop();
    this.pruner.stop();
    await this.planning.stop();
    await this.autoscale.stop();
    await this.drs.stop();
    await this.ec2?.close();
    await this.server.close();
    await this.leases.stop();
    await this.s3?.stop();
    // The orchestrator first: its cloud steps in flight end (aborted) before the cloud clients go.
    await this.orchestrator.close();
    await this.cloudMigrator.stop();
    await this.clouds.stop();
    await this.leadership?.release();
    await this.store.close();
  }
}
