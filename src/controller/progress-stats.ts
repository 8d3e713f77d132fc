import type { MigrationProgressReport } from '../contract/agent-api.js';
import type { JsonObject } from '../store/store-context.js';

/** What a migration record keeps of the last progress report: the figures and the convergence actions taken. */
export function progressStats(p: MigrationProgressReport, actions: readonly JsonObject[]): JsonObject {
  return {
    status: p.status,
    transferredBytes: p.transferredBytes,
    remainingBytes: p.remainingBytes,
    totalBytes: p.totalBytes,
    dirtyRateBytes: p.dirtyRateBytes,
    passes: p.passes,
    mbps: p.mbps,
    ...(p.downtimeMs !== undefined ? { downtimeMs: p.downtimeMs } : {}),
    ...(p.expectedDowntimeMs !== undefined ? { expectedDowntimeMs: p.expectedDowntimeMs } : {}),
    ...(p.cpuThrottlePercent !== undefined ? { cpuThrottlePercent: p.cpuThrottlePercent } : {}),
    convergence: [...actions],
  };
}
