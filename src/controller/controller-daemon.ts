import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openStore, type Store, type StoreConfig } from '../store/open-store.js';
import { compilePlacementPolicy, type PlacementPolicyInput } from '../core/placement/placement-policy.js';
import { AgentClient } from '../client/agent-client.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { Catalog } from './catalog.js';
import { ImageStore } from './image-store.js';
import { VmOrchestrator } from './vm-orchestrator.js';
import type { VmPhaseTable } from './vm-phase-table.js';
import { HostMonitor } from './host-monitor.js';
import { LiveMigrator } from './live-migrator.js';
import { ColdMigrator } from './cold-migrator.js';
import { MigrationService } from './migration-service.js';
import { snapshotCountOf } from './vm-snapshots.js';
import { SystemStore } from './system-store.js';
import { VmStopper } from './vm-stopper.js';
import type { Failpoints } from '../util/failpoints.js';
import { Views } from './api/views.js';
import { createControllerServer } from './controller-server.js';
import { EventAudience } from './event-audience.js';
import { DEFAULT_EVENT_RETENTION, EventPruner, type EventRetention } from './event-pruner.js';

export interface ControllerDaemonOptions {
  readonly dataDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** The URL agents use to reach the controller (image downloads); defaults to the listen address. */
  readonly advertiseUrl?: string | undefined;
  /** Defaults to SQLite in dataDir. */
  readonly store?: StoreConfig | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  /** How long a guest has to shut down by itself on `reboot` before it is reset instead (default 60 s). */
  readonly rebootGraceS?: number | undefined;
  readonly placement?: PlacementPolicyInput | undefined;
  /** The only directory whose files an admin may register as images or import as templates by path (realpath'd); undefined: uploads only. */
  readonly imageImportDir?: string | undefined;
  /** How long and how many events are kept (default 7 days, 100,000 rows, pruned every 10 minutes and at start). */
  readonly eventRetention?: Partial<EventRetention> | undefined;
  /** Fault injection for tests (see Failpoints); `nubo controller` arms them from NUBO_FAILPOINTS. */
  readonly failpoints?: Failpoints | undefined;
  readonly logger: Logger;
}

/**
 * The controller process: state store, image store, orchestrator, host
 * monitor and the HTTP API. On start it resumes every operation that was in
 * flight when it last stopped.
 */
export class ControllerDaemon {
  private constructor(
    readonly url: string,
    readonly store: Store,
    readonly orchestrator: VmOrchestrator,
    private readonly monitor: HostMonitor,
    private readonly server: FastifyInstance,
    private readonly pruner: EventPruner,
  ) {}

  static async start(o: ControllerDaemonOptions): Promise<ControllerDaemon> {
    // The state (database, image store, stopped VMs' files) is the owner's only, whatever the umask.
    await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
    const store = await openStore(o.store ?? { kind: 'sqlite', path: join(o.dataDir, 'nubo.db') });
    try {
      const logger = o.logger;
      const agents = new Map<string, AgentClient>();
      const agentFor = (h: Host): AgentClient => {
        const key = `${h.agentUrl} ${h.agentToken}`;
        let c = agents.get(key);
        if (!c) agents.set(key, (c = new AgentClient(h.agentUrl, h.agentToken)));
        return c;
      };
      const policy = compilePlacementPolicy(o.placement ?? {});
      let advertise = o.advertiseUrl;
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
      const orchestrator = new VmOrchestrator({ store, agentFor, policy, logger, phases, rebootGraceS: o.rebootGraceS, failpoints: o.failpoints });
      const migrations = new MigrationService({ store, orchestrator, migrator, coldMigrator, policy, logger, snapshotCount: (vm) => snapshotCountOf(store, agentFor, vm) });
      const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 5_000;
      const monitor = new HostMonitor({ store, orchestrator, logger, heartbeatIntervalMs, agentFor });
      const images = new ImageStore(join(o.dataDir, 'images'), store, o.imageImportDir);
      const catalog = new Catalog(store, (img) => `${advertise}/api/v1/images/${img.id}/data`);
      const server = await createControllerServer({ store, catalog, images, orchestrator, migrations, monitor, views: new Views(store), audience: new EventAudience(store, catalog), agentFor, logger, systemOffers: system.offers });
      await server.listen({ host: o.listen.host, port: o.listen.port });
      const url = `http://${o.listen.host}:${(server.server.address() as AddressInfo).port}`;
      advertise ??= url;
      await migrator.sweepUnstarted();
      await coldMigrator.sweepUnstarted();
      await orchestrator.resumeAll();
      monitor.start();
      const pruner = new EventPruner(store, { ...DEFAULT_EVENT_RETENTION, ...o.eventRetention }, logger);
      await pruner.pruneNow();
      pruner.start();
      logger.info({ url }, 'controller listening');
      return new ControllerDaemon(url, store, orchestrator, monitor, server, pruner);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Creates the first admin when there is no user yet; returns its token (shown once), else undefined. */
  async bootstrapAdmin(name = 'admin'): Promise<string | undefined> {
    if ((await this.store.users.list()).length > 0) return undefined;
    return (await this.store.users.create({ name, role: 'admin' })).token;
  }

  /** Stops the API and the background work; VMs keep running on their hosts. */
  async stop(): Promise<void> {
    this.monitor.stop();
    this.pruner.stop();
    await this.server.close();
    await this.orchestrator.close();
    await this.store.close();
  }
}
