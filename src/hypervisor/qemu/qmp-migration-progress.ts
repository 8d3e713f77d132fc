import type { DiskMirrorProgress, MigrationProgress, MigrationStatusKind } from '../live-migration.js';
import type { QmpBlockJobInfo, QmpMigrationInfo, QmpMigrationStatus, QmpRunState } from './qmp-schema.js';

/** Block job id of the mirror of one disk; the disk id is read back from it. */
export const mirrorJobId = (diskId: string): string => `mirror-${diskId}`;
/** Node name of the NBD client node a mirror writes to. */
export const nbdNodeName = (diskId: string): string => `nbd-${diskId}`;

const MIRROR_PREFIX = 'mirror-';

/** The disk mirrors among QEMU's block jobs. */
export function mirrorJobs(jobs: readonly QmpBlockJobInfo[]): QmpBlockJobInfo[] {
  return jobs.filter((j) => j.type === 'mirror' && j.device.startsWith(MIRROR_PREFIX));
}

export function diskMirrorProgress(jobs: readonly QmpBlockJobInfo[]): DiskMirrorProgress[] {
  return mirrorJobs(jobs).map((j) => ({
    diskId: j.device.slice(MIRROR_PREFIX.length),
    offset: j.offset,
    len: j.len,
    // A concluded job reports ready=false; one that concluded without error finished its copy.
    ready: j.ready,
    ...(j.error !== undefined ? { error: j.error } : {}),
  }));
}

export function migrationStatusKind(s: QmpMigrationStatus | undefined): MigrationStatusKind {
  switch (s) {
    case undefined:
    case 'none':
      return 'none';
    case 'setup':
    case 'active':
    case 'postcopy-active':
    case 'completed':
    case 'failed':
    case 'cancelling':
    case 'cancelled':
      return s;
    // Steps inside an ordinary pre-copy (unplugging failover devices, the final device-state pass).
    case 'wait-unplug':
    case 'pre-switchover':
    case 'device':
      return 'active';
    case 'postcopy-paused':
    case 'postcopy-recover':
    case 'colo':
      return 'other';
  }
}

/** The source's view: `query-migrate` of this migration plus its disk mirrors. */
export function sourceProgress(info: QmpMigrationInfo | undefined, jobs: readonly QmpBlockJobInfo[]): MigrationProgress {
  const ram = info?.ram;
  const pageSize = ram?.['page-size'] ?? 4096;
  return {
    status: migrationStatusKind(info?.status),
    transferredBytes: ram?.transferred ?? 0,
    remainingBytes: ram?.remaining ?? 0,
    totalBytes: ram?.total ?? 0,
    dirtyRateBytes: (ram?.['dirty-pages-rate'] ?? 0) * pageSize,
    passes: ram?.['dirty-sync-count'] ?? 0,
    mbps: ram?.mbps ?? 0,
    ...(info?.['total-time'] !== undefined ? { totalTimeMs: info['total-time'] } : {}),
    ...(info?.downtime !== undefined ? { downtimeMs: info.downtime } : {}),
    ...(info?.['expected-downtime'] !== undefined ? { expectedDowntimeMs: info['expected-downtime'] } : {}),
    ...(info?.['cpu-throttle-percentage'] !== undefined ? { cpuThrottlePercent: info['cpu-throttle-percentage'] } : {}),
    ...(info?.['error-desc'] !== undefined ? { error: info['error-desc'] } : {}),
    disks: diskMirrorProgress(jobs),
  };
}

/**
 * The destination's view. QEMU reports the incoming state only once the
 * stream began and says nothing of RAM there; the run state fills the gaps:
 * still `inmigrate` with no status means it waits for the source, `paused`
 * means it holds the whole state.
 */
export function destinationProgress(info: QmpMigrationInfo, runState: QmpRunState): MigrationProgress {
  let status = migrationStatusKind(info.status);
  if (status === 'none') status = runState === 'inmigrate' ? 'setup' : runState === 'paused' ? 'completed' : 'none';
  return {
    status,
    transferredBytes: 0,
    remainingBytes: 0,
    totalBytes: 0,
    dirtyRateBytes: 0,
    passes: 0,
    mbps: 0,
    ...(info['error-desc'] !== undefined ? { error: info['error-desc'] } : {}),
    disks: [],
  };
}
