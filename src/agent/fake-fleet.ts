import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HostReport } from '../contract/agent-api.js';
import { ValidationError } from '../errors/validation-error.js';
import { FakeDriver } from '../hypervisor/fake/fake-driver.js';
import { AgentService } from './agent-service.js';
import { createAgentServer } from './agent-server.js';
import { ControllerHeartbeat } from './controller-heartbeat.js';
import { ImageCache } from './image-cache.js';
import { FleetBeater } from './fleet-beater.js';

export interface FakeFleetOptions {
  /** How many hosts; each is a real agent HTTP server on its own loopback port. */
  readonly hosts: number;
  /** Every host's datastore is a directory under here, and all share one image cache (`images/`). */
  readonly rootDir: string;
  /** What each host claims to have: the fake places no real guest, so the fleet can be as large as the test needs. */
  readonly capacity: { readonly cpus: number; readonly memoryMiB: number; readonly diskMiB: number };
  readonly logger: Logger;
  /** Host names are `${namePrefix}${index}`; default `f`. */
  readonly namePrefix?: string | undefined;
  /** The first host's index (default 1): a fleet split over processes numbers its hosts on (fake-fleet-processes.ts). */
  readonly firstIndex?: number | undefined;
  /** Heartbeats go here when beating (`startBeating`). */
  readonly controllerUrl?: string | undefined;
  readonly heartbeatIntervalMs?: number | undefined;
  /** How long one heartbeat may take before it counts as missed (default 10 s, as a real agent's). */
  readonly heartbeatTimeoutMs?: number | undefined;
  /** Agent servers started side by side (default 32). */
  readonly startConcurrency?: number | undefined;
  /**
   * Disks made as a real agent makes them (a qcow2 overlay on the cached image, by qemu-img) instead of empty files:
   * for tests where a disk's bytes must travel (captures, exports between clouds). Default false: no process per prolog.
   */
  readonly realDisks?: boolean | undefined;
}

/** One simulated host of the fleet. */
export interface FakeFleetHost {
  readonly name: string;
  readonly url: string;
  readonly token: string;
  readonly driver: FakeDriver;
  readonly service: AgentService;
  /** A silent host sends no heartbeats (a host that died, for the controller). */
  silent: boolean;
}

interface Member extends FakeFleetHost {
  readonly server: FastifyInstance;
  readonly heartbeat: ControllerHeartbeat | undefined;
}

const MAX_HOSTS = 20_000;

/**
 * Many agents in one process, for scale tests and benchmarks (issue 13):
 * each host is the real agent HTTP API and AgentService over a FakeDriver, on
 * its own loopback port, so the controller talks to it exactly as to a real
 * agent. What would make a thousand of them expensive is shared or left out:
 * one image cache for all (each image fetched once), disks made as empty
 * files (no `qemu-img` spawn per VM), no timer per host (one FleetBeater
 * spreads every host's heartbeat over the interval) and no host facts read
 * from the machine (the capacity is given).
 */
export class FakeFleet {
  readonly #members: Member[];
  readonly #byName: Map<string, Member>;
  readonly #beater: FleetBeater<Member>;
  readonly #o: FakeFleetOptions;

  private constructor(o: FakeFleetOptions, members: Member[]) {
    this.#o = o;
    this.#members = members;
    this.#byName = new Map(members.map((m) => [m.name, m]));
    this.#beater = new FleetBeater({
      hosts: members,
      intervalMs: o.heartbeatIntervalMs ?? 5_000,
      beat: (m) => this.beat(m),
    });
  }

  static async start(o: FakeFleetOptions): Promise<FakeFleet> {
    checkFleetOptions(o);
    const prefix = o.namePrefix ?? 'f';
    const imagesDir = join(o.rootDir, 'images');
    await mkdir(imagesDir, { recursive: true, mode: 0o700 });
    const tokens = Array.from({ length: o.hosts }, () => randomBytes(24).toString('hex'));
    // Any host's token may fetch an image from the controller: one cache, fetched with the first host's.
    const images = new ImageCache(imagesDir, tokens[0]!);
    const members: Member[] = [];
    const fleet = new FakeFleet(o, members);
    try {
      const concurrency = o.startConcurrency ?? 32;
      for (let from = 0; from < o.hosts; from += concurrency) {
        const batch = tokens.slice(from, from + concurrency).map((token, i) => startMember(o, `${prefix}${from + i + (o.firstIndex ?? 1)}`, token, images, imagesDir));
        // Every started server is kept, so that close() ends it even when another of the batch failed.
        const started = await Promise.allSettled(batch);
        for (const s of started) if (s.status === 'fulfilled') members.push(s.value);
        const failed = started.find((s) => s.status === 'rejected');
        if (failed) throw failed.reason;
      }
    } catch (err) {
      await fleet.close();
      throw err;
    }
    fleet.#byName.clear();
    for (const m of members) fleet.#byName.set(m.name, m);
    return fleet;
  }

  get hosts(): readonly FakeFleetHost[] {
    return this.#members;
  }

  /** The host of that name; a ValidationError for a name the fleet does not have. */
  host(name: string): FakeFleetHost {
    const m = this.#byName.get(name);
    if (!m) throw new ValidationError('fleet', [{ field: 'host', message: `the fleet has no host ${name}` }]);
    return m;
  }

  /** What the host's heartbeat says now, as a real agent's would (its VMs sampled from its AgentService). */
  report(host: FakeFleetHost): Promise<HostReport> {
    return fakeHostReport(host.name, this.#o.capacity, host.service);
  }

  /** One heartbeat of the host to the controller; false when the controller did not take it or the host is silent. */
  async beat(host: FakeFleetHost, signal?: AbortSignal): Promise<boolean> {
    const m = this.#byName.get(host.name);
    if (!m?.heartbeat || m.silent) return false;
    const t0 = performance.now();
    const last = this.#lastBeatAt.get(m.name);
    if (last !== undefined) this.#times.maxGapMs = Math.max(this.#times.maxGapMs, t0 - last);
    this.#lastBeatAt.set(m.name, t0);
    const report = await this.report(m);
    const t1 = performance.now();
    this.#times.maxSampleMs = Math.max(this.#times.maxSampleMs, t1 - t0);
    try {
      return await m.heartbeat.beat(report, signal);
    } finally {
      this.#times.maxSendMs = Math.max(this.#times.maxSendMs, performance.now() - t1);
    }
  }

  readonly #lastBeatAt = new Map<string, number>();
  readonly #times = { maxGapMs: 0, maxSampleMs: 0, maxSendMs: 0 };

  /**
   * The fleet's side of its heartbeats so far (benchmarks): the longest time
   * between two beats of one host starting, a report's sampling, a beat's
   * send until the controller answered — so that a host the controller
   * found silent is known to be the fleet's delay or the controller's.
   */
  get beatTimes(): { readonly maxGapMs: number; readonly maxSampleMs: number; readonly maxSendMs: number } {
    return { ...this.#times };
  }

  /** Every host beats once (at most `concurrency` at a time); answers how many the controller took. */
  async beatAll(opts: { concurrency?: number; signal?: AbortSignal } = {}): Promise<number> {
    return this.#beater.beatAll(opts.concurrency ?? 32, opts.signal);
  }

  /** Heartbeats every interval, spread over it, from one timer. */
  startBeating(): void {
    this.#beater.start();
  }

  stopBeating(): void {
    this.#beater.stop();
  }

  /** Heartbeats sent and taken since the fleet started. */
  get beats(): { readonly sent: number; readonly taken: number } {
    return this.#beater.counts;
  }

  async close(): Promise<void> {
    await this.#beater.stopAndSettle();
    await Promise.allSettled(this.#members.map(async (m) => {
      await m.server.close();
      await m.driver.close();
    }));
  }
}

async function startMember(o: FakeFleetOptions, name: string, token: string, images: ImageCache, imagesDir: string): Promise<Member> {
  const dataDir = join(o.rootDir, 'hosts', name);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logger = o.logger.child({ host: name });
  // No file checks: kernels and disks are the shared cache's and empty files, which is all the fake needs.
  const driver = new FakeDriver({ allowedDirs: [dataDir, imagesDir], checkFiles: false });
  const service = new AgentService({
    dataDir, hypervisor: driver, images, logger,
    ...(o.realDisks === true ? {} : { makeDisk: async ({ target }: { target: string }) => writeFile(target, '') }),
  });
  const member: { -readonly [K in keyof Member]: Member[K] } = {
    name, url: '', token, driver, service, silent: false,
    server: undefined as unknown as FastifyInstance,
    heartbeat: o.controllerUrl === undefined ? undefined : new ControllerHeartbeat({ urls: [o.controllerUrl], token, logger, timeoutMs: o.heartbeatTimeoutMs }),
  };
  member.server = createAgentServer({ service, token, hostReport: () => fakeHostReport(name, o.capacity, service), logger });
  try {
    await member.server.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await driver.close();
    throw err;
  }
  member.url = `http://127.0.0.1:${(member.server.server.address() as AddressInfo).port}`;
  return member;
}

/** A fake host's report: the capacity it was given, no load, its VMs as its AgentService samples them. */
async function fakeHostReport(name: string, capacity: FakeFleetOptions['capacity'], service: AgentService): Promise<HostReport> {
  // Stamped before sampling, as a real agent's: the controller ignores a report older than a VM's last change.
  const at = new Date().toISOString();
  return {
    name, cpuModel: 'qemu64', cpuModels: ['qemu64'], cpuFlags: [], kvm: false,
    totalCpus: capacity.cpus, totalMemoryMiB: capacity.memoryMiB, totalDiskMiB: capacity.diskMiB,
    usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0 },
    vms: await service.lifecycle.list(), bridges: [],
    migration: { address: '127.0.0.1', tls: false, sharedDatastore: false }, at,
  };
}

function checkFleetOptions(o: FakeFleetOptions): void {
  const issues: { field: string; message: string }[] = [];
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > MAX_HOSTS) issues.push({ field: 'hosts', message: `must be a whole number from 1 to ${MAX_HOSTS} (got ${o.hosts})` });
  for (const k of ['cpus', 'memoryMiB', 'diskMiB'] as const) {
    if (!Number.isInteger(o.capacity[k]) || o.capacity[k] < 1) issues.push({ field: `capacity.${k}`, message: `must be a positive whole number (got ${o.capacity[k]})` });
  }
  if (o.firstIndex !== undefined && (!Number.isInteger(o.firstIndex) || o.firstIndex < 0)) issues.push({ field: 'firstIndex', message: `must be a whole number, 0 or more (got ${o.firstIndex})` });
  if (o.heartbeatIntervalMs !== undefined && !(o.heartbeatIntervalMs >= 10)) issues.push({ field: 'heartbeatIntervalMs', message: `must be at least 10 ms (got ${o.heartbeatIntervalMs})` });
  if (issues.length > 0) throw new ValidationError('fleet options', issues);
}
