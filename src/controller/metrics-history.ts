import type { HostSampleView, VmSampleView } from '../contract/metrics-schemas.js';
import { MetricRing } from './metrics-ring.js';

/** The VM sample's fields after its time, in ring order. */
const VM_FIELDS = ['cpuPercent', 'vcpuPercent', 'rssBytes', 'memoryBytes', 'diskReadBytesPerSec', 'diskWriteBytesPerSec', 'netRxBytesPerSec', 'netTxBytesPerSec'] as const;
const HOST_FIELDS = [
  'vms', 'cpuPercent', 'vcpuPercent', 'rssBytes', 'memoryBytes', 'diskReadBytesPerSec', 'diskWriteBytesPerSec', 'netRxBytesPerSec', 'netTxBytesPerSec',
  'machineCpuPercent', 'machineCpus', 'machineMemoryUsedBytes', 'machineMemoryTotalBytes',
] as const;

export interface VmTotals {
  readonly diskReadBytes: number;
  readonly diskWriteBytes: number;
  readonly netRxBytes: number;
  readonly netTxBytes: number;
}

interface VmEntry {
  readonly ring: MetricRing;
  hostId: string;
  totals: VmTotals;
}

/** Default: 60 samples, 5 minutes at the default 5 s interval. */
export const DEFAULT_HISTORY_SAMPLES = 60;

/**
 * The controller's recent metrics, in memory: one ring per VM and per host,
 * each of `samples` records. A VM's ring is 9 float64 fields × 60 samples =
 * 4.3 KiB, so 10,000 VMs hold about 43 MiB, and never more: rings are
 * allocated once, overwritten in place, and dropped for a VM or host that
 * stopped reporting for a whole ring's time (`prune`). Not persisted: after
 * a restart the history fills again within one ring's time, and several
 * controllers each keep their own (each pulls from the agents).
 */
export class MetricsHistory {
  readonly samples: number;
  readonly #vms = new Map<string, VmEntry>();
  readonly #hosts = new Map<string, MetricRing>();

  constructor(samples = DEFAULT_HISTORY_SAMPLES) {
    this.samples = samples;
  }

  addVm(vmId: string, hostId: string, sample: VmSampleView, totals: VmTotals): void {
    let e = this.#vms.get(vmId);
    if (!e) this.#vms.set(vmId, (e = { ring: new MetricRing(this.samples, 1 + VM_FIELDS.length), hostId, totals }));
    if (e.ring.push([Date.parse(sample.at), ...VM_FIELDS.map((f) => sample[f])])) {
      e.hostId = hostId;
      e.totals = totals;
    }
  }

  addHost(hostId: string, sample: HostSampleView): void {
    let r = this.#hosts.get(hostId);
    if (!r) this.#hosts.set(hostId, (r = new MetricRing(this.samples, 1 + HOST_FIELDS.length)));
    r.push([Date.parse(sample.at), ...HOST_FIELDS.map((f) => sample[f])]);
  }

  vm(vmId: string, sinceMs?: number): { hostId: string | null; totals: VmTotals | null; samples: VmSampleView[] } {
    const e = this.#vms.get(vmId);
    if (!e) return { hostId: null, totals: null, samples: [] };
    return { hostId: e.hostId, totals: e.totals, samples: e.ring.since(sinceMs).map(toVmSample) };
  }

  latestVm(vmId: string): VmSampleView | undefined {
    const r = this.#vms.get(vmId)?.ring.latest();
    return r === undefined ? undefined : toVmSample(r);
  }

  host(hostId: string, sinceMs?: number): HostSampleView[] {
    return (this.#hosts.get(hostId)?.since(sinceMs) ?? []).map(toHostSample);
  }

  latestHost(hostId: string): HostSampleView | undefined {
    const r = this.#hosts.get(hostId)?.latest();
    return r === undefined ? undefined : toHostSample(r);
  }

  /** How many VMs and hosts have a ring, and the bytes their rings hold. */
  get footprint(): { vms: number; hosts: number; bytes: number } {
    let bytes = 0;
    for (const e of this.#vms.values()) bytes += e.ring.bytes;
    for (const r of this.#hosts.values()) bytes += r.bytes;
    return { vms: this.#vms.size, hosts: this.#hosts.size, bytes };
  }

  /** Drops the rings whose newest sample is older than `beforeMs`: their VM or host stopped reporting. */
  prune(beforeMs: number): void {
    for (const [id, e] of this.#vms) if ((e.ring.latestAt ?? 0) < beforeMs) this.#vms.delete(id);
    for (const [id, r] of this.#hosts) if ((r.latestAt ?? 0) < beforeMs) this.#hosts.delete(id);
  }
}

function toVmSample(r: readonly number[]): VmSampleView {
  const [t, ...rest] = r;
  return { at: new Date(t ?? 0).toISOString(), ...Object.fromEntries(VM_FIELDS.map((f, i) => [f, rest[i] ?? 0])) } as VmSampleView;
}

function toHostSample(r: readonly number[]): HostSampleView {
  const [t, ...rest] = r;
  return { at: new Date(t ?? 0).toISOString(), ...Object.fromEntries(HOST_FIELDS.map((f, i) => [f, rest[i] ?? 0])) } as HostSampleView;
}
