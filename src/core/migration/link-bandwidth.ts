/** What a finished live migration tells about the link it used. */
export interface PastMigration {
  readonly sourceHostId: string;
  readonly destHostId: string;
  readonly transferredBytes: number;
  readonly totalTimeMs: number;
  /** The downtime QEMU reported: left out of the time the bytes took, as the prediction adds the switch-over itself. */
  readonly downtimeMs?: number | undefined;
}

export interface LinkBandwidth {
  readonly bytesPerSec: number;
  /** `link`: past migrations between these two hosts (either way); `any`: between any hosts; `policy`: none yet, the policy's max-bandwidth. */
  readonly basis: 'link' | 'any' | 'policy';
  readonly samples: number;
}

/** How many recent migrations the estimate reads: enough to smooth one slow run, few enough to follow a changed link. */
export const LINK_BANDWIDTH_SAMPLES = 5;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The link's bandwidth as the planner assumes it: the median effective
 * throughput (bytes sent over the whole migration time, setup included, so
 * the prediction needs no separate setup term — but not the reported
 * downtime, which the prediction adds as the switch-over's cost) of the last
 * migrations between the two hosts — in either direction, a link is
 * symmetric —, else between any hosts, else the policy's max-bandwidth.
 * Never above `capBytesPerSec` (the migration's own max-bandwidth).
 * Past migrations rather than a probe: they measured the real path with the
 * real protocol, and they cost nothing; `past` is newest first.
 */
export function linkBandwidth(past: readonly PastMigration[], sourceHostId: string, destHostId: string, capBytesPerSec: number): LinkBandwidth {
  const usable = past.filter((m) => m.transferredBytes > 0 && m.totalTimeMs > 0);
  const onLink = usable.filter((m) => (m.sourceHostId === sourceHostId && m.destHostId === destHostId) || (m.sourceHostId === destHostId && m.destHostId === sourceHostId));
  const [basis, chosen] = onLink.length > 0 ? (['link', onLink] as const) : usable.length > 0 ? (['any', usable] as const) : (['policy', []] as const);
  if (basis === 'policy') return { bytesPerSec: capBytesPerSec, basis, samples: 0 };
  const recent = chosen.slice(0, LINK_BANDWIDTH_SAMPLES);
  const copyMs = (m: PastMigration): number => (m.downtimeMs !== undefined && m.downtimeMs > 0 && m.downtimeMs < m.totalTimeMs ? m.totalTimeMs - m.downtimeMs : m.totalTimeMs);
  const bps = median(recent.map((m) => m.transferredBytes / (copyMs(m) / 1000)));
  return { bytesPerSec: Math.min(bps, capBytesPerSec), basis, samples: recent.length };
}

/** The prediction's error against what happened, as a signed fraction of the actual (+0.2: predicted 20 % too long). */
export function predictionError(predicted: number, actual: number): number | null {
  if (!(actual > 0) || !Number.isFinite(predicted)) return null;
  return (predicted - actual) / actual;
}
