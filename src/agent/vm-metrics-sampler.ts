import { readFile } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import type { Logger } from 'pino';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { hostSampleOf, machineCpuPercent, parseCpuTimes, type CpuTimes, type HostSample } from '../core/metrics/host-sample.js';
import { vmSampleOf, type UsageReading, type VmSample } from '../core/metrics/vm-sample.js';
import type { AgentMetrics } from '../contract/metrics-schemas.js';
import { errorMessage } from '../errors/nubo-error.js';
import { mapLimit } from '../util/map-limit.js';
import { PeriodicRounds } from '../util/periodic-rounds.js';

/** The machine's own figures at one instant. */
export interface MachineReading {
  readonly cpuTimes: CpuTimes;
  readonly cpus: number;
  readonly memoryUsedBytes: number;
  readonly memoryTotalBytes: number;
}

export interface VmMetricsSamplerOptions {
  readonly hypervisor: Hypervisor;
  /** How often every VM is read (default 5 s). */
  readonly intervalMs?: number | undefined;
  readonly logger: Logger;
  /** The machine's CPU and memory; /proc/stat and os by default (tests give their own). */
  readonly readMachine?: (() => Promise<MachineReading>) | undefined;
}

export const DEFAULT_METRICS_INTERVAL_MS = 5_000;

async function readMachine(): Promise<MachineReading> {
  const total = totalmem();
  return { cpuTimes: parseCpuTimes(await readFile('/proc/stat', 'utf8')), cpus: cpus().length, memoryUsedBytes: total - freemem(), memoryTotalBytes: total };
}

/**
 * Samples this host's VMs on its own timer — not in the heartbeat, so a slow
 * QMP answer never delays the host's liveness — and keeps only the latest
 * sample of each: the controller pulls them (`GET /agent/v1/metrics`) and
 * keeps the history. Two readings make a sample, so a VM shows up one
 * interval after it started. Memory is one reading and one sample per VM.
 */
export class VmMetricsSampler {
  readonly intervalMs: number;
  readonly #o: VmMetricsSamplerOptions;
  readonly #readMachine: () => Promise<MachineReading>;
  readonly #prev = new Map<string, UsageReading>();
  #latest = new Map<string, VmSample>();
  #host: HostSample | undefined;
  #prevMachine: MachineReading | undefined;
  readonly #rounds: PeriodicRounds;
  readonly #stopping = new AbortController();

  constructor(o: VmMetricsSamplerOptions) {
    this.#o = o;
    this.intervalMs = o.intervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
    this.#rounds = new PeriodicRounds(() => this.sampleNow(), this.intervalMs, (err) => this.#o.logger.warn({ err: errorMessage(err) }, 'metrics: sampling round failed'));
    this.#readMachine = o.readMachine ?? readMachine;
  }

  start(): void {
    this.#rounds.start();
  }

  async stop(): Promise<void> {
    this.#stopping.abort(new Error('the agent is stopping'));
    await this.#rounds.stop();
  }

  /** One round: reads every running or paused VM and the machine, and replaces the latest samples. */
  async sampleNow(): Promise<void> {
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(Math.max(1_000, this.intervalMs))]);
    const live = (await this.#o.hypervisor.list({ signal })).filter((v) => v.state === 'running' || v.state === 'paused');
    const latest = new Map<string, VmSample>();
    await mapLimit(live, 8, async (v) => {
      try {
        const counters = await this.#o.hypervisor.stats(v.id, { signal, timeoutMs: 5_000 });
        const reading: UsageReading = { atMs: Date.now(), counters };
        const sample = vmSampleOf(this.#prev.get(v.id), reading);
        this.#prev.set(v.id, reading);
        if (sample) latest.set(v.id, sample);
      } catch (err) {
        // A VM that ended between the list and its read is simply not sampled this round.
        this.#o.logger.debug({ vmId: v.id, err: errorMessage(err) }, 'metrics: VM not read');
      }
    });
    const ids = new Set(live.map((v) => v.id));
    for (const id of this.#prev.keys()) if (!ids.has(id)) this.#prev.delete(id);
    this.#latest = latest;
    const machine = await this.#readMachine();
    if (this.#prevMachine !== undefined) {
      this.#host = hostSampleOf(Date.now(), [...latest.values()], {
        cpuPercent: machineCpuPercent(this.#prevMachine.cpuTimes, machine.cpuTimes),
        cpus: machine.cpus,
        memoryUsedBytes: machine.memoryUsedBytes,
        memoryTotalBytes: machine.memoryTotalBytes,
      });
    }
    this.#prevMachine = machine;
  }

  /** The latest samples, as the agent API answers them. */
  snapshot(): AgentMetrics {
    const at = (ms: number): string => new Date(ms).toISOString();
    const host = this.#host === undefined ? null : (({ atMs, ...rest }) => ({ ...rest, at: at(atMs) }))(this.#host);
    return {
      intervalMs: this.intervalMs,
      host,
      vms: [...this.#latest].map(([id, s]) => ({
        id,
        sample: {
          at: at(s.atMs), cpuPercent: s.cpuPercent, vcpuPercent: s.vcpuPercent, rssBytes: s.rssBytes, memoryBytes: s.memoryBytes,
          diskReadBytesPerSec: s.diskReadBytesPerSec, diskWriteBytesPerSec: s.diskWriteBytesPerSec, netRxBytesPerSec: s.netRxBytesPerSec, netTxBytesPerSec: s.netTxBytesPerSec,
        },
        totals: { diskReadBytes: s.diskReadBytes, diskWriteBytes: s.diskWriteBytes, netRxBytes: s.netRxBytes, netTxBytes: s.netTxBytes },
      })),
    };
  }
}
