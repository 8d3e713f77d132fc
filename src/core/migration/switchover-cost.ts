/** What a finished live migration tells about the switch-over's fixed cost. */
export interface PastDowntime {
  readonly sourceHostId: string;
  readonly destHostId: string;
  /** The downtime QEMU reported for it (ms). */
  readonly downtimeMs: number;
}

export interface SwitchoverCost {
  readonly ms: number;
  /** `link`: past migrations between these two hosts (either way); `any`: between any hosts; `default`: none yet, DEFAULT_SWITCHOVER_MS. */
  readonly basis: 'link' | 'any' | 'default';
  readonly samples: number;
}

/**
 * The switch-over's fixed cost before any migration was seen: what QEMU 7.2
 * under TCG reported in the lab for idle 128–256 MiB guests (400–800 ms —
 * stopping the vCPUs, the device state, the destination's start), taken at
 * its low end so that a first prediction errs short rather than long.
 */
export const DEFAULT_SWITCHOVER_MS = 400;

/** As many recent migrations as the bandwidth estimate reads (link-bandwidth.ts). */
export const SWITCHOVER_SAMPLES = 5;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The pause a switch-over costs whatever is left to copy: the median
 * downtime QEMU reported for the last migrations between the two hosts (in
 * either direction), else between any hosts, else DEFAULT_SWITCHOVER_MS.
 * Learned like the link's bandwidth, from what the real path did. The
 * reported downtime also holds the last dirty pages' copy; the median of
 * recent runs keeps one busy guest from moving it much. `past` is newest first.
 */
export function switchoverCost(past: readonly PastDowntime[], sourceHostId: string, destHostId: string): SwitchoverCost {
  const usable = past.filter((m) => Number.isFinite(m.downtimeMs) && m.downtimeMs > 0);
  const onLink = usable.filter((m) => (m.sourceHostId === sourceHostId && m.destHostId === destHostId) || (m.sourceHostId === destHostId && m.destHostId === sourceHostId));
  const [basis, chosen] = onLink.length > 0 ? (['link', onLink] as const) : usable.length > 0 ? (['any', usable] as const) : (['default', []] as const);
  if (basis === 'default') return { ms: DEFAULT_SWITCHOVER_MS, basis, samples: 0 };
  const recent = chosen.slice(0, SWITCHOVER_SAMPLES);
  return { ms: median(recent.map((m) => m.downtimeMs)), basis, samples: recent.length };
}
