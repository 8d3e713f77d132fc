import type { Placement, Segment, SegmentKind } from './enactment.js';
import type { LeaseRequest } from './lease.js';
import type { LeaseRates } from './lease-rates.js';

const maxVms = (placements: readonly Placement[]): number => Math.max(0, ...placements.map((p) => p.vms));

/**
 * How long each enactment step takes, predicted from the rates. Steps on
 * different hosts run in parallel and the VMs of one host one after the
 * other, so a step lasts as long as its busiest host needs.
 */
export class PlanDurations {
  constructor(readonly rates: LeaseRates) {}

  /** Image transfer (unless every host has it cached) and boot; with no placements yet, the worst case (nothing cached). */
  prepare(req: LeaseRequest, placements: readonly Placement[], cached: (host: number, image: string) => boolean): number {
    const img = req.image;
    const transfer = img !== undefined && img.sizeMiB > 0 && (placements.length === 0 || !placements.every((p) => cached(p.host, img.id))) ? img.sizeMiB / this.rates.imageTransferMiBps : 0;
    return transfer + this.rates.bootS;
  }

  suspend(req: LeaseRequest, placements: readonly Placement[]): number {
    return (maxVms(placements) * req.shape.memoryMiB) / this.rates.suspendMiBps;
  }

  resume(req: LeaseRequest, placements: readonly Placement[]): number {
    return (maxVms(placements) * req.shape.memoryMiB) / this.rates.resumeMiBps;
  }

  /** Moving saved memory (and the disk, unless storage is shared) into the busiest destination. */
  migrate(req: LeaseRequest, to: readonly Placement[]): number {
    const perVm = req.shape.memoryMiB + (this.rates.migrateDisk ? (req.image?.sizeMiB ?? 0) : 0);
    return (maxVms(to) * perVm) / this.rates.migrateMiBps;
  }
}

/**
 * The segments of a plan that starts at `start` with the steps `pre`, runs
 * `runS` and shuts down — or, when `stop` comes first, runs until a suspend
 * that ends exactly at `stop`.
 */
export function buildPlan(start: number, pre: readonly (readonly [SegmentKind, number])[], runS: number, shutdownS: number, suspendS: number, stop = Infinity): Segment[] {
  const segs: Segment[] = [];
  let t = start;
  for (const [kind, d] of pre) {
    segs.push({ kind, from: t, to: t + d });
    t += d;
  }
  if (t + runS + shutdownS <= stop) {
    segs.push({ kind: 'run', from: t, to: t + runS }, { kind: 'shutdown', from: t + runS, to: t + runS + shutdownS });
  } else {
    const s = stop - suspendS;
    segs.push({ kind: 'run', from: t, to: s }, { kind: 'suspend', from: s, to: stop });
  }
  return segs;
}
