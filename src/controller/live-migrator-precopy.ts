import type { MigrationProgressReport } from '../contract/agent-api.js';
import { applyConvergenceStep, initialLevers, nextConvergenceStep, type ProgressSample } from '../core/migration/convergence-policy.js';
import type { MigrationPolicy } from '../core/migration/migration-policy.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { sleep } from '../util/deadline.js';
import type { Ends, LiveMigratorOptions } from './live-migrator-deps.js';
import { journalStage } from './live-migrator-stage.js';
import { MigrationStepError } from './migration-errors.js';
import { CancelRequest } from './migration-runs.js';
import { progressStats } from './progress-stats.js';

export type PrecopyEnd = MigrationProgressReport & { actions: JsonObject[] };

/**
 * Stage 2: follows the pre-copy on the source under the convergence policy
 * until QEMU says completed; returns that report with the policy's actions.
 * Throws MigrationStepError when QEMU failed it, CancelRequest when the
 * policy gave up.
 */
export async function watchPrecopy(o: LiveMigratorOptions, e: Ends, m0: MigrationRecord, policy: MigrationPolicy, signal: AbortSignal): Promise<PrecopyEnd> {
  const every = o.pollIntervalMs ?? 100;
  let m = m0;
  const samples: ProgressSample[] = [];
  let applied = initialLevers(policy);
  let lastDirtyRate = 0;
  const actions: JsonObject[] = [];
  let lastWrite = 0;
  for (;;) {
    const asked = Date.now();
    // A long poll: the source's agent answers the moment the migration ends (QEMU's MIGRATION event), else after `every`.
    const p = await e.src.migrationStatus(e.id, { signal, waitMs: every });
    if (p.status === 'completed') {
      // The final figures (QEMU fills in downtime a moment after it says completed) are read and recorded after the
      // switch, not here (see finalFigures).
      // QEMU 7.2 recomputes the dirty rate at most once a second and says 0 at completion: keep the last measured one.
      return { ...(p.dirtyRateBytes > 0 ? p : { ...p, dirtyRateBytes: lastDirtyRate }), actions };
    }
    if (p.dirtyRateBytes > 0) lastDirtyRate = p.dirtyRateBytes;
    if (p.status === 'failed' || p.status === 'cancelled' || p.status === 'cancelling') {
      throw new MigrationStepError(m.id, `QEMU reports the migration ${p.status}${p.error ? `: ${p.error}` : ''}`);
    }
    const now = Date.now();
    if (p.status === 'active' || p.status === 'postcopy-active') {
      samples.push({
        atMs: now, remainingBytes: p.remainingBytes, dirtyRateBytes: p.dirtyRateBytes, bandwidthBytesPerS: (p.mbps * 1e6) / 8, passes: p.passes,
        ...(p.expectedDowntimeMs !== undefined ? { expectedDowntimeMs: p.expectedDowntimeMs } : {}),
        ...(p.cpuThrottlePercent !== undefined ? { cpuThrottlePercent: p.cpuThrottlePercent } : {}),
      });
      const step = nextConvergenceStep(policy, samples, applied, { nowMs: now, startedAtMs: Date.parse(m.startedAt), postcopySupported: o.postcopySupported ?? false });
      if (step.kind !== 'none') {
        actions.push({ at: new Date(now).toISOString(), kind: step.kind, reason: step.reason });
        o.logger.info({ migrationId: m.id, step }, 'convergence policy');
        switch (step.kind) {
          case 'raise-downtime':
            await e.src.tuneMigration(e.id, { downtimeLimitMs: step.downtimeLimitMs }, { signal });
            break;
          case 'throttle':
            await e.src.tuneMigration(e.id, { cpuThrottlePercent: step.cpuThrottlePercent }, { signal });
            break;
          case 'postcopy':
            // Journalled first: from the switch on the destination is the VM, and a restart must know it.
            m = await journalStage(o, m, 'postcopy', { reason: step.reason });
            await e.src.tuneMigration(e.id, { startPostcopy: true }, { signal });
            break;
          case 'abort':
            await o.store.migrations.updateProgress(m.id, progressStats(p, actions));
            throw new CancelRequest(`the convergence policy gave up: ${step.reason}`);
        }
        applied = applyConvergenceStep(applied, step, p.passes);
        await o.store.migrations.updateProgress(m.id, progressStats(p, actions));
        lastWrite = now;
      }
    }
    if (now - lastWrite >= 500) {
      lastWrite = now;
      await o.store.migrations.updateProgress(m.id, progressStats(p, actions));
    }
    // The agent waited already (unless the migration was not in flight yet, or it is an agent that does not wait): keep the cadence.
    const left = every - (Date.now() - asked);
    if (left > 0) await sleep(left, signal);
  }
}
