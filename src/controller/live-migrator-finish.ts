import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { JsonObject } from '../store/store-context.js';
import type { Ends, LiveMigratorOptions } from './live-migrator-deps.js';
import { journalStage } from './live-migrator-stage.js';
import { carryConsoleLog } from './carry-console-log.js';

/** After activation: the console log is carried over (best effort), then the source's copy goes; if its agent is away, its heartbeat cleanup does it later. */
export async function finishForward(o: LiveMigratorOptions, e: Ends, m: MigrationRecord, stats: JsonObject, reason?: string): Promise<void> {
  let cleaned = true;
  await carryConsoleLog(e, o.logger, m.id, o.failpoints);
  try {
    await e.src.release(e.id, { timeoutMs: 60_000 });
  } catch (err) {
    cleaned = false;
    o.logger.warn({ migrationId: m.id, err }, 'source copy not released yet; the host monitor releases it when the agent answers');
  }
  if (cleaned) m = await journalStage(o, m, 'cleaned');
  await o.store.migrations.finish(m.id, { state: 'succeeded', stats: { ...stats, sourceReleased: cleaned }, ...(reason !== undefined ? { reason } : {}) });
  o.logger.info({ migrationId: m.id, vmId: m.vmId, ...stats }, 'migration succeeded');
}
