import { shmemHugePagesWarning } from './shmem-huge-pages.js';
import type { AddressInfo } from 'node:net';
import { readHostHealth } from './read-host-health.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { QemuDriver } from '../hypervisor/qemu/qemu-driver.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ControllerHeartbeat } from './controller-heartbeat.js';
import { AgentService } from './agent-service.js';
import { ImageCache } from './image-cache.js';
import { createAgentServer } from './agent-server.js';
import { VmMetricsSampler } from './vm-metrics-sampler.js';
import { readHostBridges, readHostFacts, readHostUsage } from './host-facts.js';
import type { HostReport } from '../contract/agent-api.js';
import { join } from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ValidationError } from '../errors/validation-error.js';
import { checkMigrationTlsDir } from '../security/migration-pki.js';
import type { Failpoints } from '../util/failpoints.js';
import type { AgentHostOptions } from './agent-host.js';

/** The host's network namespace, shared datastore and migration address/TLS are the AgentHost's own options, passed through (migrationAddress defaults to the listen host). */
export interface AgentDaemonOptions extends Pick<AgentHostOptions, 'netns' | 'sharedDir' | 'migrationAddress' | 'migrationTlsDir'> {
  readonly name: string;
  /** The host's local datastore: image cache and VM disks. */
  readonly dataDir: string;
  /** QEMU runtime files; short (unix socket paths). */
  readonly runDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly token: string;
  /** Where heartbeats go: one controller, or several (each entry may be a comma-separated list); without it the agent only answers. */
  readonly controllerUrl?: string | readonly string[] | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  /** How often the VMs' metrics are sampled (default 5 s). */
  readonly metricsIntervalMs?: number | undefined;
  readonly logger: Logger;
  /** Fault injection for tests (see Failpoints); `nubo agent` arms them from NUBO_FAILPOINTS. */
  readonly failpoints?: Failpoints | undefined;
  /** Proactive HA: an operator's health check run each beat (default: only the flag file `<dataDir>/degraded`). */
  readonly healthCommand?: readonly string[] | undefined;
  /** The state file a suspend writes, and a format-2 copy's threads (QemuDriverOptionsInput). */
  readonly saveFormat?: 'ram' | 'qemu' | undefined;
  readonly ramCopyThreads?: number | undefined;
}

/**
 * One host's agent: the QEMU driver, the VM service, the HTTP API and the
 * heartbeat loop. Started by `nubo agent` and, in-process, by `nubo up`.
 */
export class AgentDaemon {
  private constructor(
    readonly url: string,
    private readonly server: FastifyInstance,
    private readonly driver: QemuDriver,
    private readonly timer: NodeJS.Timeout | undefined,
    private readonly sampler: VmMetricsSampler,
  ) {}

  static async start(o: AgentDaemonOptions): Promise<AgentDaemon> {
    // Tenants' disks live here: the owner only, whatever the umask.
    await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
    const logger = o.logger.child({ host: o.name });
    const migration = await checkMigrationOptions(o, logger);
    // Checked before anything starts: a mistyped controller URL stops the agent now.
    const heartbeat = o.controllerUrl === undefined ? undefined : new ControllerHeartbeat({ urls: typeof o.controllerUrl === 'string' ? [o.controllerUrl] : o.controllerUrl, token: o.token, logger });
    const thp = await shmemHugePagesWarning();
    if (thp !== undefined) logger.warn(thp);
    const driver = await QemuDriver.create({ runDir: o.runDir, allowedDirs: o.sharedDir === undefined ? [o.dataDir] : [o.dataDir, o.sharedDir], logger, failpoints: o.failpoints, saveFormat: o.saveFormat, ramCopyThreads: o.ramCopyThreads });
    const service = new AgentService({
      dataDir: o.dataDir,
      hypervisor: driver,
      images: new ImageCache(join(o.dataDir, 'images'), o.token),
      logger,
      netns: o.netns,
      sharedDir: o.sharedDir,
      // Overlays in the shared datastore need their base there too, at the one path every host sees.
      sharedImages: o.sharedDir === undefined ? undefined : new ImageCache(join(o.sharedDir, 'images'), o.token),
      migrationAddress: migration.address,
      migrationTlsDir: o.migrationTlsDir,
    });
    const adopted = await service.recover();
    if (adopted.length > 0) logger.info({ vms: adopted.map((v) => `${v.id}:${v.state}`) }, 'adopted running VMs');
    const facts = await readHostFacts('qemu-system-x86_64');
    const hostReport = async (): Promise<HostReport> => {
      // Stamped before sampling: the controller ignores a report older than a VM's last change, so the stamp must not postdate the samples.
      const at = new Date().toISOString();
      const usage = await readHostUsage(o.dataDir, facts.totalCpus);
      return {
        name: o.name,
        cpuModel: facts.cpuModel,
        cpuModels: [...facts.cpuModels],
        cpuFlags: [...facts.cpuFlags],
        kvm: driver.kvm,
        totalCpus: facts.totalCpus,
        totalMemoryMiB: facts.totalMemoryMiB,
        totalDiskMiB: usage.totalDiskMiB,
        usage: { load: usage.load, usedMemoryMiB: usage.usedMemoryMiB, usedDiskMiB: usage.usedDiskMiB },
        // The firewalls are reconciled with the VMs each beat, and the report says which revision each holds.
        vms: await service.host.firewalls.reconcile(await service.lifecycle.list()),
        bridges: await readHostBridges(o.netns).catch(() => []),
        migration,
        health: { degraded: await readHostHealth({ file: join(o.dataDir, 'degraded'), command: o.healthCommand }) },
        at,
      };
    };
    const sampler = new VmMetricsSampler({ hypervisor: driver, intervalMs: o.metricsIntervalMs, logger });
    const server = createAgentServer({ service, token: o.token, hostReport, metrics: () => sampler.snapshot(), logger });
    await server.listen({ host: o.listen.host, port: o.listen.port });
    const port = (server.server.address() as AddressInfo).port;
    const url = `http://${o.listen.host}:${port}`;
    let timer: NodeJS.Timeout | undefined;
    if (heartbeat !== undefined) {
      const beat = async (): Promise<void> => {
        try {
          await heartbeat.beat(await hostReport());
        } catch (err) {
          logger.warn({ err: errorMessage(err) }, 'heartbeat: the host report could not be read');
        }
      };
      void beat();
      timer = setInterval(() => void beat(), o.heartbeatIntervalMs ?? 5_000);
    }
    sampler.start();
    logger.info({ url }, 'agent listening');
    return new AgentDaemon(url, server, driver, timer, sampler);
  }

  /** Stops answering and beating; the VMs keep running and are adopted by the next agent. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sampler.stop();
    await this.server.close();
    await this.driver.close();
  }
}

/**
 * The migration settings, checked at start so that a wrong flag stops the
 * agent now rather than failing the first migration to or from this host.
 */
async function checkMigrationOptions(o: AgentDaemonOptions, logger: Logger): Promise<NonNullable<HostReport['migration']>> {
  if (o.migrationAddress !== undefined && isIP(o.migrationAddress) === 0) {
    throw new ValidationError('agent options', [{ field: 'migrationAddress', message: `must be an IP address (got ${o.migrationAddress})` }]);
  }
  const address = o.migrationAddress ?? o.listen.host;
  // The listen host may be a name or a wildcard: fine for answering the controller, but not an address a peer can migrate to.
  if (isIP(address) === 0 || address === '0.0.0.0' || address === '::') logger.warn({ address }, 'the listen host is no address peers can migrate to; set --migration-address');
  if (o.sharedDir !== undefined && !(await stat(o.sharedDir).then((s) => s.isDirectory(), () => false))) {
    // Not made here: a missing NFS mount point must not become an empty local directory that only this host sees.
    throw new ValidationError('agent options', [{ field: 'sharedDir', message: `${o.sharedDir} is not a directory` }]);
  }
  if (o.migrationTlsDir !== undefined) await checkMigrationTlsDir(o.migrationTlsDir, { address });
  return { address, tls: o.migrationTlsDir !== undefined, sharedDatastore: o.sharedDir !== undefined };
}
