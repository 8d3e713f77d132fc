/** What a driver counts for one VM (the hypervisor's VmStats, restated here: core imports nothing). */
export interface UsageCounters {
  readonly cpuTimeMs: number;
  readonly vcpuTimeMs: number;
  readonly rssBytes: number;
  readonly memoryBytes: number;
  readonly diskReadBytes: number;
  readonly diskWriteBytes: number;
  readonly netRxBytes: number;
  readonly netTxBytes: number;
  /** A new value means a new process, whose counters started again from zero. */
  readonly incarnation: string;
}

/** Counters read at one instant (milliseconds since the epoch). */
export interface UsageReading {
  readonly atMs: number;
  readonly counters: UsageCounters;
}

/** One VM's use over the interval that ends at `atMs`: rates between two readings, and the gauges at its end. */
export interface VmSample {
  readonly atMs: number;
  /** Percent of one CPU the whole QEMU process used (200 = two CPUs busy), like `top`. */
  readonly cpuPercent: number;
  /** The same for the guest's vCPU threads only. */
  readonly vcpuPercent: number;
  readonly rssBytes: number;
  readonly memoryBytes: number;
  readonly diskReadBytesPerSec: number;
  readonly diskWriteBytesPerSec: number;
  readonly netRxBytesPerSec: number;
  readonly netTxBytesPerSec: number;
  /** The counters at the end of the interval, for whoever wants totals. */
  readonly diskReadBytes: number;
  readonly diskWriteBytes: number;
  readonly netRxBytes: number;
  readonly netTxBytes: number;
}

/**
 * How much a counter grew between two readings. A counter that went down
 * (a NIC re-plugged, a device's stats reset) or belongs to a new process
 * started again from zero in between: all of its value is new.
 */
export function counterDelta(prev: number, cur: number, sameProcess: boolean): number {
  if (!sameProcess || cur < prev) return cur;
  return cur - prev;
}

/** The sample between two readings of one VM; undefined when there is no earlier reading or no time passed between them. */
export function vmSampleOf(prev: UsageReading | undefined, cur: UsageReading): VmSample | undefined {
  if (prev === undefined) return undefined;
  const dtMs = cur.atMs - prev.atMs;
  if (!(dtMs > 0)) return undefined;
  const p = prev.counters;
  const c = cur.counters;
  const same = p.incarnation === c.incarnation;
  const perSec = (a: number, b: number): number => (counterDelta(a, b, same) * 1000) / dtMs;
  const percent = (a: number, b: number): number => (counterDelta(a, b, same) * 100) / dtMs;
  return {
    atMs: cur.atMs,
    cpuPercent: percent(p.cpuTimeMs, c.cpuTimeMs),
    vcpuPercent: percent(p.vcpuTimeMs, c.vcpuTimeMs),
    rssBytes: c.rssBytes,
    memoryBytes: c.memoryBytes,
    diskReadBytesPerSec: perSec(p.diskReadBytes, c.diskReadBytes),
    diskWriteBytesPerSec: perSec(p.diskWriteBytes, c.diskWriteBytes),
    netRxBytesPerSec: perSec(p.netRxBytes, c.netRxBytes),
    netTxBytesPerSec: perSec(p.netTxBytes, c.netTxBytes),
    diskReadBytes: c.diskReadBytes,
    diskWriteBytes: c.diskWriteBytes,
    netRxBytes: c.netRxBytes,
    netTxBytes: c.netTxBytes,
  };
}
