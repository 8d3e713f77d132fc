import type { MigrationView } from '../contract/migration-schemas.js';

/** One action of the convergence policy, as the controller records it in the stats. */
export interface ConvergenceAction {
  readonly at: string;
  readonly kind: string;
  readonly reason: string;
}

/**
 * A migration's stats, read defensively: the API types them only as a record
 * (they grow with the engine), so a field that is missing or not a number is
 * absent here rather than a crash of the CLI.
 */
export interface MigrationStats {
  readonly status?: string;
  readonly transferredBytes?: number;
  readonly remainingBytes?: number;
  readonly totalBytes?: number;
  readonly dirtyRateBytes?: number;
  readonly passes?: number;
  /** QEMU's figure, in megabits per second. */
  readonly mbps?: number;
  readonly expectedDowntimeMs?: number;
  readonly diskCopiedBytes?: number;
  readonly diskTotalBytes?: number;
  /** Cold migration: bytes of the VM's files copied so far, of all of them, and the copy's rate in MB/s. */
  readonly copiedBytes?: number;
  readonly copyTotalBytes?: number;
  readonly throughputMBps?: number;
  readonly totalTimeMs?: number;
  readonly downtimeMs?: number;
  readonly finalDirtyRateBytes?: number;
  readonly convergence: readonly ConvergenceAction[];
}

const NUMBERS = [
  'transferredBytes', 'remainingBytes', 'totalBytes', 'dirtyRateBytes', 'passes', 'mbps', 'expectedDowntimeMs',
  'diskCopiedBytes', 'diskTotalBytes', 'totalTimeMs', 'downtimeMs', 'finalDirtyRateBytes',
  'copiedBytes', 'copyTotalBytes', 'throughputMBps',
] as const;

/** The stats keys this module knows; others are shown as they come. */
export const KNOWN_STATS_KEYS: ReadonlySet<string> = new Set<string>([...NUMBERS, 'status', 'convergence']);

export function readStats(m: Pick<MigrationView, 'stats'>): MigrationStats {
  const s = m.stats;
  const out: Record<string, unknown> = {};
  for (const k of NUMBERS) {
    const v = s[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  if (typeof s['status'] === 'string') out['status'] = s['status'];
  const conv = Array.isArray(s['convergence']) ? (s['convergence'] as unknown[]) : [];
  out['convergence'] = conv.flatMap((c): ConvergenceAction[] => {
    if (typeof c !== 'object' || c === null) return [];
    const r = c as Record<string, unknown>;
    return [{ at: typeof r['at'] === 'string' ? r['at'] : '', kind: typeof r['kind'] === 'string' ? r['kind'] : '?', reason: typeof r['reason'] === 'string' ? r['reason'] : '' }];
  });
  return out as unknown as MigrationStats;
}

/**
 * Percent of the guest's RAM sent so far. QEMU's `total` counts the RAM
 * once while `transferred` grows with every pass, so the share that is sent
 * is transferred / (transferred + remaining), which reaches 100 at the end.
 */
export function ramPercent(s: MigrationStats): number | undefined {
  if (s.transferredBytes === undefined || s.remainingBytes === undefined) return undefined;
  const all = s.transferredBytes + s.remainingBytes;
  return all <= 0 ? 0 : Math.min(100, (100 * s.transferredBytes) / all);
}

/** Percent of the disks mirrored to the destination (non-shared storage only). */
export function diskPercent(s: MigrationStats): number | undefined {
  if (s.diskCopiedBytes === undefined || s.diskTotalBytes === undefined) return undefined;
  return s.diskTotalBytes <= 0 ? 0 : Math.min(100, (100 * s.diskCopiedBytes) / s.diskTotalBytes);
}

/** Percent of a cold migration's files copied to the destination. */
export function copyPercent(s: MigrationStats): number | undefined {
  if (s.copiedBytes === undefined || s.copyTotalBytes === undefined) return undefined;
  return s.copyTotalBytes <= 0 ? 100 : Math.min(100, (100 * s.copiedBytes) / s.copyTotalBytes);
}

/** QEMU reports megabits per second; people read bytes. */
export function megabytesPerSecond(s: MigrationStats): number | undefined {
  return s.mbps === undefined ? undefined : s.mbps / 8;
}

/** How long the migration took: the recorded total, else from its timestamps (to `now` while it runs). */
export function elapsedMs(m: Pick<MigrationView, 'stats' | 'startedAt' | 'finishedAt'>, now: number = Date.now()): number | undefined {
  const total = readStats(m).totalTimeMs;
  if (total !== undefined) return total;
  const t0 = Date.parse(m.startedAt);
  const t1 = m.finishedAt === null ? now : Date.parse(m.finishedAt);
  return Number.isNaN(t0) || Number.isNaN(t1) ? undefined : Math.max(0, t1 - t0);
}
