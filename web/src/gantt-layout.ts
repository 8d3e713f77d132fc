import type { CapacityLease } from './api-types';

/** One bar of the Gantt: a lease's planned step on one host. */
export interface GanttBar {
  readonly lease: CapacityLease;
  readonly kind: string;
  readonly from: number;
  readonly to: number;
  /** Which lane of its host's row (leases that overlap in time get lanes of their own). */
  readonly lane: number;
}
export interface GanttRow { readonly host: string; readonly lanes: number; readonly bars: readonly GanttBar[] }
export interface GanttLayout { readonly from: number; readonly to: number; readonly rows: readonly GanttRow[] }

/** The leases whose plan has ended draw no bar: the chart shows what is booked now and ahead. */
const FINAL = new Set(['rejected', 'done', 'cancelled', 'failed']);
/** At least this much time is shown, so a lone short lease is not stretched over the whole width. */
const MIN_SPAN_MS = 30 * 60_000;

/**
 * Hosts × time from the leases' plans: each placement of a lease puts its
 * segments (prepare, run, suspend…) on that host's row; leases that overlap
 * on a host are stacked in lanes, first fit by start. `hosts` are drawn even
 * when empty (an admin sees the whole pool), in the order given.
 */
export function ganttLayout(leases: readonly CapacityLease[], hosts: readonly string[], now: number): GanttLayout {
  const perHost = new Map<string, { lease: CapacityLease; kind: string; from: number; to: number }[]>(hosts.map((h) => [h, []]));
  for (const l of leases) {
    if (FINAL.has(l.state)) continue;
    const segs = l.plan.segments.map((s) => ({ kind: s.kind, from: Date.parse(s.from), to: Date.parse(s.to) })).filter((s) => s.to > s.from);
    for (const p of l.plan.placements) {
      const list = perHost.get(p.host) ?? [];
      for (const s of segs) list.push({ lease: l, ...s });
      perHost.set(p.host, list);
    }
  }
  let from = now;
  let to = now + MIN_SPAN_MS;
  const rows: GanttRow[] = [];
  for (const [host, segs] of perHost) {
    // A lease keeps one lane for all its segments on a host: its bar reads as one line.
    const spans = new Map<CapacityLease, { from: number; to: number }>();
    for (const s of segs) {
      const sp = spans.get(s.lease);
      spans.set(s.lease, sp ? { from: Math.min(sp.from, s.from), to: Math.max(sp.to, s.to) } : { from: s.from, to: s.to });
      from = Math.min(from, s.from);
      to = Math.max(to, s.to);
    }
    const laneEnds: number[] = [];
    const laneOf = new Map<CapacityLease, number>();
    for (const [lease, sp] of [...spans].sort((a, b) => a[1].from - b[1].from || a[0].id.localeCompare(b[0].id))) {
      let lane = laneEnds.findIndex((end) => end <= sp.from);
      if (lane < 0) lane = laneEnds.length;
      laneEnds[lane] = sp.to;
      laneOf.set(lease, lane);
    }
    rows.push({ host, lanes: Math.max(1, laneEnds.length), bars: segs.map((s) => ({ ...s, lane: laneOf.get(s.lease)! })) });
  }
  return { from, to, rows };
}

/** About `n` round tick times (1, 5, 15, 30 min, 1, 3, 6, 12 h or days apart) between `from` and `to`. */
export function timeTicks(from: number, to: number, n = 6): number[] {
  const steps = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 7 * 86_400_000];
  const step = steps.find((s) => (to - from) / s <= n) ?? steps[steps.length - 1]!;
  const out: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
  return out;
}
