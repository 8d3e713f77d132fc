import type { Logger } from 'pino';
import { linkBandwidth, type PastMigration } from '../core/migration/link-bandwidth.js';
import { predictMigration } from '../core/migration/predict-migration.js';
import { switchoverCost } from '../core/migration/switchover-cost.js';
import type { AgentClient } from '../client/agent-client.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { agentVmId } from './agent-vm-id.js';
import type { MigrationPlan } from './migration-service.js';

const MiB = 1024 * 1024;

export interface MigrationPlannerOptions {
  readonly store: Store;
  readonly agentFor: (h: Host) => AgentClient;
  readonly logger: Logger;
  /** Seconds QEMU samples guest pages for (1 s: the dry run and each queued request wait that long). */
  readonly dirtyRateCalcTimeS?: number | undefined;
}

/**
 * The planner's prediction for a migration about to be queued or started:
 * the guest's dirty rate measured now by its agent (QEMU's
 * `calc-dirty-rate`), its memory, and the link bandwidth from past
 * migrations (`linkBandwidth`) and the switch-over's fixed cost from their
 * reported downtimes (`switchoverCost`), through the pre-copy model of
 * `predictMigration`. Stored with the queue entry and shown next to the
 * actual figures once the migration ended.
 */
export class MigrationPlanner {
  constructor(private readonly o: MigrationPlannerOptions) {}

  async predict(plan: MigrationPlan, signal?: AbortSignal): Promise<JsonObject> {
    if (plan.kind === 'cold') return { kind: 'cold', note: 'not predicted: a cold migration copies files at rest, with no downtime' };
    const memoryBytes = plan.demand.memoryMiB * MiB;
    let dirtyBytesPerSec = 0;
    let dirtyRate: JsonObject;
    try {
      const r = await this.o.agentFor(plan.source).measureDirtyRate(agentVmId(plan.vm.id), this.o.dirtyRateCalcTimeS ?? 1, { signal });
      dirtyBytesPerSec = r.dirtyBytesPerSec;
      dirtyRate = { measured: true, mode: r.mode, calcTimeS: r.calcTimeS };
    } catch (err) {
      // An agent that cannot measure leaves the prediction to the idle guest's case, and says so.
      const why = err instanceof Error ? err.message : String(err);
      this.o.logger.warn({ vmId: plan.vm.id, err: why }, 'planner: could not measure the dirty rate');
      dirtyRate = { measured: false, reason: why };
    }
    const past = await this.#pastMigrations();
    const cap = plan.policy.maxBandwidthMiBps * MiB;
    const link = linkBandwidth(past, plan.source.id, plan.dest.id, cap);
    const switchover = switchoverCost(past.map((m) => ({ ...m, downtimeMs: m.downtimeMs ?? 0 })), plan.source.id, plan.dest.id);
    const p = predictMigration({ memoryBytes, dirtyBytesPerSec, bandwidthBytesPerSec: link.bytesPerSec, downtimeLimitMs: plan.policy.downtimeMs, switchoverMs: switchover.ms });
    return {
      kind: 'live', memoryBytes, dirtyBytesPerSec, dirtyRate, bandwidthBytesPerSec: Math.round(link.bytesPerSec), bandwidthBasis: link.basis, bandwidthSamples: link.samples,
      switchoverMs: Math.round(switchover.ms), switchoverBasis: switchover.basis, switchoverSamples: switchover.samples,
      downtimeLimitMs: plan.policy.downtimeMs, totalMs: Math.round(p.totalMs), downtimeMs: Math.round(p.downtimeMs * 10) / 10, passes: p.passes,
      transferredBytes: Math.round(p.transferredBytes), converges: p.converges,
    };
  }

  /** Finished live migrations, newest first, with the figures the bandwidth estimate reads. */
  async #pastMigrations(): Promise<PastMigration[]> {
    const done = await this.o.store.migrations.list({ state: 'succeeded' });
    return done
      .filter((m) => m.kind === 'live')
      .sort((a, b) => ((b.finishedAt ?? '') < (a.finishedAt ?? '') ? -1 : 1))
      .map((m) => ({
        sourceHostId: m.sourceHostId, destHostId: m.destHostId, transferredBytes: Number(m.stats.transferredBytes ?? 0), totalTimeMs: Number(m.stats.totalTimeMs ?? 0),
        ...(typeof m.stats.downtimeMs === 'number' ? { downtimeMs: m.stats.downtimeMs } : {}),
      }));
  }
}
