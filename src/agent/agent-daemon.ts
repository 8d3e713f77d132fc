import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { QemuDriver } from '../hypervisor/qemu/qemu-driver.js';
import { jsonRequest } from '../client/json-request.js';
import { errorMessage } from '../errors/nubo-error.js';
import { AgentService } from './agent-service.js';
import { ImageCache } from './image-cache.js';
import { createAgentServer } from './agent-server.js';
import { readHostFacts, readHostUsage } from './host-facts.js';
import type { HostReport } from './agent-api.js';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';

export interface AgentDaemonOptions {
  readonly name: string;
  /** The host's local datastore: image cache and VM disks. */
  readonly dataDir: string;
  /** QEMU runtime files; short (unix socket paths). */
  readonly runDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly token: string;
  /** Where heartbeats go; without it the agent only answers. */
  readonly controllerUrl?: string | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  readonly netns?: string | undefined;
  readonly logger: Logger;
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
  ) {}

  static async start(o: AgentDaemonOptions): Promise<AgentDaemon> {
    await mkdir(o.dataDir, { recursive: true });
    const logger = o.logger.child({ host: o.name });
    const driver = await QemuDriver.create({ runDir: o.runDir, allowedDirs: [o.dataDir], logger });
    const service = new AgentService({ dataDir: o.dataDir, hypervisor: driver, images: new ImageCache(join(o.dataDir, 'images'), o.token), logger, netns: o.netns });
    const adopted = await service.adopt();
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
        kvm: driver.capabilities.kvm,
        totalCpus: facts.totalCpus,
        totalMemoryMiB: facts.totalMemoryMiB,
        totalDiskMiB: usage.totalDiskMiB,
        usage: { load: usage.load, usedMemoryMiB: usage.usedMemoryMiB, usedDiskMiB: usage.usedDiskMiB },
        vms: await service.list(),
        at,
      };
    };
    const server = createAgentServer({ service, token: o.token, hostReport, logger });
    await server.listen({ host: o.listen.host, port: o.listen.port });
    const port = (server.server.address() as AddressInfo).port;
    const url = `http://${o.listen.host}:${port}`;
    let timer: NodeJS.Timeout | undefined;
    if (o.controllerUrl !== undefined) {
      const beat = async (): Promise<void> => {
        try {
          await jsonRequest({ method: 'POST', url: `${o.controllerUrl}/internal/v1/heartbeat`, token: o.token, body: await hostReport(), timeoutMs: 10_000 });
        } catch (err) {
          logger.warn({ err: errorMessage(err) }, 'heartbeat failed');
        }
      };
      void beat();
      timer = setInterval(() => void beat(), o.heartbeatIntervalMs ?? 5_000);
    }
    logger.info({ url }, 'agent listening');
    return new AgentDaemon(url, server, driver, timer);
  }

  /** Stops answering and beating; the VMs keep running and are adopted by the next agent. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.server.close();
    await this.driver.close();
  }
}
